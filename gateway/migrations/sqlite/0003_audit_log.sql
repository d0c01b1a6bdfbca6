-- The tamper-evident audit log. Every entry is a leaf of an RFC 6962 Merkle tree: `idx` is
-- its leaf index (from 0, assigned by the one sequencer), `leaf_hash` its leaf hash, and
-- `entry` its canonical JSON. Signed tree heads commit to the tree at given sizes.
--
-- The unchained table of the first release is replaced; its entries predate the log.
DROP TRIGGER IF EXISTS audit_entries_no_update;
DROP TRIGGER IF EXISTS audit_entries_no_delete;
DROP TABLE IF EXISTS audit_entries;

CREATE TABLE audit_log (
    idx             BIGINT PRIMARY KEY,
    leaf_hash       TEXT NOT NULL,
    request_id      TEXT NOT NULL UNIQUE,
    at              BIGINT NOT NULL,
    department      TEXT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    matter          TEXT,
    flags           TEXT,
    disclose_after  BIGINT,
    entry           TEXT
);
CREATE INDEX audit_log_department ON audit_log(department, at);
CREATE INDEX audit_log_action ON audit_log(action, at);
CREATE INDEX audit_log_matter ON audit_log(matter, at);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_flagged ON audit_log(idx) WHERE flags IS NOT NULL;

-- Keyed hashes of the data subjects (citizen IDs, USCCs) an entry's result contained.
CREATE TABLE audit_subjects (
    subject         TEXT NOT NULL,
    idx             BIGINT NOT NULL REFERENCES audit_log(idx),
    PRIMARY KEY (subject, idx)
);

CREATE TABLE audit_tree_heads (
    tree_size       BIGINT PRIMARY KEY,
    root_hash       TEXT NOT NULL,
    timestamp       BIGINT NOT NULL,
    key_id          TEXT NOT NULL,
    signature       TEXT NOT NULL
);

-- Entries below `purged_before` have had their bodies removed under the retention
-- policy; their leaf hashes stay, so the tree remains verifiable. It only ever grows.
CREATE TABLE audit_retention (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    purged_before   BIGINT NOT NULL
);
INSERT INTO audit_retention (id, purged_before) VALUES (1, 0);

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
-- The one change allowed: removing the body of an entry below the retention horizon.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
WHEN NOT (
    NEW.entry IS NULL
    AND OLD.idx < (SELECT purged_before FROM audit_retention WHERE id = 1)
    AND NEW.idx = OLD.idx AND NEW.leaf_hash = OLD.leaf_hash
    AND NEW.request_id = OLD.request_id AND NEW.at = OLD.at
)
BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END;
CREATE TRIGGER audit_subjects_no_update BEFORE UPDATE ON audit_subjects
BEGIN SELECT RAISE(ABORT, 'audit subjects are append-only'); END;
CREATE TRIGGER audit_subjects_no_delete BEFORE DELETE ON audit_subjects
BEGIN SELECT RAISE(ABORT, 'audit subjects are append-only'); END;
CREATE TRIGGER audit_tree_heads_no_update BEFORE UPDATE ON audit_tree_heads
BEGIN SELECT RAISE(ABORT, 'tree heads are append-only'); END;
CREATE TRIGGER audit_tree_heads_no_delete BEFORE DELETE ON audit_tree_heads
BEGIN SELECT RAISE(ABORT, 'tree heads are append-only'); END;
CREATE TRIGGER audit_retention_only_grows BEFORE UPDATE ON audit_retention
WHEN NEW.purged_before < OLD.purged_before
BEGIN SELECT RAISE(ABORT, 'the retention horizon only moves forward'); END;
CREATE TRIGGER audit_retention_no_delete BEFORE DELETE ON audit_retention
BEGIN SELECT RAISE(ABORT, 'the retention horizon cannot be removed'); END;
