package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tagifai/tagifai/batch"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/server"
)

func init() {
	commands["batch"] = command{summary: "predict a CSV file ahead of time and store the predictions", run: runBatch}
}

// batchCreator is who creates the jobs of `tagifai batch` in the registry.
const batchCreator = registry.ActorBatch

// runBatch implements `tagifai batch --input CSV [--shard I/N] [--model NAME] [--version V]`:
// it submits the rows (of its shard) as a batch job, the same kind of job as
// POST /batch-jobs makes, and works it in this process with the same queue
// (replicas of the server sharing the database help). The job is named by
// the input's content, shard and version: running the command again after
// an interruption resumes the same job rather than starting another.
func runBatch(ctx context.Context, args []string, e env) error {
	fl := newFlags(e, "batch", "", "Submit the rows of a CSV file (or of its --shard) as a batch job and work it in this process with the "+
		"batch queue, sharing it with the server replicas of the same database; the predictions are stored in the registry. "+
		"Run the same command again to resume an interrupted job.")
	input := fl.String("input", "", "CSV file: id,text or id,created_on,title,description,tag (required)")
	loc := addRegistryFlags(fl)
	name := fl.String("model", server.DefaultModelName, "model to predict with")
	version := fl.Int("version", 0, "version to predict with; default: the serving version")
	artifacts := fl.String("artifacts", "artifacts", "model imported as version 1 when the registry is empty")
	shardFlag := fl.String("shard", "0/1", "INDEX/N: predict only the rows whose number modulo N is INDEX, so that N processes share one file")
	workers := fl.Int("workers", runtime.GOMAXPROCS(0), "chunks predicted at once in this process")
	if err := fl.parse(args, 0, 0); err != nil {
		return err
	}
	if *input == "" {
		return fl.usagef("--input is required")
	}
	shard, shards, serr := parseShard(*shardFlag)
	if serr != nil {
		return fl.usagef("%v", serr)
	}
	if *workers < 1 {
		return fl.usagef("--workers must be at least 1, got %d", *workers)
	}

	data, err := os.ReadFile(*input)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	all, bad, err := batch.ReadItems(strings.NewReader(string(data)), math.MaxInt)
	if err != nil {
		return fmt.Errorf("%s: %w", *input, err)
	}
	for _, b := range bad {
		fmt.Fprintf(e.stderr, "%s:%v (skipped)\n", *input, b)
	}
	// The API's rule for ids, so that GET /predictions/{item-id} finds each.
	all = slices.DeleteFunc(all, func(it registry.Item) bool {
		err := server.CheckItemID(it.ID)
		if err != nil {
			fmt.Fprintf(e.stderr, "%s: item %q: %v (skipped)\n", *input, it.ID, err)
		}
		return err != nil
	})
	items := all
	if shards > 1 {
		items = make([]registry.Item, 0, len(all)/shards+1)
		for i := shard; i < len(all); i += shards {
			items = append(items, all[i])
		}
	}
	if len(items) == 0 {
		fmt.Fprintf(e.stdout, "0 rows in shard %d/%d of %s: nothing to do\n", shard, shards, *input)
		return nil
	}

	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	store, reg, err := openRegistryFor(ctx, loc, true, e)
	if err != nil {
		return err
	}
	defer store.Close()
	if _, err := reg.ImportIfEmpty(ctx, *name, *artifacts, batchCreator); err != nil {
		return fmt.Errorf("%w", err)
	}
	if *version == 0 {
		m, err := store.Model(ctx, *name)
		if err != nil {
			return fmt.Errorf("%w", err)
		}
		if m.ServingVersion == 0 {
			return fmt.Errorf("model %s has no serving version; pass --version", *name)
		}
		*version = m.ServingVersion
	}
	if _, err := store.Version(ctx, *name, *version); err != nil {
		return fmt.Errorf("%w", err)
	}
	// As the API refuses them: an id the version has a prediction for, of
	// another text, would get that prediction back.
	changed, err := store.ChangedItems(ctx, *name, *version, items)
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	if len(changed) > 0 {
		skip := make(map[int]bool, len(changed))
		for _, i := range changed {
			skip[i] = true
			fmt.Fprintf(e.stderr, "%s: item %q: version %d has a stored prediction of another text under this id; give the new text a new id (skipped)\n",
				*input, items[i].ID, *version)
		}
		kept := make([]registry.Item, 0, len(items)-len(changed))
		for i, it := range items {
			if !skip[i] {
				kept = append(kept, it)
			}
		}
		items = kept
		if len(items) == 0 {
			fmt.Fprintf(e.stdout, "every row of shard %d/%d of %s was skipped: nothing to do\n", shard, shards, *input)
			return nil
		}
	}

	replica := fmt.Sprintf("%s-batch-%d", defaultReplicaID(), os.Getpid())
	queue, err := batch.NewQueue(ctx, batch.Config{Store: store, Load: batch.RegistryLoader(store, reg), Logger: log,
		Workers: *workers, Replica: replica, StopTimeout: 10 * time.Second})
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	sum := sha256.Sum256(fmt.Appendf(data, "\x00shard %d/%d\x00%s version %d", shard, shards, *name, *version))
	key := hex.EncodeToString(sum[:])
	// The key is the content: the only conflict is another process storing
	// the same job at this moment (a second replica of the same shard).
	// Wait for it, then share the job.
	var job registry.Job
	var created bool
	for wait := time.Now().Add(registry.AbandonedIntakeAge); ; {
		job, created, err = queue.Submit(ctx, registry.Job{
			ID: newBatchJobID(key), Model: *name, Version: *version, Status: registry.JobQueued, Total: len(items),
			CreatedBy: batchCreator, CreatedAt: time.Now().UTC(), IdempotencyKey: key, RequestSHA256: key,
		}, items)
		if registry.ErrorCode(err) != registry.ECONFLICT || time.Now().After(wait) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	if created {
		fmt.Fprintf(e.stderr, "batch job %s: %d rows of %s (shard %d/%d)\n", job.ID, len(items), *input, shard, shards)
	} else {
		fmt.Fprintf(e.stderr, "batch job %s: resuming (%d/%d rows done)\n", job.ID, job.Done, job.Total)
	}

	start, startDone := time.Now(), job.Done
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	runDone := make(chan error, 1)
	go func() { runDone <- queue.Run(runCtx) }()
	bar := newProgress(e.stderr, job.Total)
	job, err = waitForJob(runCtx, store, job.ID, func(j registry.Job) { bar.set(j.Done) })
	bar.finish()
	stop()
	if rerr := <-runDone; rerr != nil && err == nil {
		err = rerr
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted at %d/%d rows; run the same command again to resume job %s", job.Done, job.Total, job.ID)
	}
	if err != nil {
		return fmt.Errorf("%w", err)
	}
	if job.Status == registry.JobFailed {
		return fmt.Errorf("job %s failed: %s", job.ID, job.Error)
	}
	elapsed := time.Since(start)
	skipped := fmt.Sprintf("%d malformed rows skipped", len(bad))
	if len(changed) > 0 {
		skipped += fmt.Sprintf(", %d rows of ids predicted for another text skipped", len(changed))
	}
	fmt.Fprintf(e.stdout, "%d rows: job %s succeeded with %s version %d, %s; %.0f rows/s\n",
		len(items), job.ID, *name, *version, skipped, float64(job.Done-startDone)/elapsed.Seconds())
	return nil
}

// waitForJob follows job id until it finishes or ctx is done, calling
// progress now and then, and returns the job as last seen.
func waitForJob(ctx context.Context, store registry.BatchStore, id string, progress func(registry.Job)) (registry.Job, error) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	var j registry.Job
	for {
		var err error
		if j, err = store.Job(context.WithoutCancel(ctx), id); err != nil {
			return j, err
		}
		progress(j)
		if j.Finished() {
			return j, nil
		}
		select {
		case <-ctx.Done():
			return j, nil
		case <-t.C:
		}
	}
}

// newBatchJobID is the id of the job under key: 16 hex digits, like the
// jobs of POST /batch-jobs.
func newBatchJobID(key string) string { return key[:16] }

// parseShard reads INDEX/N.
func parseShard(s string) (index, n int, err error) {
	a, b, ok := strings.Cut(s, "/")
	index, ierr := strconv.Atoi(a)
	n, nerr := strconv.Atoi(b)
	if !ok || ierr != nil || nerr != nil || n < 1 || index < 0 || index >= n {
		return 0, 0, errors.New("--shard must be INDEX/N with 0 <= INDEX < N")
	}
	return index, n, nil
}

// progress draws a progress bar with rows/s and ETA on a terminal line.
type progress struct {
	w     io.Writer
	total int
	start time.Time
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, total: total, start: time.Now()}
}

func (p *progress) set(done int) {
	now := time.Now()
	if now.Sub(p.last) < 100*time.Millisecond && done < p.total {
		return
	}
	p.last = now
	rate := float64(done) / now.Sub(p.start).Seconds()
	eta := "?"
	if rate > 0 {
		eta = (time.Duration(float64(p.total-done)/rate) * time.Second).Round(time.Second).String()
	}
	const width = 30
	filled := width
	if p.total > 0 {
		filled = width * done / p.total
	}
	fmt.Fprintf(p.w, "\r[%s%s] %d/%d rows  %.0f rows/s  ETA %s ", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), done, p.total, rate, eta)
}

func (p *progress) finish() { fmt.Fprintln(p.w) }
