-- Batch jobs are listed newest first (GET /batch-jobs).
CREATE INDEX batch_jobs_created ON batch_jobs (created_at, id);
