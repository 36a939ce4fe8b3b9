-- Batch serving: jobs, their input items (kept so that a job survives a
-- restart), and predictions stored for later lookup, one per model version
-- and item id.
-- The PostgreSQL port of sqlite/002_batch.sql: same tables, columns and
-- constraints, so that the same queries run on both.
CREATE TABLE batch_jobs (
    id          TEXT    PRIMARY KEY,
    model       TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    total       INTEGER NOT NULL,
    done        INTEGER NOT NULL DEFAULT 0,
    failed      INTEGER NOT NULL DEFAULT 0,
    error       TEXT    NOT NULL DEFAULT '',
    created_by  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    started_at  BIGINT,
    finished_at BIGINT
);

CREATE INDEX batch_jobs_unfinished ON batch_jobs (status) WHERE status IN ('queued', 'running');

CREATE TABLE batch_items (
    job_id  TEXT    NOT NULL REFERENCES batch_jobs (id),
    idx     INTEGER NOT NULL,
    item_id TEXT    NOT NULL,
    text    TEXT    NOT NULL,
    PRIMARY KEY (job_id, idx)
);

CREATE TABLE predictions (
    model         TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    item_id       TEXT    NOT NULL,
    text_sha256   TEXT    NOT NULL,
    tag           TEXT    NOT NULL,
    probabilities TEXT    NOT NULL, -- JSON object: class -> probability
    created_at    BIGINT  NOT NULL,
    PRIMARY KEY (model, version, item_id)
);

CREATE INDEX predictions_item ON predictions (item_id);
