-- Models, their versions and the serving pointer; users and their key hashes.
-- Times are Unix nanoseconds (BIGINT), the same in SQLite and PostgreSQL.
-- The PostgreSQL port of sqlite/001_registry.sql: same tables, columns and
-- constraints, so that the same queries run on both.
CREATE TABLE models (
    name            TEXT PRIMARY KEY,
    serving_version INTEGER,
    created_at      BIGINT NOT NULL
);

CREATE TABLE versions (
    model       TEXT    NOT NULL REFERENCES models (name),
    version     INTEGER NOT NULL,
    checksum    TEXT    NOT NULL,
    size        BIGINT  NOT NULL,
    run_id      TEXT    NOT NULL,
    classes     TEXT    NOT NULL, -- JSON array of class names
    args        TEXT    NOT NULL, -- JSON object
    performance TEXT    NOT NULL, -- JSON object
    created_at  BIGINT  NOT NULL,
    uploaded_by TEXT    NOT NULL,
    PRIMARY KEY (model, version)
);

CREATE TABLE users (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT   NOT NULL,
    role       TEXT   NOT NULL CHECK (role IN ('admin', 'predictor', 'viewer')),
    key_hash   TEXT   NOT NULL UNIQUE,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);

-- One active user per name; revoked users keep their rows for the record.
CREATE UNIQUE INDEX users_active_name ON users (name) WHERE revoked_at IS NULL;
