-- Citizens' accounts: a member of the public signs in to see who accessed their data; the
-- account is bound to their citizen ID.
ALTER TABLE users ADD COLUMN subject_id TEXT;
