-- Replicas sharing one store keep some state in memory (status lists and licence keys).
-- Every change to that state bumps its domain's generation in the same transaction, so a
-- replica knows, with one primary-key read, whether what it holds is still current.
CREATE TABLE replica_generations (
    domain     TEXT PRIMARY KEY,
    generation BIGINT NOT NULL
);
INSERT INTO replica_generations (domain, generation) VALUES ('licences', 0);
