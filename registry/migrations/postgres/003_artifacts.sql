-- The bytes of each version's artifact, so that every replica sharing the
-- database can load any version; the files under the data directory are a
-- local copy.
CREATE TABLE artifacts (
    model   TEXT    NOT NULL,
    version INTEGER NOT NULL,
    data    BYTEA   NOT NULL,
    PRIMARY KEY (model, version)
);
