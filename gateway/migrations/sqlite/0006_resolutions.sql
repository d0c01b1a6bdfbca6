-- Once-only materials resolutions: one row per resolution with its signed evidence, and one
-- row per material with its outcome, which the "materials reduced" statistics count.
CREATE TABLE resolutions (
    id              TEXT PRIMARY KEY,
    matter          TEXT NOT NULL,
    department_code TEXT NOT NULL REFERENCES departments(code),
    case_id         TEXT NOT NULL,
    audit_id        TEXT NOT NULL,
    at_ms           BIGINT NOT NULL,
    supplied        BIGINT NOT NULL,
    must_submit     BIGINT NOT NULL,
    evidence        TEXT NOT NULL
);
CREATE INDEX resolutions_matter_at ON resolutions(matter, at_ms);

CREATE TABLE resolution_materials (
    resolution_id   TEXT NOT NULL REFERENCES resolutions(id),
    material        TEXT NOT NULL,
    outcome         TEXT NOT NULL,
    reason          TEXT,
    PRIMARY KEY (resolution_id, material)
);
