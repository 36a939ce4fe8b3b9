-- Keys the servers sharing this database sign with (prediction ids), made
-- once by whichever replica needs one first.
CREATE TABLE server_keys (
    name       TEXT   PRIMARY KEY,
    secret     BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

-- The true tag of a prediction, sent back by a client: one row per
-- prediction id, the first feedback wins. predicted_tag and predicted_at
-- come from the id.
CREATE TABLE feedback (
    prediction_id TEXT    PRIMARY KEY,
    model         TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    predicted_tag TEXT    NOT NULL,
    tag           TEXT    NOT NULL,
    predicted_at  BIGINT  NOT NULL,
    received_at   BIGINT  NOT NULL
);

CREATE INDEX feedback_version ON feedback (model, version, predicted_at);
