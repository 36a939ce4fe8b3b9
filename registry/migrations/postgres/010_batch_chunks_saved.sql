-- The chunk tasks of a job whose predictions are saved, by their first item:
-- a chunk run twice (taken back by a replica that restarted under the name
-- of one still running it, or rescued from a slow replica) is counted once.
CREATE TABLE batch_chunks_saved (
    job_id     TEXT    NOT NULL,
    first_item INTEGER NOT NULL,
    PRIMARY KEY (job_id, first_item)
);
