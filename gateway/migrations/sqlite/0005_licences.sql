-- E-licences: issuer keys (and the trust-list anchor), status lists, the registry.

-- Signing keys of issuing departments, and the data bureau's anchor key that signs the
-- trust list. The private JWK never leaves the hub.
CREATE TABLE licence_keys (
    kid             TEXT PRIMARY KEY,
    department_code TEXT NOT NULL REFERENCES departments(code),
    alg             TEXT NOT NULL,
    private_jwk     TEXT NOT NULL,
    licence_types   TEXT NOT NULL,
    anchor          BIGINT NOT NULL DEFAULT 0,
    issue_from      BIGINT NOT NULL,
    issue_until     BIGINT
);
CREATE INDEX licence_keys_department ON licence_keys(department_code);

-- One IETF Token Status List per issuer and list number; entries are reserved in order.
CREATE TABLE licence_status_lists (
    department_code TEXT NOT NULL REFERENCES departments(code),
    list_no         BIGINT NOT NULL,
    capacity        BIGINT NOT NULL,
    next_idx        BIGINT NOT NULL,
    bits            TEXT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (department_code, list_no)
);

CREATE TABLE licences (
    id              TEXT PRIMARY KEY,
    licence_type    TEXT NOT NULL,
    issuer_code     TEXT NOT NULL REFERENCES departments(code),
    holder_kind     TEXT NOT NULL,
    holder_id       TEXT NOT NULL,
    list_no         BIGINT NOT NULL,
    status_idx      BIGINT NOT NULL,
    kid             TEXT NOT NULL,
    token           TEXT NOT NULL,
    issued_at       BIGINT NOT NULL,
    expires_at      BIGINT,
    status          TEXT NOT NULL,
    status_reason   TEXT,
    status_changed_at BIGINT,
    UNIQUE (issuer_code, list_no, status_idx)
);
CREATE INDEX licences_holder ON licences(holder_kind, holder_id);
