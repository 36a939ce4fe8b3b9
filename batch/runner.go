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

// Lease is how long a runner's claim on a job holds without a word from
// it; every stored chunk renews it. A replica that stops without giving
// its jobs back (a crash, a lost node) has them taken over by another
// replica at most this long afterwards.
const Lease = 30 * time.Second

// ScanInterval is how often a runner looks for unfinished jobs that nobody
// holds: jobs of a replica that stopped.
const ScanInterval = 10 * time.Second

// Runner works through batch jobs in the background, at most workers at a
// time. Each chunk of a job is stored with the job's progress in one
// transaction, so a job interrupted by a crash or a shutdown resumes from
// its last chunk, and no item is lost or stored twice.
//
// Several runners (one per replica) may share a store: each job is claimed
// by one runner, named owner, for Lease at a time, renewed by every chunk
// it stores. A runner that shuts down gives its unfinished jobs back; the
// jobs of one that stops without doing so are taken over once its claims
// lapse. A runner restarted under the same owner name takes its own jobs
// back at once. Two live runners given the same name both run its jobs,
// but a chunk is stored only where the job's progress is, so one of them
// loses each chunk it races for and nothing is stored or counted twice.
type Runner struct {
	store   registry.BatchStore
	load    Loader
	log     *slog.Logger
	obs     Observer
	workers int
	owner   string
	queue   chan string
	wg      sync.WaitGroup
	now     func() time.Time
	// lease and scanEvery are Lease and ScanInterval; tests shorten them.
	lease     time.Duration
	scanEvery time.Duration

	mu     sync.Mutex
	active map[string]bool // jobs queued or running here
}

// NewRunner returns a runner over store that claims jobs as owner, a name
// unique among the runners sharing store; obs may be nil.
func NewRunner(store registry.BatchStore, load Loader, log *slog.Logger, obs Observer, workers int, owner string) *Runner {
	if workers < 1 {
		workers = 1
	}
	return &Runner{store: store, load: load, log: log, obs: obs, workers: workers, owner: owner,
		queue: make(chan string, 1024), now: time.Now, lease: Lease, scanEvery: ScanInterval, active: map[string]bool{}}
}

// Start queues the unfinished jobs that no other runner holds, starts the
// workers, and from then on looks for such jobs every ScanInterval, until
// ctx is done; Wait waits for all of it.
func (r *Runner) Start(ctx context.Context) error {
	if err := r.scan(ctx); err != nil {
		return err
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(r.scanEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := r.scan(ctx); err != nil && ctx.Err() == nil {
					r.log.Warn("looking for batch jobs to resume failed", slog.String("error", err.Error()))
				}
			}
		}
	}()
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
					r.mu.Lock()
					delete(r.active, id)
					r.mu.Unlock()
				}
			}
		}()
	}
	return nil
}

// Wait waits for the workers to stop, each after its current chunk.
func (r *Runner) Wait() { r.wg.Wait() }

// scan queues the unfinished jobs this runner may claim and does not have
// already.
func (r *Runner) scan(ctx context.Context) error {
	unfinished, err := r.store.UnfinishedJobs(ctx)
	if err != nil {
		return err
	}
	now := r.now()
	for _, j := range unfinished {
		if !j.Claimable(r.owner, now) {
			continue
		}
		if r.enqueue(j.ID) {
			r.log.Info("resuming batch job", slog.String("job", j.ID), slog.Int("done", j.Done), slog.Int("total", j.Total),
				slog.String("claimed_by", j.Owner))
		}
	}
	return nil
}

// enqueue queues job id unless it is queued or running here already or the
// queue is full, and reports whether it did.
func (r *Runner) enqueue(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.active[id] {
		return false
	}
	select {
	case r.queue <- id:
		r.active[id] = true
		return true
	default:
		return false // stored as queued: a later scan, here or elsewhere, takes it
	}
}

// Submit stores a new job and queues it.
func (r *Runner) Submit(ctx context.Context, j registry.Job, items []registry.Item) error {
	if len(r.queue) == cap(r.queue) {
		return ErrQueueFull
	}
	if err := r.store.CreateJob(ctx, j, items); err != nil {
		return err
	}
	if !r.enqueue(j.ID) {
		// Stored as queued: a later scan, here or on another replica,
		// takes it.
		return ErrQueueFull
	}
	return nil
}

// run works job id to its end, or until ctx is done.
func (r *Runner) run(ctx context.Context, id string) {
	log := r.log.With(slog.String("job", id))
	// Chunks are stored with a context of their own: a shutdown stops the
	// job between chunks, never in the middle of storing one.
	store := context.WithoutCancel(ctx)
	now := r.now().UTC()
	job, err := r.store.ClaimJob(store, id, r.owner, now, now.Add(r.lease))
	switch registry.ErrorCode(err) {
	case registry.ECONFLICT:
		log.Debug("another replica runs the batch job", slog.String("reason", err.Error()))
		return
	case registry.ENOTFOUND:
		log.Info("batch job deleted before it started")
		return
	}
	if err != nil {
		log.Error("claim batch job", slog.String("error", err.Error()))
		return
	}
	if job.Status == registry.JobSucceeded || job.Status == registry.JobFailed {
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
			if err := r.store.ReleaseJob(store, id, r.owner); err != nil {
				log.Warn("give back batch job", slog.String("error", err.Error()))
			}
			log.Info("batch job paused by shutdown; it resumes at the next start, here or on another replica", slog.Int("done", job.Done))
			return
		}
		items, err := r.store.JobItems(store, id, job.Done, ChunkSize)
		if err == nil && len(items) == 0 {
			if _, err := r.store.Job(store, id); registry.ErrorCode(err) == registry.ENOTFOUND {
				log.Info("batch job deleted; stopping", slog.Int("done", job.Done))
				return
			}
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
		chunk := registry.Chunk{From: job.Done, Done: job.Done + len(items), Failed: job.Failed, Predictions: preds}
		if err := r.store.SaveChunk(store, id, r.owner, r.now().UTC().Add(r.lease), chunk); err != nil {
			switch registry.ErrorCode(err) {
			case registry.ECONFLICT:
				log.Warn("batch job taken over by another replica; stopping here", slog.String("reason", err.Error()))
				return
			case registry.ENOTFOUND:
				log.Info("batch job deleted; stopping", slog.Int("done", job.Done))
				return
			}
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
	if err := r.store.FinishJob(ctx, id, r.owner, status, reason, r.now().UTC()); err != nil {
		if registry.ErrorCode(err) == registry.ENOTFOUND {
			log.Info("batch job deleted before it was marked finished")
			return
		}
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
