-- The audit trail of management actions, each written in the transaction of
-- the action it records; the revision of each model, which every change of
-- the model, its versions, its serving version or its rollout moves on (the
-- ETag of the API); and each model's rollout, the running one or the last.
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY,
    at         BIGINT NOT NULL,
    actor      TEXT   NOT NULL,
    action     TEXT   NOT NULL,
    resource   TEXT   NOT NULL,
    from_value TEXT   NOT NULL,
    to_value   TEXT   NOT NULL,
    request_id TEXT   NOT NULL
);
CREATE INDEX audit_events_actor ON audit_events (actor, id);
CREATE INDEX audit_events_resource ON audit_events (resource, id);

ALTER TABLE models ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;

CREATE TABLE rollouts (
    model         TEXT             PRIMARY KEY REFERENCES models (name),
    candidate     INTEGER          NOT NULL,
    mode          TEXT             NOT NULL CHECK (mode IN ('shadow', 'canary')),
    percent       DOUBLE PRECISION NOT NULL,
    min_agreement DOUBLE PRECISION, -- NULL: no guard
    min_samples   INTEGER          NOT NULL,
    status        TEXT             NOT NULL CHECK (status IN ('active', 'aborted', 'promoted')),
    reason        TEXT             NOT NULL,
    started_by    TEXT             NOT NULL,
    started_at    BIGINT           NOT NULL,
    updated_at    BIGINT           NOT NULL,
    ended_at      BIGINT
);
