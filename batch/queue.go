package batch

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/tagifai/tagifai/registry"
)

// ChunkSize is how many items one chunk task predicts and stores in one
// transaction: the unit of work that replicas share, and what a crash can
// cost to redo.
const ChunkSize = 1000

// QueueName is the River queue of chunk tasks.
const QueueName = "tagifai_batch"

// Timing of chunk tasks. A chunk takes well under a second; one that runs
// for ChunkTimeout is cancelled and retried with River's backoff, and one
// left running by a replica that died (kill -9, a lost node) is rescued by
// River, on whichever replica leads its maintenance, RescueAfter after it
// started (River looks every 30 s, so 15 to 45 s after the crash), or at
// once by the replica itself when it starts again (see reclaim).
const (
	ChunkTimeout = 10 * time.Second
	RescueAfter  = 15 * time.Second
	// MaxAttempts bounds how often a chunk is tried before its job fails.
	MaxAttempts = 8
	// Retention of finished chunk tasks in River's table; the batch jobs
	// themselves stay until deleted.
	Retention = 24 * time.Hour
)

// chunkArgs is a chunk task: items From up to To of batch job JobID.
type chunkArgs struct {
	JobID string `json:"job_id"`
	From  int    `json:"from"`
	To    int    `json:"to"`
}

// Kind implements river.JobArgs.
func (chunkArgs) Kind() string { return "tagifai_batch_chunk" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (chunkArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueName, MaxAttempts: MaxAttempts}
}

// purgeArgs is the periodic task that removes abandoned intakes.
type purgeArgs struct{}

// Kind implements river.JobArgs.
func (purgeArgs) Kind() string { return "tagifai_batch_purge_intakes" }

// InsertOpts implements river.JobArgsWithInsertOpts.
func (purgeArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: QueueName} }

// Config configures a Queue.
type Config struct {
	// Store keeps the jobs; River's tables live in its database.
	Store *registry.SQLStore
	// Jobs is where workers read jobs and store chunks; default: Store.
	// A test puts a store that fails or hangs here.
	Jobs registry.BatchStore
	// Load returns the classifier of a model version.
	Load Loader
	// Logger receives what the queue does; default: slog.Default().
	Logger *slog.Logger
	// Observer hears what the queue does, for metrics; default: none.
	Observer Observer
	// Workers bounds how many chunks this process predicts at once;
	// default 1.
	Workers int
	// Replica names this process among those sharing the database, in
	// each job's per-replica counts and as River's client id.
	Replica string
	// StopTimeout bounds Run's shutdown once its context is done: chunks
	// still running then are cancelled (and retried later), and Run
	// returns at the latest a moment after; default 10 s.
	StopTimeout time.Duration
}

// Queue runs batch jobs on River: a job is split into chunk tasks, River
// jobs that any process's workers take, so that several replicas sharing
// a database share one job. Each chunk's predictions are stored with the
// job's progress and the task's completion in one transaction, so a chunk
// interrupted by a crash is redone once (River rescues it) and none is
// stored or counted twice. Claims, retries with backoff, rescue of tasks
// of a process that died, and clean-up of finished tasks are River's.
type Queue struct {
	cfg      Config
	store    registry.BatchStore
	client   *river.Client[*sql.Tx]
	complete func(ctx context.Context, tx *sql.Tx, job *river.Job[chunkArgs]) error
	obs      Observer
}

// Migrate applies River's migrations to the store's database, under the
// registry's migration lock. NewQueue does it too; Migrate is for a
// database made ready ahead of its first queue.
func Migrate(ctx context.Context, store *registry.SQLStore, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.Default()
	}
	var driver riverdriver.Driver[*sql.Tx]
	switch store.Dialect() {
	case "sqlite":
		driver = riversqlite.New(store.DB())
	default:
		driver = riverdatabasesql.New(store.DB())
	}
	return migrate(ctx, store, driver, logger)
}

func migrate(ctx context.Context, store *registry.SQLStore, driver riverdriver.Driver[*sql.Tx], logger *slog.Logger) error {
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quiet(logger)})
	if err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	// Up to date, as at every start but the first after an upgrade: no
	// need to wait for the migration lock (a failed look migrates).
	if res, err := migrator.Validate(ctx, nil); err == nil && res.OK {
		return nil
	}
	err = store.Migrating(ctx, func(tx *sql.Tx) error {
		if tx == nil {
			_, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil)
			return err
		}
		_, err := migrator.MigrateTx(ctx, tx, rivermigrate.DirectionUp, nil)
		return err
	})
	if err != nil {
		return fmt.Errorf("batch: river migrations: %w", err)
	}
	return nil
}

// NewQueue applies River's migrations to the store's database and returns
// a queue that can take jobs at once and works them once Run runs.
func NewQueue(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.Jobs == nil {
		cfg.Jobs = cfg.Store
	}
	if cfg.Observer == nil {
		cfg.Observer = noObserver{}
	}
	q := &Queue{cfg: cfg, store: cfg.Jobs, obs: cfg.Observer}
	var driver riverdriver.Driver[*sql.Tx]
	switch cfg.Store.Dialect() {
	case "sqlite":
		driver = riversqlite.New(cfg.Store.DB())
		q.complete = func(ctx context.Context, tx *sql.Tx, job *river.Job[chunkArgs]) error {
			_, err := river.JobCompleteTx[*riversqlite.Driver](ctx, tx, job)
			return err
		}
	default:
		driver = riverdatabasesql.New(cfg.Store.DB())
		q.complete = func(ctx context.Context, tx *sql.Tx, job *river.Job[chunkArgs]) error {
			_, err := river.JobCompleteTx[*riverdatabasesql.Driver](ctx, tx, job)
			return err
		}
	}
	if err := migrate(ctx, cfg.Store, driver, cfg.Logger); err != nil {
		return nil, err
	}

	workers := river.NewWorkers()
	river.AddWorker(workers, &chunkWorker{q: q})
	river.AddWorker(workers, river.WorkFunc(func(ctx context.Context, _ *river.Job[purgeArgs]) error {
		n, err := q.store.PurgeAbandonedIntakes(ctx, time.Now().Add(-registry.AbandonedIntakeAge))
		if n > 0 {
			q.cfg.Logger.Info("removed batch jobs whose intake was interrupted", slog.Int("jobs", n))
		}
		return err
	}))
	var err error
	q.client, err = river.NewClient(driver, &river.Config{
		ID:                          cfg.Replica,
		Logger:                      quiet(cfg.Logger),
		Queues:                      map[string]river.QueueConfig{QueueName: {MaxWorkers: cfg.Workers}},
		Workers:                     workers,
		JobTimeout:                  ChunkTimeout,
		RescueStuckJobsAfter:        RescueAfter,
		MaxAttempts:                 MaxAttempts,
		CompletedJobRetentionPeriod: Retention,
		CancelledJobRetentionPeriod: Retention,
		DiscardedJobRetentionPeriod: 7 * Retention,
		// The database/sql drivers cannot LISTEN: workers poll, and a
		// worker that finished a chunk looks again almost at once.
		PollOnly:          true,
		FetchPollInterval: 200 * time.Millisecond,
		FetchCooldown:     5 * time.Millisecond,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(10*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return purgeArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})},
	})
	if err != nil {
		return nil, fmt.Errorf("batch: %w", err)
	}
	return q, nil
}

// quiet passes on River's warnings and errors only: its routine messages
// are many.
func quiet(log *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{log.Handler(), slog.LevelWarn})
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(a), f.min}
}

func (f levelFilter) WithGroup(name string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(name), f.min}
}

// Submit stores job j and its items with its chunk tasks, and returns it;
// see registry.BatchStore.CreateJob for jobs under an idempotency key that
// was used before (created is then false).
func (q *Queue) Submit(ctx context.Context, j registry.Job, items []registry.Item) (job registry.Job, created bool, err error) {
	return q.store.CreateJob(ctx, j, items, q.enqueue)
}

// enqueue inserts the chunk tasks of job j from j.Done on within tx.
func (q *Queue) enqueue(ctx context.Context, tx *sql.Tx, j registry.Job) error {
	var params []river.InsertManyParams
	for from := j.Done; from < j.Total; from += ChunkSize {
		params = append(params, river.InsertManyParams{Args: chunkArgs{JobID: j.ID, From: from, To: min(from+ChunkSize, j.Total)}})
	}
	if len(params) == 0 {
		return nil
	}
	_, err := q.client.InsertManyTx(ctx, tx, params)
	return err
}

// Delete deletes job id and its items, and cancels its chunk tasks that
// have not started in the same transaction, so that they do not wait in
// the queue to run for nothing; see registry.BatchStore.DeleteJob. A chunk
// that is running stores nothing more.
func (q *Queue) Delete(ctx context.Context, id string) (registry.Job, error) {
	return q.store.DeleteJob(ctx, id, q.cancelTasks)
}

// cancelTasks cancels the chunk tasks of job j that are waiting, within tx.
func (q *Queue) cancelTasks(ctx context.Context, tx *sql.Tx, j registry.Job) error {
	const page = 1000
	params := river.NewJobListParams().Kinds(chunkArgs{}.Kind()).
		States(rivertype.JobStateAvailable, rivertype.JobStateScheduled, rivertype.JobStateRetryable, rivertype.JobStatePending).
		Where("args->>'job_id' = @job_id", river.NamedArgs{"job_id": j.ID}).First(page)
	for {
		// Cancelled tasks leave these states: each page is a new first one.
		res, err := q.client.JobListTx(ctx, tx, params)
		if err != nil {
			return fmt.Errorf("batch: list chunk tasks: %w", err)
		}
		for _, task := range res.Jobs {
			if _, err := q.client.JobCancelTx(ctx, tx, task.ID); err != nil {
				return fmt.Errorf("batch: cancel chunk task: %w", err)
			}
		}
		if len(res.Jobs) < page {
			return nil
		}
	}
}

// Run works chunk tasks until ctx is done, then stops: chunks that are
// running get StopTimeout to finish, and are cancelled after it (River
// retries them). It returns nil after a clean stop, and at the latest a
// moment after StopTimeout even if the database stops answering.
func (q *Queue) Run(ctx context.Context) error {
	if n, err := q.store.EnqueueUnchunked(ctx, q.enqueue); err != nil && ctx.Err() == nil {
		// The next start tries again; jobs stored since run as usual.
		q.cfg.Logger.Warn("queueing batch jobs of an earlier version failed", slog.String("error", err.Error()))
	} else if n > 0 {
		q.cfg.Logger.Info("batch jobs of an earlier version queued as chunk tasks", slog.Int("jobs", n))
	}
	if n, err := q.reclaim(ctx); err != nil && ctx.Err() == nil {
		// River's rescuer takes them back later, as it does for any replica.
		q.cfg.Logger.Warn("taking back chunk tasks left running by this replica failed", slog.String("error", err.Error()))
	} else if n > 0 {
		q.cfg.Logger.Info("chunk tasks left running by this replica when it stopped are queued again", slog.Int("tasks", n))
	}
	events, unsubscribe := q.client.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled)
	defer unsubscribe()
	if err := q.client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("batch: %w", err)
	}
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case ev := <-events:
			observe(q.obs, ev)
		}
	}
	stop, cancel := context.WithTimeout(context.Background(), q.cfg.StopTimeout)
	defer cancel()
	err := q.client.Stop(stop)
	if err == nil {
		return nil
	}
	// Chunks still running: cancel them, and give them a moment to roll
	// back; River retries them later, here or elsewhere.
	hard, cancelHard := context.WithTimeout(context.Background(), time.Second)
	defer cancelHard()
	if err := q.client.StopAndCancel(hard); err != nil {
		return fmt.Errorf("batch: stop: %w", err)
	}
	return nil
}

// reclaim queues again, to run at once, the chunk tasks that this replica
// left running when it last stopped without finishing them (it was killed,
// or lost its node and came back under the same name): it runs before the
// queue's River client starts, and a replica's ID is unique among the
// replicas running, so nobody works them. River's rescuer would take them
// back too, but only RescueAfter after they started and at its next look,
// 15 to 45 s after a restart. Tasks out of attempts, or whose cancellation
// was asked for, are left to the rescuer, which decides their fate as for
// any other replica. It returns how many tasks it queued.
func (q *Queue) reclaim(ctx context.Context) (int, error) {
	const page = 1000
	exec := q.client.Driver().GetExecutor()
	now := time.Now().UTC()
	reason, err := json.Marshal(rivertype.AttemptError{At: now, Error: "replica " + q.cfg.Replica + " restarted while the chunk ran"})
	if err != nil {
		return 0, err
	}
	rescue := riverdriver.JobRescueManyParams{StuckHorizon: now}
	for after := int64(0); ; {
		stuck, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{AfterID: after, Max: page, StuckHorizon: now})
		if err != nil {
			return 0, err
		}
		for _, task := range stuck {
			after = task.ID
			if task.Queue != QueueName || len(task.AttemptedBy) == 0 || task.AttemptedBy[len(task.AttemptedBy)-1] != q.cfg.Replica ||
				task.Attempt >= task.MaxAttempts || cancelAsked(task) {
				continue
			}
			rescue.ID = append(rescue.ID, task.ID)
			rescue.Error = append(rescue.Error, reason)
			rescue.FinalizedAt = append(rescue.FinalizedAt, nil)
			rescue.ScheduledAt = append(rescue.ScheduledAt, now)
			rescue.State = append(rescue.State, string(rivertype.JobStateAvailable))
		}
		if len(stuck) < page {
			break
		}
	}
	if len(rescue.ID) == 0 {
		return 0, nil
	}
	if _, err := exec.JobRescueMany(ctx, &rescue); err != nil {
		return 0, err
	}
	return len(rescue.ID), nil
}

// cancelAsked reports whether River was asked to cancel task while it ran
// (or its metadata cannot be read, which only River's rescuer should judge).
func cancelAsked(task *rivertype.JobRow) bool {
	if len(task.Metadata) == 0 {
		return false
	}
	var meta struct {
		CancelAttemptedAt *time.Time `json:"cancel_attempted_at"`
	}
	return json.Unmarshal(task.Metadata, &meta) != nil || meta.CancelAttemptedAt != nil
}

// chunkWorker predicts and stores one chunk task.
type chunkWorker struct {
	river.WorkerDefaults[chunkArgs]
	q *Queue
}

// Work implements river.Worker. Every store call runs under the task's
// context, which River bounds by ChunkTimeout and cancels on a hard stop.
func (w *chunkWorker) Work(ctx context.Context, task *river.Job[chunkArgs]) error {
	q, a := w.q, task.Args
	log := q.cfg.Logger.With(slog.String("job", a.JobID), slog.Int("from", a.From))
	j, err := q.store.Job(ctx, a.JobID)
	if registry.ErrorCode(err) == registry.ENOTFOUND {
		return nil // deleted: nothing to do
	}
	if err != nil {
		return err
	}
	if j.Finished() {
		return nil
	}
	c, err := q.cfg.Load(ctx, j.Model, j.Version)
	if err != nil {
		if registry.ErrorCode(err) == registry.ENOTFOUND || task.Attempt >= task.MaxAttempts {
			reason := fmt.Sprintf("%s version %d cannot be loaded: %v", j.Model, j.Version, err)
			q.fail(ctx, log, j.ID, reason)
			return river.JobCancel(errors.New(reason))
		}
		return err
	}
	items, err := q.store.JobItems(ctx, a.JobID, a.From, a.To-a.From)
	if err != nil {
		return err
	}
	if len(items) != a.To-a.From {
		if _, err := q.store.Job(ctx, a.JobID); registry.ErrorCode(err) == registry.ENOTFOUND {
			return nil
		}
		reason := fmt.Sprintf("the job's items %d to %d are missing", a.From, a.To)
		q.fail(ctx, log, j.ID, reason)
		return river.JobCancel(errors.New(reason))
	}
	now := time.Now().UTC()
	preds := Predict(c, j.Model, j.Version, items, now)
	status, err := q.store.SaveChunk(ctx, a.JobID, registry.Chunk{Replica: q.cfg.Replica, First: a.From, Items: len(items), At: now, Predictions: preds},
		func(tx *sql.Tx) error { return q.complete(ctx, tx, task) })
	switch {
	case registry.ErrorCode(err) == registry.ENOTFOUND:
		return nil
	case err != nil:
		if task.Attempt >= task.MaxAttempts {
			q.fail(ctx, log, j.ID, "storing a chunk failed "+fmt.Sprint(task.MaxAttempts)+" times")
		}
		return err
	}
	q.obs.ItemsPredicted(len(items))
	if status == registry.JobSucceeded {
		q.obs.JobFinished(registry.JobSucceeded)
		log.Info("batch job done", slog.Int("items", j.Total))
	}
	return nil
}

// fail marks job id failed.
func (q *Queue) fail(ctx context.Context, log *slog.Logger, id, reason string) {
	if err := q.store.FailJob(ctx, id, reason, time.Now().UTC()); err != nil {
		log.Error("fail batch job", slog.String("error", err.Error()))
		return
	}
	q.obs.JobFinished(registry.JobFailed)
	log.Error("batch job failed", slog.String("reason", reason))
}
