-- Which replica runs a batch job, and until when its claim holds without a
-- word from it: replicas sharing the database run each job once, and take
-- over the jobs of a replica that stopped.
ALTER TABLE batch_jobs ADD COLUMN owner TEXT NOT NULL DEFAULT '';
ALTER TABLE batch_jobs ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
