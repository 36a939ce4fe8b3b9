-- Batch jobs run on River: each job is split into chunk tasks (River jobs)
-- that any replica's workers take, so claims and leases are River's and the
-- columns that held them go. A job is received in several bounded
-- transactions and becomes visible (received = 1) in the last one, with its
-- chunk tasks. An Idempotency-Key names one job per user; request_sha256
-- tells a retry of the same request from another request under the same key.
-- Jobs left unfinished by the runner this replaces have no chunk tasks yet
-- (chunked = 0): the first replica to start enqueues them.
ALTER TABLE batch_jobs DROP COLUMN owner;
ALTER TABLE batch_jobs DROP COLUMN lease_until;
ALTER TABLE batch_jobs ADD COLUMN received INTEGER NOT NULL DEFAULT 1;
ALTER TABLE batch_jobs ADD COLUMN chunked INTEGER NOT NULL DEFAULT 0;
UPDATE batch_jobs SET chunked = 1 WHERE status NOT IN ('queued', 'running');
ALTER TABLE batch_jobs ADD COLUMN idempotency_key TEXT;
ALTER TABLE batch_jobs ADD COLUMN request_sha256 TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX batch_jobs_idempotency ON batch_jobs (created_by, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- How many of a job's items each replica predicted.
CREATE TABLE batch_job_replicas (
    job_id  TEXT    NOT NULL,
    replica TEXT    NOT NULL,
    items   INTEGER NOT NULL,
    PRIMARY KEY (job_id, replica)
);

-- A job's items are kept itemsPerRow to a row, as a JSON array of
-- [id, text] pairs: a 100,000-item job is stored in a fraction of a second.
CREATE TABLE batch_chunks (
    job_id TEXT    NOT NULL,
    idx    INTEGER NOT NULL, -- the index of the row's first item in the job
    n      INTEGER NOT NULL,
    items  TEXT    NOT NULL,
    PRIMARY KEY (job_id, idx)
);
INSERT INTO batch_chunks (job_id, idx, n, items)
    SELECT job_id, (idx / 1000) * 1000, COUNT(*), json_agg(json_build_array(item_id, text) ORDER BY idx)::text
    FROM batch_items
    GROUP BY job_id, idx / 1000;
DROP TABLE batch_items;
