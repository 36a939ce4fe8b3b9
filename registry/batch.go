package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Job statuses.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// Job is a batch of items predicted in the background.
type Job struct {
	ID         string
	Model      string
	Version    int
	Status     string
	Total      int
	Done       int // items handled, in order: those before Done are stored
	Failed     int
	Error      string
	CreatedBy  string
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	// Owner is the replica that claimed the job, "" for none; its claim
	// holds until LeaseUntil unless it renews it.
	Owner      string
	LeaseUntil time.Time
}

// Claimable reports whether a replica called owner may run j at now: j is
// unfinished and nobody else holds a claim on it that is still good.
func (j Job) Claimable(owner string, now time.Time) bool {
	if j.Status != JobQueued && j.Status != JobRunning {
		return false
	}
	return j.Owner == "" || j.Owner == owner || !now.Before(j.LeaseUntil)
}

// Item is one input of a batch.
type Item struct {
	ID   string
	Text string
}

// StoredPrediction is a prediction kept for lookup by item id.
type StoredPrediction struct {
	Model         string
	Version       int
	ItemID        string
	TextSHA256    string
	Tag           string
	Probabilities map[string]float64
	CreatedAt     time.Time
}

// BatchStore keeps batch jobs and stored predictions. SQLStore implements it.
type BatchStore interface {
	// CreateJob records a job and its items.
	CreateJob(ctx context.Context, j Job, items []Item) error
	// Job returns a job; ENOTFOUND when there is none.
	Job(ctx context.Context, id string) (Job, error)
	// UnfinishedJobs lists the queued and running jobs, oldest first.
	UnfinishedJobs(ctx context.Context) ([]Job, error)
	// Jobs lists up to limit jobs, newest first, from the one after
	// (JobKey{}, with no ID, for the newest), only those with status unless
	// it is "".
	Jobs(ctx context.Context, status string, after JobKey, limit int) ([]Job, error)
	// DeleteJob deletes a job and its items, whatever its status, and
	// returns it as it was; the predictions it stored stay. ENOTFOUND when
	// there is none. A runner working on it stops at its next chunk.
	DeleteJob(ctx context.Context, id string) (Job, error)
	// JobItems returns up to limit items of a job from index from on.
	JobItems(ctx context.Context, id string, from, limit int) ([]Item, error)
	// ClaimJob marks a job running for the replica owner until leaseUntil
	// and returns it; ECONFLICT when another replica's claim holds, and the
	// job unchanged when it is finished.
	ClaimJob(ctx context.Context, id, owner string, at, leaseUntil time.Time) (Job, error)
	// SaveChunk stores a chunk's predictions (keeping any already stored
	// for the same model, version and item), moves the job's counts
	// forward and renews owner's claim until leaseUntil, in one
	// transaction: a crash leaves either all or nothing. ECONFLICT, and
	// nothing stored, when owner's claim was lost or the job's progress is
	// not where the chunk starts (another runner stored it first).
	SaveChunk(ctx context.Context, id, owner string, leaseUntil time.Time, c Chunk) error
	// ReleaseJob gives up owner's claim on an unfinished job, so that any
	// replica may take it at once.
	ReleaseJob(ctx context.Context, id, owner string) error
	// FinishJob marks a job succeeded, or failed with reason; ECONFLICT
	// when owner's claim was lost.
	FinishJob(ctx context.Context, id, owner, status, reason string, at time.Time) error
	// SavePredictions stores predictions, keeping any already stored, and
	// returns how many it added.
	SavePredictions(ctx context.Context, preds []StoredPrediction) (int, error)
	// Prediction returns the prediction of item by model's version;
	// ENOTFOUND when there is none.
	Prediction(ctx context.Context, model string, version int, item string) (StoredPrediction, error)
	// VersionPredictions returns up to limit stored predictions of model's
	// version whose item ids sort after after, in item id order.
	VersionPredictions(ctx context.Context, model string, version int, after string, limit int) ([]StoredPrediction, error)
	// PredictionVersions lists the versions of model with a prediction for item.
	PredictionVersions(ctx context.Context, model, item string) ([]int, error)
	// JobPredictions returns up to limit stored predictions of a job's items
	// from index from on, in item order, and the index to continue from (0
	// when there are no more).
	JobPredictions(ctx context.Context, id string, from, limit int) ([]StoredPrediction, int, error)
}

var _ BatchStore = (*SQLStore)(nil)

// CreateJob implements BatchStore.
func (s *SQLStore) CreateJob(ctx context.Context, j Job, items []Item) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO batch_jobs (id, model, version, status, total, created_by, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, j.ID, j.Model, j.Version, j.Status, j.Total, j.CreatedBy, j.CreatedAt.UnixNano())
		if err != nil {
			return fmt.Errorf("registry: create job: %w", err)
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO batch_items (job_id, idx, item_id, text) VALUES ($1, $2, $3, $4)`)
		if err != nil {
			return fmt.Errorf("registry: create job: %w", err)
		}
		defer stmt.Close()
		for i, it := range items {
			if _, err := stmt.ExecContext(ctx, j.ID, i, it.ID, it.Text); err != nil {
				return fmt.Errorf("registry: create job item %d: %w", i, err)
			}
		}
		return s.audit(ctx, tx, ActionBatchJobCreate, JobResource(j.ID), "", fmt.Sprintf("%s version %d, %d items", j.Model, j.Version, j.Total))
	})
}

const jobColumns = `id, model, version, status, total, done, failed, error, created_by, created_at, started_at, finished_at, owner, lease_until`

func scanJob(row interface{ Scan(...any) error }) (Job, error) {
	var j Job
	var created int64
	var started, finished sql.NullInt64
	var lease int64
	if err := row.Scan(&j.ID, &j.Model, &j.Version, &j.Status, &j.Total, &j.Done, &j.Failed, &j.Error, &j.CreatedBy,
		&created, &started, &finished, &j.Owner, &lease); err != nil {
		return Job{}, err
	}
	j.CreatedAt = time.Unix(0, created).UTC()
	if lease != 0 {
		j.LeaseUntil = time.Unix(0, lease).UTC()
	}
	if started.Valid {
		t := time.Unix(0, started.Int64).UTC()
		j.StartedAt = &t
	}
	if finished.Valid {
		t := time.Unix(0, finished.Int64).UTC()
		j.FinishedAt = &t
	}
	return j, nil
}

// Job implements BatchStore.
func (s *SQLStore) Job(ctx context.Context, id string) (Job, error) {
	return readJob(ctx, s.db, id, "get job")
}

// readJob reads job id through q (the database, or a transaction); what
// names the caller in errors. ENOTFOUND when there is none.
func readJob(ctx context.Context, q interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}, id, what string) (Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM batch_jobs WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, Errorf(ENOTFOUND, "no batch job %q", id)
	}
	if err != nil {
		return Job{}, fmt.Errorf("registry: %s: %w", what, err)
	}
	return j, nil
}

// UnfinishedJobs implements BatchStore.
func (s *SQLStore) UnfinishedJobs(ctx context.Context) ([]Job, error) {
	return s.queryJobs(ctx, "unfinished jobs", `SELECT `+jobColumns+` FROM batch_jobs WHERE status IN ('queued', 'running') ORDER BY created_at, id`)
}

// queryJobs runs query, which selects jobColumns, and returns its jobs;
// what names the query in errors.
func (s *SQLStore) queryJobs(ctx context.Context, what, query string, args ...any) ([]Job, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", what, err)
	}
	defer rows.Close()
	var out []Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("registry: %s: %w", what, err)
		}
		out = append(out, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registry: %s: %w", what, err)
	}
	return out, nil
}

// JobKey is a job's place in the listing of jobs, newest first: by
// creation time, then by id.
type JobKey struct {
	CreatedAt time.Time
	ID        string
}

// Key returns j's place in the listing of jobs.
func (j Job) Key() JobKey { return JobKey{CreatedAt: j.CreatedAt, ID: j.ID} }

// Jobs implements BatchStore.
func (s *SQLStore) Jobs(ctx context.Context, status string, after JobKey, limit int) ([]Job, error) {
	before, id := int64(math.MaxInt64), ""
	if after.ID != "" {
		before, id = after.CreatedAt.UnixNano(), after.ID
	}
	return s.queryJobs(ctx, "list jobs", `SELECT `+jobColumns+` FROM batch_jobs
		WHERE ($1 = '' OR status = $1) AND (created_at < $2 OR (created_at = $2 AND id < $3))
		ORDER BY created_at DESC, id DESC LIMIT $4`, status, before, id, limit)
}

// DeleteJob implements BatchStore.
func (s *SQLStore) DeleteJob(ctx context.Context, id string) (Job, error) {
	var j Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if j, err = readJob(ctx, tx, id, "delete job"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM batch_items WHERE job_id = $1`, id); err != nil {
			return fmt.Errorf("registry: delete job: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM batch_jobs WHERE id = $1`, id); err != nil {
			return fmt.Errorf("registry: delete job: %w", err)
		}
		return s.audit(ctx, tx, ActionBatchJobCancel, JobResource(id), j.Status, "deleted")
	})
	return j, err
}

// JobItems implements BatchStore.
func (s *SQLStore) JobItems(ctx context.Context, id string, from, limit int) ([]Item, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT item_id, text FROM batch_items WHERE job_id = $1 AND idx >= $2 ORDER BY idx LIMIT $3`, id, from, limit)
	if err != nil {
		return nil, fmt.Errorf("registry: job items: %w", err)
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		var it Item
		if err := rows.Scan(&it.ID, &it.Text); err != nil {
			return nil, fmt.Errorf("registry: job items: %w", err)
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// ClaimJob implements BatchStore.
func (s *SQLStore) ClaimJob(ctx context.Context, id, owner string, at, leaseUntil time.Time) (Job, error) {
	var j Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if j, err = readJob(ctx, tx, id, "claim job"); err != nil {
			return err
		}
		if j.Status == JobSucceeded || j.Status == JobFailed {
			return nil
		}
		if !j.Claimable(owner, at) {
			return Errorf(ECONFLICT, "batch job %s is claimed by %s until %s", id, j.Owner, j.LeaseUntil.Format(time.RFC3339Nano))
		}
		if _, err := tx.ExecContext(ctx, `UPDATE batch_jobs SET status = 'running', started_at = COALESCE(started_at, $1), owner = $2, lease_until = $3 WHERE id = $4`,
			at.UnixNano(), owner, leaseUntil.UnixNano(), id); err != nil {
			return fmt.Errorf("registry: claim job: %w", err)
		}
		j, err = readJob(ctx, tx, id, "claim job")
		return err
	})
	return j, err
}

// holdsJob checks, within tx, that owner holds the claim on job id, and
// returns how many of its items are done.
func holdsJob(ctx context.Context, tx *sql.Tx, id, owner string) (done int, err error) {
	var held string
	err = tx.QueryRowContext(ctx, `SELECT owner, done FROM batch_jobs WHERE id = $1`, id).Scan(&held, &done)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, Errorf(ENOTFOUND, "no batch job %q", id)
	}
	if err != nil {
		return 0, err
	}
	if held != owner {
		return 0, Errorf(ECONFLICT, "batch job %s is claimed by %q, not %q", id, held, owner)
	}
	return done, nil
}

// ReleaseJob implements BatchStore.
func (s *SQLStore) ReleaseJob(ctx context.Context, id, owner string) error {
	_, err := s.db.ExecContext(ctx, `UPDATE batch_jobs SET owner = '', lease_until = 0
		WHERE id = $1 AND owner = $2 AND status IN ('queued', 'running')`, id, owner)
	if err != nil {
		return fmt.Errorf("registry: release job: %w", err)
	}
	return nil
}

// insertRows is how many predictions one INSERT statement carries. On
// PostgreSQL a round trip per row is the limit, so 100 rows (700
// parameters) go at once; SQLite, in process, is fastest with one prepared
// single-row statement (measured: about 40,000 rows/s against 30,000).
func (s *SQLStore) insertRows() int {
	if s.dialect == "sqlite" {
		return 1
	}
	return 100
}

// insertPredictions adds preds within tx, keeping rows already stored, and
// returns how many it added. Full groups of insertRows share one prepared
// statement.
func (s *SQLStore) insertPredictions(ctx context.Context, tx *sql.Tx, preds []StoredPrediction) (int, error) {
	if err := versionsExist(ctx, tx, preds); err != nil {
		return 0, err
	}
	insertRows := s.insertRows()
	var full *sql.Stmt
	added := 0
	for start := 0; start < len(preds); start += insertRows {
		part := preds[start:min(start+insertRows, len(preds))]
		args := make([]any, 0, len(part)*7)
		for _, p := range part {
			probs, err := json.Marshal(p.Probabilities)
			if err != nil {
				return 0, err
			}
			args = append(args, p.Model, p.Version, p.ItemID, p.TextSHA256, p.Tag, string(probs), p.CreatedAt.UnixNano())
		}
		var res sql.Result
		var err error
		if len(part) == insertRows {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, insertPredictionsSQL(insertRows)); err != nil {
					return 0, err
				}
				defer full.Close()
			}
			res, err = full.ExecContext(ctx, args...)
		} else {
			res, err = tx.ExecContext(ctx, insertPredictionsSQL(len(part)), args...)
		}
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		added += int(n)
	}
	return added, nil
}

// versionsExist checks, within tx, that the versions which made preds are
// still in the registry: predictions of a version deleted while a batch ran
// must not be stored, or they would answer for a later upload under the
// same number.
func versionsExist(ctx context.Context, tx *sql.Tx, preds []StoredPrediction) error {
	type key struct {
		model   string
		version int
	}
	seen := map[key]bool{}
	for _, p := range preds {
		k := key{p.Model, p.Version}
		if seen[k] {
			continue
		}
		seen[k] = true
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions WHERE model = $1 AND version = $2`, p.Model, p.Version).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return Errorf(ENOTFOUND, "model %q has no version %d: it may have been deleted", p.Model, p.Version)
		}
	}
	return nil
}

// insertPredictionsSQL is an INSERT of rows predictions that keeps the rows
// already stored.
func insertPredictionsSQL(rows int) string {
	var q strings.Builder
	q.WriteString(`INSERT INTO predictions (model, version, item_id, text_sha256, tag, probabilities, created_at) VALUES `)
	for i := range rows {
		if i > 0 {
			q.WriteString(", ")
		}
		n := i * 7
		fmt.Fprintf(&q, "($%d, $%d, $%d, $%d, $%d, $%d, $%d)", n+1, n+2, n+3, n+4, n+5, n+6, n+7)
	}
	q.WriteString(` ON CONFLICT (model, version, item_id) DO NOTHING`)
	return q.String()
}

// Chunk is one step of a batch job: the items from index From up to Done
// were worked through, Failed of the job's items have failed so far, and
// Predictions are the chunk's predictions.
type Chunk struct {
	From, Done, Failed int
	Predictions        []StoredPrediction
}

// SaveChunk implements BatchStore.
func (s *SQLStore) SaveChunk(ctx context.Context, id, owner string, leaseUntil time.Time, c Chunk) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		done, err := holdsJob(ctx, tx, id, owner)
		if err != nil {
			return err
		}
		// Two runners share a claim when two replicas were given the same
		// name; the progress check keeps the second from storing a chunk
		// again or moving the job's progress back.
		if done != c.From {
			return Errorf(ECONFLICT, "batch job %s has %d items done, not %d: another runner stored this chunk", id, done, c.From)
		}
		if _, err := s.insertPredictions(ctx, tx, c.Predictions); err != nil {
			return fmt.Errorf("registry: save chunk: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE batch_jobs SET done = $1, failed = $2, lease_until = $3 WHERE id = $4`, c.Done, c.Failed, leaseUntil.UnixNano(), id); err != nil {
			return fmt.Errorf("registry: save chunk: %w", err)
		}
		return nil
	})
}

// FinishJob implements BatchStore.
func (s *SQLStore) FinishJob(ctx context.Context, id, owner, status, reason string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := holdsJob(ctx, tx, id, owner); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE batch_jobs SET status = $1, error = $2, finished_at = $3, owner = '', lease_until = 0 WHERE id = $4`,
			status, reason, at.UnixNano(), id)
		if err != nil {
			return fmt.Errorf("registry: finish job: %w", err)
		}
		return nil
	})
}

// SavePredictions implements BatchStore.
func (s *SQLStore) SavePredictions(ctx context.Context, preds []StoredPrediction) (int, error) {
	var added int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		added, err = s.insertPredictions(ctx, tx, preds)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("registry: save predictions: %w", err)
	}
	return added, nil
}

const predictionColumns = `p.model, p.version, p.item_id, p.text_sha256, p.tag, p.probabilities, p.created_at`

func scanPrediction(row interface{ Scan(...any) error }, extra ...any) (StoredPrediction, error) {
	var p StoredPrediction
	var probs string
	var created int64
	dest := append([]any{&p.Model, &p.Version, &p.ItemID, &p.TextSHA256, &p.Tag, &probs, &created}, extra...)
	if err := row.Scan(dest...); err != nil {
		return StoredPrediction{}, err
	}
	if err := json.Unmarshal([]byte(probs), &p.Probabilities); err != nil {
		return StoredPrediction{}, fmt.Errorf("probabilities: %w", err)
	}
	p.CreatedAt = time.Unix(0, created).UTC()
	return p, nil
}

// predictionQuery is the lookup behind GET /predictions/{item-id}, the
// hottest query of batch serving: it is prepared once per store.
const predictionQuery = `SELECT ` + predictionColumns + ` FROM predictions p WHERE p.model = $1 AND p.version = $2 AND p.item_id = $3`

// Prediction implements BatchStore.
func (s *SQLStore) Prediction(ctx context.Context, model string, version int, item string) (StoredPrediction, error) {
	select {
	case s.lookupSlots <- struct{}{}:
		defer func() { <-s.lookupSlots }()
	case <-ctx.Done():
		return StoredPrediction{}, fmt.Errorf("registry: get prediction: %w", ctx.Err())
	}
	stmt, err := s.prepared(ctx, predictionQuery)
	if err != nil {
		return StoredPrediction{}, fmt.Errorf("registry: get prediction: %w", err)
	}
	p, err := scanPrediction(stmt.QueryRowContext(ctx, model, version, item))
	if errors.Is(err, sql.ErrNoRows) {
		return StoredPrediction{}, Errorf(ENOTFOUND, "no prediction for item %q by %s version %d", item, model, version)
	}
	if err != nil {
		return StoredPrediction{}, fmt.Errorf("registry: get prediction: %w", err)
	}
	return p, nil
}

// VersionPredictions implements BatchStore.
func (s *SQLStore) VersionPredictions(ctx context.Context, model string, version int, after string, limit int) ([]StoredPrediction, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+predictionColumns+` FROM predictions p
		WHERE p.model = $1 AND p.version = $2 AND p.item_id > $3 ORDER BY p.item_id LIMIT $4`, model, version, after, limit)
	if err != nil {
		return nil, fmt.Errorf("registry: version predictions: %w", err)
	}
	defer rows.Close()
	var out []StoredPrediction
	for rows.Next() {
		p, err := scanPrediction(rows)
		if err != nil {
			return nil, fmt.Errorf("registry: version predictions: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registry: version predictions: %w", err)
	}
	return out, nil
}

// PredictionVersions implements BatchStore.
func (s *SQLStore) PredictionVersions(ctx context.Context, model, item string) ([]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT version FROM predictions WHERE model = $1 AND item_id = $2 ORDER BY version`, model, item)
	if err != nil {
		return nil, fmt.Errorf("registry: prediction versions: %w", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, fmt.Errorf("registry: prediction versions: %w", err)
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// JobPredictions implements BatchStore.
func (s *SQLStore) JobPredictions(ctx context.Context, id string, from, limit int) ([]StoredPrediction, int, error) {
	j, err := s.Job(ctx, id)
	if err != nil {
		return nil, 0, err
	}
	// One more than asked for tells whether there is a next page.
	rows, err := s.db.QueryContext(ctx, `SELECT `+predictionColumns+`, i.idx FROM batch_items i
		JOIN predictions p ON p.model = $1 AND p.version = $2 AND p.item_id = i.item_id
		WHERE i.job_id = $3 AND i.idx >= $4 ORDER BY i.idx LIMIT $5`, j.Model, j.Version, id, from, limit+1)
	if err != nil {
		return nil, 0, fmt.Errorf("registry: job predictions: %w", err)
	}
	defer rows.Close()
	var out []StoredPrediction
	next := 0
	for rows.Next() {
		var idx int
		p, err := scanPrediction(rows, &idx)
		if err != nil {
			return nil, 0, fmt.Errorf("registry: job predictions: %w", err)
		}
		if len(out) == limit {
			next = idx
			break
		}
		out = append(out, p)
	}
	return out, next, rows.Err()
}

// prepared returns query prepared on the store's pool, preparing it on
// first use. database/sql prepares it again on each connection as needed.
func (s *SQLStore) prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if stmt, ok := s.stmts[query]; ok {
		return stmt, nil
	}
	stmt, err := s.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = stmt
	return stmt, nil
}
