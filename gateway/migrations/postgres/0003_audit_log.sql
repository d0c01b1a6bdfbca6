-- The tamper-evident audit log. Every entry is a leaf of an RFC 6962 Merkle tree: `idx` is
-- its leaf index (from 0, assigned by the one sequencer), `leaf_hash` its leaf hash, and
-- `entry` its canonical JSON. Signed tree heads commit to the tree at given sizes.
--
-- The unchained table of the first release is replaced; its entries predate the log.
DROP TABLE IF EXISTS audit_entries;
DROP FUNCTION IF EXISTS audit_entries_append_only();

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

CREATE TABLE audit_retention (
    id              INTEGER PRIMARY KEY CHECK (id = 1),
    purged_before   BIGINT NOT NULL
);
INSERT INTO audit_retention (id, purged_before) VALUES (1, 0);

CREATE FUNCTION audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE FUNCTION audit_log_purge_only() RETURNS trigger AS $$
BEGIN
    IF NEW.entry IS NULL
       AND OLD.idx < (SELECT purged_before FROM audit_retention WHERE id = 1)
       AND NEW.idx = OLD.idx AND NEW.leaf_hash = OLD.leaf_hash
       AND NEW.request_id = OLD.request_id AND NEW.at = OLD.at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit entries are append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_purge_only();
CREATE TRIGGER audit_subjects_no_change BEFORE UPDATE OR DELETE ON audit_subjects
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE TRIGGER audit_tree_heads_no_change BEFORE UPDATE OR DELETE ON audit_tree_heads
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
CREATE FUNCTION audit_retention_forward() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.purged_before < OLD.purged_before THEN
        RAISE EXCEPTION 'the retention horizon only moves forward';
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_retention_no_change BEFORE UPDATE OR DELETE ON audit_retention
    FOR EACH ROW EXECUTE FUNCTION audit_retention_forward();
