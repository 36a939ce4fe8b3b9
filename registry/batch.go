package registry

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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
	Done       int // items predicted and stored
	Failed     int
	Error      string
	CreatedBy  string
	CreatedAt  time.Time
	StartedAt  *time.Time
	FinishedAt *time.Time
	// IdempotencyKey is the client's name for the request that created
	// the job, "" for none; RequestSHA256 identifies that request's
	// content (items and version), so that a retry is told from another
	// request under the same key.
	IdempotencyKey string
	RequestSHA256  string
	// Replicas says how many items each replica predicted, by replica
	// name; only Job fills it.
	Replicas []ReplicaCount
}

// ReplicaCount is how many of a job's items one replica predicted.
type ReplicaCount struct {
	Replica string
	Items   int
}

// Finished reports whether j has ended, well or not.
func (j Job) Finished() bool { return j.Status == JobSucceeded || j.Status == JobFailed }

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
	// CreateJob stores job j and its items and calls enqueue within the
	// transaction that makes it visible, and returns it with created true.
	// The items are stored in transactions of at most IntakeTxItems each,
	// so that no write of the registry waits long for them; until the last
	// one commits the job is invisible, and a job whose intake was
	// interrupted is removed by PurgeAbandonedIntakes.
	//
	// When j has an IdempotencyKey that its creator used before, nothing is
	// stored: CreateJob returns that job, with created false, when its
	// RequestSHA256 is j's, and ECONFLICT when it is not or when that
	// job's intake is still under way.
	CreateJob(ctx context.Context, j Job, items []Item, enqueue Enqueue) (job Job, created bool, err error)
	// Job returns a job with its replica counts; ENOTFOUND when there is none.
	Job(ctx context.Context, id string) (Job, error)
	// Jobs lists up to limit jobs, newest first, from the one after
	// (JobKey{}, with no ID, for the newest), only those with status unless
	// it is "".
	Jobs(ctx context.Context, status string, after JobKey, limit int) ([]Job, error)
	// DeleteJob deletes a job and its items, whatever its status, and
	// returns it as it was; the predictions it stored stay. ENOTFOUND when
	// there is none. Chunks of it that are running store nothing more.
	// dequeue, unless nil, is called within the transaction that deletes
	// the job, to cancel its queued work with it.
	DeleteJob(ctx context.Context, id string, dequeue Dequeue) (Job, error)
	// JobItems returns up to limit items of a job from index from on.
	JobItems(ctx context.Context, id string, from, limit int) ([]Item, error)
	// SaveChunk stores a chunk's predictions (keeping any already stored
	// for the same model, version and item), adds them to the job's
	// progress and to c.Replica's count, marks the job succeeded with its
	// last items, and calls within, all in one transaction: a crash leaves
	// either all or nothing. A chunk saved already (the same job and
	// c.First) changes nothing more: within is still called. It returns the job's status after the chunk.
	// ENOTFOUND, and nothing stored, when the job was deleted; a job that
	// has failed stores nothing more, but within is still called.
	SaveChunk(ctx context.Context, id string, c Chunk, within func(*sql.Tx) error) (status string, err error)
	// FailJob marks an unfinished job failed with reason.
	FailJob(ctx context.Context, id, reason string, at time.Time) error
	// EnqueueUnchunked calls enqueue, each within its own transaction, for
	// the unfinished jobs that have no chunk tasks yet (stored by a version
	// that ran jobs without them), and returns how many it enqueued.
	EnqueueUnchunked(ctx context.Context, enqueue Enqueue) (int, error)
	// PurgeAbandonedIntakes deletes the jobs whose intake began before
	// before and never finished (the process stopped half-way), and
	// returns how many.
	PurgeAbandonedIntakes(ctx context.Context, before time.Time) (int, error)
	// SavePredictions stores predictions, keeping any already stored, and
	// returns how many it added.
	SavePredictions(ctx context.Context, preds []StoredPrediction) (int, error)
	// ChangedItems returns, in order, the indexes of the items that model's
	// version has a stored prediction for under the same id but of another
	// text: a job would keep that prediction, not predict the new text.
	ChangedItems(ctx context.Context, model string, version int, items []Item) ([]int, error)
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

// Enqueue queues the work of job j, whose first j.Done items are done,
// within tx: the transaction that makes the job visible.
type Enqueue func(ctx context.Context, tx *sql.Tx, j Job) error

// Dequeue cancels the queued work of job j within tx, the transaction that
// deletes it.
type Dequeue func(ctx context.Context, tx *sql.Tx, j Job) error

var _ BatchStore = (*SQLStore)(nil)

// IntakeTxItems bounds how many items of a job one transaction stores: on
// SQLite, what bounds how long a job's intake holds the write lock at a
// time (a multiple of itemsPerRow).
const IntakeTxItems = 10 * itemsPerRow

// AbandonedIntakeAge is how long after its start an intake that has not
// finished is taken as abandoned: far longer than any request may last.
const AbandonedIntakeAge = 15 * time.Minute

// CreateJob implements BatchStore.
func (s *SQLStore) CreateJob(ctx context.Context, j Job, items []Item, enqueue Enqueue) (Job, bool, error) {
	existing, err := s.beginIntake(ctx, j)
	if err != nil {
		return Job{}, false, err
	}
	if existing != nil {
		if existing.RequestSHA256 != j.RequestSHA256 {
			return Job{}, false, Errorf(ECONFLICT, "Idempotency-Key %q was used for another request (batch job %s); use a new key for a new job", j.IdempotencyKey, existing.ID)
		}
		got, err := s.Job(ctx, existing.ID)
		return got, false, err
	}
	for from := 0; from < len(items); from += IntakeTxItems {
		part := items[from:min(from+IntakeTxItems, len(items))]
		began := time.Now()
		err := s.tx(ctx, func(tx *sql.Tx) error { return s.insertItems(ctx, tx, j.ID, from, part) })
		if err != nil {
			s.abandonIntake(ctx, j.ID)
			return Job{}, false, fmt.Errorf("registry: create job items: %w", err)
		}
		if s.intakeCommitted != nil {
			s.intakeCommitted(len(part), time.Since(began))
		}
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE batch_jobs SET received = 1, chunked = 1 WHERE id = $1`, j.ID); err != nil {
			return err
		}
		if err := enqueue(ctx, tx, j); err != nil {
			return err
		}
		return s.audit(ctx, tx, ActionBatchJobCreate, JobResource(j.ID), "", fmt.Sprintf("%s version %d, %d items", j.Model, j.Version, j.Total))
	})
	if err != nil {
		// The commit may have happened all the same (a connection lost
		// while committing): a stored job is never reported as not created.
		if got, gerr := s.Job(context.WithoutCancel(ctx), j.ID); gerr == nil {
			return got, true, nil
		}
		s.abandonIntake(ctx, j.ID)
		return Job{}, false, fmt.Errorf("registry: create job: %w", err)
	}
	return j, true, nil
}

// beginIntake stores j's row, not yet received, unless j's idempotency key
// names a job already: then it returns that job.
func (s *SQLStore) beginIntake(ctx context.Context, j Job) (*Job, error) {
	var existing *Job
	begin := func(tx *sql.Tx) error {
		existing = nil
		if j.IdempotencyKey != "" {
			old, received, err := jobByKey(ctx, tx, j.CreatedBy, j.IdempotencyKey)
			switch {
			case err == nil && received:
				existing = &old
				return nil
			case err == nil && j.CreatedAt.Sub(old.CreatedAt) > AbandonedIntakeAge:
				if err := deleteJobRows(ctx, tx, old.ID); err != nil {
					return err
				}
			case err == nil:
				return errIntakeUnderWay(j.IdempotencyKey, old.ID)
			case !errors.Is(err, sql.ErrNoRows):
				return err
			}
		}
		var key any
		if j.IdempotencyKey != "" {
			key = j.IdempotencyKey
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO batch_jobs (id, model, version, status, total, created_by, created_at, received, chunked, idempotency_key, request_sha256)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, $8, $9)`, j.ID, j.Model, j.Version, j.Status, j.Total, j.CreatedBy, j.CreatedAt.UnixNano(), key, j.RequestSHA256)
		return err
	}
	err := s.tx(ctx, begin)
	if err != nil && j.IdempotencyKey != "" && ErrorCode(err) == "" {
		// Most likely a request under the same key that began at the same
		// moment: the unique index refused this one. Look again.
		if again := s.tx(ctx, begin); again == nil || ErrorCode(again) != "" {
			err = again
		}
	}
	if err != nil && ErrorCode(err) == "" {
		return nil, fmt.Errorf("registry: create job: %w", err)
	}
	return existing, err
}

func errIntakeUnderWay(key, id string) error {
	return Errorf(ECONFLICT, "a request with Idempotency-Key %q is still being stored as batch job %s; retry it in a moment", key, id)
}

// jobByKey returns the job creator made under idempotency key, and whether
// it was received; sql.ErrNoRows when there is none.
func jobByKey(ctx context.Context, tx *sql.Tx, creator, key string) (Job, bool, error) {
	var received int
	j, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+`, received FROM batch_jobs WHERE created_by = $1 AND idempotency_key = $2`, creator, key), &received)
	return j, received == 1, err
}

// itemsPerRow is how many items of a job one row of batch_chunks keeps
// (migration 008 assumes 1000).
const itemsPerRow = 1000

// insertItems stores items as the job's items from index from on (a
// multiple of itemsPerRow), itemsPerRow to a row.
func (s *SQLStore) insertItems(ctx context.Context, tx *sql.Tx, id string, from int, items []Item) error {
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO batch_chunks (job_id, idx, n, items) VALUES ($1, $2, $3, $4)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	pairs := make([][2]string, 0, itemsPerRow)
	for start := 0; start < len(items); start += itemsPerRow {
		pairs = pairs[:0]
		for _, it := range items[start:min(start+itemsPerRow, len(items))] {
			pairs = append(pairs, [2]string{it.ID, it.Text})
		}
		b, err := json.Marshal(pairs)
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, id, from+start, len(pairs), string(b)); err != nil {
			return err
		}
	}
	return nil
}

// itemRows reads the rows of job id's items that hold items from index
// from up to to, and returns those items and the index of the first.
func itemRows(ctx context.Context, q queryer, id string, from, to int) ([]Item, int, error) {
	rows, err := q.QueryContext(ctx, `SELECT idx, items FROM batch_chunks WHERE job_id = $1 AND idx < $2 AND idx + n > $3 ORDER BY idx`, id, to, from)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	var out []Item
	first := -1
	for rows.Next() {
		var idx int
		var raw string
		if err := rows.Scan(&idx, &raw); err != nil {
			return nil, 0, err
		}
		if first < 0 {
			first = idx
		}
		var pairs [][2]string
		if err := json.Unmarshal([]byte(raw), &pairs); err != nil {
			return nil, 0, fmt.Errorf("items of job %s from %d: %w", id, idx, err)
		}
		for _, p := range pairs {
			out = append(out, Item{ID: p[0], Text: p[1]})
		}
	}
	return out, max(first, 0), rows.Err()
}

// abandonIntake deletes what an intake that failed stored of job id, if
// the job was not received after all. It runs even when ctx is done (the
// client went away), within a deadline of its own; what it cannot delete,
// PurgeAbandonedIntakes does later.
func (s *SQLStore) abandonIntake(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = s.tx(ctx, func(tx *sql.Tx) error {
		var received int
		err := tx.QueryRowContext(ctx, `SELECT received FROM batch_jobs WHERE id = $1`, id).Scan(&received)
		if err != nil || received == 1 {
			return err
		}
		return deleteJobRows(ctx, tx, id)
	})
}

// deleteJobRows deletes job id's rows within tx.
func deleteJobRows(ctx context.Context, tx *sql.Tx, id string) error {
	for _, q := range []string{
		`DELETE FROM batch_chunks WHERE job_id = $1`,
		`DELETE FROM batch_chunks_saved WHERE job_id = $1`,
		`DELETE FROM batch_job_replicas WHERE job_id = $1`,
		`DELETE FROM batch_jobs WHERE id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, id); err != nil {
			return err
		}
	}
	return nil
}

// PurgeAbandonedIntakes implements BatchStore.
func (s *SQLStore) PurgeAbandonedIntakes(ctx context.Context, before time.Time) (int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id FROM batch_jobs WHERE received = 0 AND created_at < $1`, before.UnixNano())
	if err != nil {
		return 0, fmt.Errorf("registry: abandoned intakes: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("registry: abandoned intakes: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("registry: abandoned intakes: %w", err)
	}
	for _, id := range ids {
		if err := s.tx(ctx, func(tx *sql.Tx) error { return deleteJobRows(ctx, tx, id) }); err != nil {
			return 0, fmt.Errorf("registry: abandoned intakes: %w", err)
		}
	}
	return len(ids), nil
}

// EnqueueUnchunked implements BatchStore.
func (s *SQLStore) EnqueueUnchunked(ctx context.Context, enqueue Enqueue) (int, error) {
	jobs, err := s.queryJobs(ctx, "unchunked jobs", `SELECT `+jobColumns+` FROM batch_jobs
		WHERE received = 1 AND chunked = 0 AND status IN ('queued', 'running') ORDER BY created_at, id`)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, j := range jobs {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, `UPDATE batch_jobs SET chunked = 1 WHERE id = $1 AND chunked = 0`, j.ID)
			if err != nil {
				return err
			}
			if k, err := res.RowsAffected(); err != nil || k == 0 {
				return err // another replica enqueued it
			}
			n++
			return enqueue(ctx, tx, j)
		})
		if err != nil {
			return n, fmt.Errorf("registry: enqueue job %s: %w", j.ID, err)
		}
	}
	return n, nil
}

const jobColumns = `id, model, version, status, total, done, failed, error, created_by, created_at, started_at, finished_at, COALESCE(idempotency_key, ''), request_sha256`

func scanJob(row interface{ Scan(...any) error }, extra ...any) (Job, error) {
	var j Job
	var created int64
	var started, finished sql.NullInt64
	dest := append([]any{&j.ID, &j.Model, &j.Version, &j.Status, &j.Total, &j.Done, &j.Failed, &j.Error, &j.CreatedBy,
		&created, &started, &finished, &j.IdempotencyKey, &j.RequestSHA256}, extra...)
	if err := row.Scan(dest...); err != nil {
		return Job{}, err
	}
	j.CreatedAt = time.Unix(0, created).UTC()
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
	return readJobAndReplicas(ctx, s.db, id, "get job")
}

// readJobAndReplicas is readJob with the job's replica counts.
func readJobAndReplicas(ctx context.Context, q queryer, id, what string) (Job, error) {
	j, err := readJob(ctx, q, id, what)
	if err != nil {
		return Job{}, err
	}
	rows, err := q.QueryContext(ctx, `SELECT replica, items FROM batch_job_replicas WHERE job_id = $1 ORDER BY replica`, id)
	if err != nil {
		return Job{}, fmt.Errorf("registry: %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		var c ReplicaCount
		if err := rows.Scan(&c.Replica, &c.Items); err != nil {
			return Job{}, fmt.Errorf("registry: %s: %w", what, err)
		}
		j.Replicas = append(j.Replicas, c)
	}
	if err := rows.Err(); err != nil {
		return Job{}, fmt.Errorf("registry: %s: %w", what, err)
	}
	return j, nil
}

// readJob reads received job id through q; what names the caller in
// errors. ENOTFOUND when there is none.
func readJob(ctx context.Context, q queryer, id, what string) (Job, error) {
	j, err := scanJob(q.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM batch_jobs WHERE id = $1 AND received = 1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Job{}, Errorf(ENOTFOUND, "no batch job %q", id)
	}
	if err != nil {
		return Job{}, fmt.Errorf("registry: %s: %w", what, err)
	}
	return j, nil
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
		WHERE received = 1 AND ($1 = '' OR status = $1) AND (created_at < $2 OR (created_at = $2 AND id < $3))
		ORDER BY created_at DESC, id DESC LIMIT $4`, status, before, id, limit)
}

// DeleteJob implements BatchStore.
func (s *SQLStore) DeleteJob(ctx context.Context, id string, dequeue Dequeue) (Job, error) {
	var j Job
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if j, err = readJobAndReplicas(ctx, tx, id, "delete job"); err != nil {
			return err
		}
		if err := deleteJobRows(ctx, tx, id); err != nil {
			return fmt.Errorf("registry: delete job: %w", err)
		}
		if dequeue != nil {
			if err := dequeue(ctx, tx, j); err != nil {
				return fmt.Errorf("registry: delete job: %w", err)
			}
		}
		return s.audit(ctx, tx, ActionBatchJobCancel, JobResource(id), j.Status, "deleted")
	})
	return j, err
}

// JobItems implements BatchStore.
func (s *SQLStore) JobItems(ctx context.Context, id string, from, limit int) ([]Item, error) {
	items, first, err := itemRows(ctx, s.db, id, from, from+limit)
	if err != nil {
		return nil, fmt.Errorf("registry: job items: %w", err)
	}
	lo := min(max(from-first, 0), len(items))
	return items[lo:min(lo+limit, len(items))], nil
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

// Chunk is the work of one chunk task of a job: Items of its items, from
// the one at index First on, were predicted by Replica at At, giving
// Predictions.
type Chunk struct {
	Replica     string
	First       int
	Items       int
	At          time.Time
	Predictions []StoredPrediction
}

// SaveChunk implements BatchStore. It runs at the database's default
// isolation (READ COMMITTED on PostgreSQL) and moves the job's progress
// with one UPDATE as its last statement, so that chunks stored at once by
// several replicas wait for each other only for that row, never fail for
// it.
func (s *SQLStore) SaveChunk(ctx context.Context, id string, c Chunk, within func(*sql.Tx) error) (string, error) {
	var status string
	err := s.txWith(ctx, nil, func(tx *sql.Tx) error {
		j, err := readJob(ctx, tx, id, "save chunk")
		if err != nil {
			return err
		}
		if status = j.Status; j.Finished() {
			return within(tx)
		}
		// A chunk is saved and counted once, however many times it ran.
		res, err := tx.ExecContext(ctx, `INSERT INTO batch_chunks_saved (job_id, first_item) VALUES ($1, $2)
			ON CONFLICT (job_id, first_item) DO NOTHING`, id, c.First)
		if err != nil {
			return fmt.Errorf("registry: save chunk: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("registry: save chunk: %w", err)
		} else if n == 0 {
			return within(tx)
		}
		if _, err := s.insertPredictions(ctx, tx, c.Predictions); err != nil {
			return fmt.Errorf("registry: save chunk: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO batch_job_replicas (job_id, replica, items) VALUES ($1, $2, $3)
			ON CONFLICT (job_id, replica) DO UPDATE SET items = batch_job_replicas.items + excluded.items`, id, c.Replica, c.Items); err != nil {
			return fmt.Errorf("registry: save chunk: %w", err)
		}
		at := c.At.UnixNano()
		err = tx.QueryRowContext(ctx, `UPDATE batch_jobs SET done = done + $1,
			status = CASE WHEN done + $1 >= total THEN 'succeeded' ELSE 'running' END,
			started_at = COALESCE(started_at, $2),
			finished_at = CASE WHEN done + $1 >= total THEN $2 ELSE NULL END
			WHERE id = $3 AND status IN ('queued', 'running') RETURNING status`, c.Items, at, id).Scan(&status)
		if errors.Is(err, sql.ErrNoRows) {
			return Errorf(ENOTFOUND, "batch job %s was deleted or ended while its chunk ran", id)
		}
		if err != nil {
			return fmt.Errorf("registry: save chunk: %w", err)
		}
		return within(tx)
	})
	return status, err
}

// FailJob implements BatchStore.
func (s *SQLStore) FailJob(ctx context.Context, id, reason string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE batch_jobs SET status = 'failed', error = $1, finished_at = $2
			WHERE id = $3 AND status IN ('queued', 'running')`, reason, at.UnixNano(), id)
		if err != nil {
			return fmt.Errorf("registry: fail job: %w", err)
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

// TextSHA256 is the hex SHA-256 of a text, as StoredPrediction keeps it.
func TextSHA256(text string) string {
	sum := sha256.Sum256([]byte(text))
	return hex.EncodeToString(sum[:])
}

// ChangedItems implements BatchStore.
func (s *SQLStore) ChangedItems(ctx context.Context, model string, version int, items []Item) ([]int, error) {
	found, err := s.predictionsOf(ctx, model, version, items)
	if err != nil {
		return nil, fmt.Errorf("registry: changed items: %w", err)
	}
	var changed []int
	for i, it := range items {
		if p, ok := found[it.ID]; ok && p.TextSHA256 != TextSHA256(it.Text) {
			changed = append(changed, i)
		}
	}
	return changed, nil
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
	var out []StoredPrediction
	// Pages of the job's items, from from on, until limit predictions
	// are found: items not predicted yet have none.
	for at := from; at < j.Total; {
		items, first, err := itemRows(ctx, s.db, id, at, at+max(limit, itemsPerRow))
		if err != nil {
			return nil, 0, fmt.Errorf("registry: job predictions: %w", err)
		}
		lo := min(max(at-first, 0), len(items))
		items = items[lo:]
		if len(items) == 0 {
			break
		}
		found, err := s.predictionsOf(ctx, j.Model, j.Version, items)
		if err != nil {
			return nil, 0, fmt.Errorf("registry: job predictions: %w", err)
		}
		for i, it := range items {
			p, ok := found[it.ID]
			if !ok {
				continue
			}
			if len(out) == limit {
				return out, at + i, nil
			}
			out = append(out, p)
		}
		at += len(items)
	}
	return out, 0, nil
}

// predictionsOf returns the stored predictions of model's version for
// items, by item id.
func (s *SQLStore) predictionsOf(ctx context.Context, model string, version int, items []Item) (map[string]StoredPrediction, error) {
	found := make(map[string]StoredPrediction, len(items))
	const perQuery = 500
	for start := 0; start < len(items); start += perQuery {
		part := items[start:min(start+perQuery, len(items))]
		args := make([]any, 0, len(part)+2)
		args = append(args, model, version)
		var q strings.Builder
		q.WriteString(`SELECT ` + predictionColumns + ` FROM predictions p WHERE p.model = $1 AND p.version = $2 AND p.item_id IN (`)
		for i, it := range part {
			if i > 0 {
				q.WriteString(", ")
			}
			fmt.Fprintf(&q, "$%d", i+3)
			args = append(args, it.ID)
		}
		q.WriteString(")")
		rows, err := s.db.QueryContext(ctx, q.String(), args...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			p, err := scanPrediction(rows)
			if err != nil {
				rows.Close()
				return nil, err
			}
			found[p.ItemID] = p
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return found, nil
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
