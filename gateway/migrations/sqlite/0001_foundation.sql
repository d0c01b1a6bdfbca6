-- Departments, people, sessions, client certificates, catalogue resources and snapshots.
-- Times are Unix milliseconds (UTC); flags are 0 or 1; lists of roles are comma-separated
-- role names. Both back ends share one set of queries, so types stay to BIGINT and TEXT.

CREATE TABLE departments (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    uscc        TEXT NOT NULL UNIQUE,
    roles       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    username        TEXT NOT NULL UNIQUE,
    display_name    TEXT NOT NULL,
    department_code TEXT NOT NULL REFERENCES departments(code),
    roles           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    disabled        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);

CREATE TABLE sessions (
    token_hash  TEXT PRIMARY KEY,
    user_id     BIGINT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_user ON sessions(user_id);

CREATE TABLE client_certificates (
    fingerprint     TEXT PRIMARY KEY,
    department_code TEXT NOT NULL REFERENCES departments(code),
    subject         TEXT NOT NULL,
    not_after       BIGINT NOT NULL,
    revoked         BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL
);

CREATE TABLE resources (
    code            TEXT PRIMARY KEY,
    base_library    TEXT NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    provider_code   TEXT NOT NULL REFERENCES departments(code),
    definition      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);

CREATE TABLE snapshots (
    resource_code   TEXT NOT NULL REFERENCES resources(code),
    version         BIGINT NOT NULL,
    path            TEXT NOT NULL,
    files           TEXT NOT NULL,
    row_count       BIGINT NOT NULL,
    byte_size       BIGINT NOT NULL,
    sha256          TEXT NOT NULL,
    published_at    BIGINT NOT NULL,
    published_by    TEXT NOT NULL,
    PRIMARY KEY (resource_code, version)
);
