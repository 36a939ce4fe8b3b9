-- A canary's guard judges the candidate's live F1: the least F1 (NULL: not
-- judged) and how many feedback labels must have come back first.
ALTER TABLE rollouts ADD COLUMN min_live_f1 DOUBLE PRECISION;
ALTER TABLE rollouts ADD COLUMN min_labels INTEGER NOT NULL DEFAULT 50;
