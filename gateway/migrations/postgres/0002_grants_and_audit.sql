-- Grants, grant requests and the audit entries every data access writes.

CREATE TABLE grants (
    id              BIGSERIAL PRIMARY KEY,
    consumer_code   TEXT NOT NULL REFERENCES departments(code),
    resource_code   TEXT NOT NULL REFERENCES resources(code),
    definition      TEXT NOT NULL,
    request_id      BIGINT,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    revoked_at      BIGINT,
    revoked_by      TEXT
);
CREATE INDEX grants_consumer ON grants(consumer_code);

CREATE TABLE grant_requests (
    id              BIGSERIAL PRIMARY KEY,
    consumer_code   TEXT NOT NULL REFERENCES departments(code),
    resource_code   TEXT NOT NULL REFERENCES resources(code),
    body            TEXT NOT NULL,
    status          TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL,
    decided_at      BIGINT,
    decided_by      TEXT,
    decision_note   TEXT
);

-- One row per request that touched data, a licence, a grant or a user; append-only.
CREATE TABLE audit_entries (
    seq             BIGSERIAL PRIMARY KEY,
    request_id      TEXT NOT NULL UNIQUE,
    at              BIGINT NOT NULL,
    department      TEXT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    matter          TEXT,
    entry           TEXT NOT NULL
);
CREATE INDEX audit_department ON audit_entries(department, at);
CREATE INDEX audit_action ON audit_entries(action, at);

CREATE FUNCTION audit_entries_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit entries are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_entries_no_change BEFORE UPDATE OR DELETE ON audit_entries
    FOR EACH ROW EXECUTE FUNCTION audit_entries_append_only();
