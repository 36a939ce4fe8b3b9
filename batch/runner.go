package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// Classifier predicts; *model.Classifier is one.
type Classifier interface {
	Classes() []string
	PredictBatch(texts []string) []model.Prediction
}

// Loader returns the classifier of version of model name.
type Loader func(ctx context.Context, name string, version int) (Classifier, error)

// Observer hears what the runner does, for metrics.
type Observer interface {
	JobFinished(status string)
	ItemsPredicted(n int)
}

// ChunkSize is how many items the runner predicts and stores in one
// transaction: what a crash can cost to redo.
const ChunkSize = 1000

// ErrQueueFull is returned by Submit when too many jobs wait to run.
var ErrQueueFull = errors.New("batch: too many jobs are queued; try again later")

// Runner works through batch jobs in the background, at most workers at a
// time. Each chunk of a job is stored with the job's progress in one
// transaction, so a job interrupted by a crash or a shutdown resumes from
// its last chunk when the runner starts again, and no item is lost or
// stored twice.
type Runner struct {
	store   registry.BatchStore
	load    Loader
	log     *slog.Logger
	obs     Observer
	workers int
	queue   chan string
	wg      sync.WaitGroup
	now     func() time.Time
}

// NewRunner returns a runner over store; obs may be nil.
func NewRunner(store registry.BatchStore, load Loader, log *slog.Logger, obs Observer, workers int) *Runner {
	if workers < 1 {
		workers = 1
	}
	return &Runner{store: store, load: load, log: log, obs: obs, workers: workers, queue: make(chan string, 1024), now: time.Now}
}

// Start queues the jobs left unfinished by the last run, then starts the
// workers, which stop when ctx is done; Wait waits for them.
func (r *Runner) Start(ctx context.Context) error {
	unfinished, err := r.store.UnfinishedJobs(ctx)
	if err != nil {
		return err
	}
	for _, j := range unfinished {
		r.log.Info("resuming batch job", slog.String("job", j.ID), slog.Int("done", j.Done), slog.Int("total", j.Total))
		select {
		case r.queue <- j.ID:
		default:
			r.log.Warn("batch queue full at start; job waits for the next start", slog.String("job", j.ID))
		}
	}
	for range r.workers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				select {
				case <-ctx.Done():
					return
				case id := <-r.queue:
					r.run(ctx, id)
				}
			}
		}()
	}
	return nil
}

// Wait waits for the workers to stop, each after its current chunk.
func (r *Runner) Wait() { r.wg.Wait() }

// Submit stores a new job and queues it.
func (r *Runner) Submit(ctx context.Context, j registry.Job, items []registry.Item) error {
	if len(r.queue) == cap(r.queue) {
		return ErrQueueFull
	}
	if err := r.store.CreateJob(ctx, j, items); err != nil {
		return err
	}
	select {
	case r.queue <- j.ID:
		return nil
	default:
		// Stored as queued: the next start resumes it.
		return ErrQueueFull
	}
}

// run works job id to its end, or until ctx is done.
func (r *Runner) run(ctx context.Context, id string) {
	log := r.log.With(slog.String("job", id))
	// Chunks are stored with a context of their own: a shutdown stops the
	// job between chunks, never in the middle of storing one.
	store := context.WithoutCancel(ctx)
	job, err := r.store.Job(store, id)
	if err != nil {
		log.Error("batch job vanished", slog.String("error", err.Error()))
		return
	}
	if job.Status == registry.JobSucceeded || job.Status == registry.JobFailed {
		return
	}
	if err := r.store.StartJob(store, id, r.now().UTC()); err != nil {
		log.Error("start batch job", slog.String("error", err.Error()))
		return
	}
	c, err := r.load(store, job.Model, job.Version)
	if err != nil {
		r.finish(store, log, id, registry.JobFailed, fmt.Sprintf("%s version %d cannot be loaded: %v", job.Model, job.Version, err))
		return
	}
	start, startDone := time.Now(), job.Done
	for job.Done < job.Total {
		if ctx.Err() != nil {
			log.Info("batch job paused by shutdown; it resumes at the next start", slog.Int("done", job.Done))
			return
		}
		items, err := r.store.JobItems(store, id, job.Done, ChunkSize)
		if err == nil && len(items) == 0 {
			err = fmt.Errorf("job has %d items, expected %d", job.Done, job.Total)
		}
		if err != nil {
			r.finish(store, log, id, registry.JobFailed, "reading the job's items failed")
			log.Error("batch job items", slog.String("error", err.Error()))
			return
		}
		// Items the version has stored already (from another job, or twice
		// in this one) are predicted again but kept once: the insert keeps
		// the stored row, which costs less than asking first.
		preds := Predict(c, job.Model, job.Version, items, r.now().UTC())
		if err := r.store.SaveChunk(store, id, job.Done+len(items), job.Failed, preds); err != nil {
			log.Error("store batch chunk", slog.String("error", err.Error()))
			return
		}
		job.Done += len(items)
		if r.obs != nil {
			r.obs.ItemsPredicted(len(preds))
		}
	}
	log.Info("batch job done", slog.Int("items", job.Total),
		slog.Float64("items_per_second", float64(job.Done-startDone)/time.Since(start).Seconds()))
	r.finish(store, log, id, registry.JobSucceeded, "")
}

func (r *Runner) finish(ctx context.Context, log *slog.Logger, id, status, reason string) {
	if err := r.store.FinishJob(ctx, id, status, reason, r.now().UTC()); err != nil {
		log.Error("finish batch job", slog.String("error", err.Error()))
		return
	}
	if status == registry.JobFailed {
		log.Error("batch job failed", slog.String("reason", reason))
	}
	if r.obs != nil {
		r.obs.JobFinished(status)
	}
}
