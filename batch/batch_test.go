package batch

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

func TestReadItems(t *testing.T) {
	tests := []struct {
		name    string
		csv     string
		want    []registry.Item
		badRows []int
		err     string
	}{
		{name: "id,text", csv: "id,text\n1,YOLO for detection\n2,\"BERT, for NER\"\n",
			want: []registry.Item{{ID: "1", Text: "YOLO for detection"}, {ID: "2", Text: "BERT, for NER"}}},
		{name: "Made With ML columns", csv: "id,created_on,title,description,tag\n6,2020-02-20,YOLO,\"Object\ndetection\",computer-vision\n",
			want: []registry.Item{{ID: "6", Text: "YOLO Object\ndetection"}}},
		{name: "malformed rows are skipped with their line", csv: "id,text\n1,ok\n,no id\n3,\n4,\"unterminated\n5,fine\n",
			want: []registry.Item{{ID: "1", Text: "ok"}}, badRows: []int{3, 4, 5}},
		{name: "too few columns", csv: "id,created_on,title,description\n7,2020,Title only\n8,2020,T,D\n",
			want: []registry.Item{{ID: "8", Text: "T D"}}, badRows: []int{2}},
		{name: "no usable header", csv: "name,body\nx,y\n", err: "needs the columns"},
		{name: "empty file", csv: "", err: "read header"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, bad, err := ReadItems(strings.NewReader(tc.csv))
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, items)
			var lines []int
			for _, b := range bad {
				lines = append(lines, b.Line)
			}
			assert.Equal(t, tc.badRows, lines, "bad rows: %v", bad)
		})
	}
}

// testReg is a registry and its store.
type testReg struct {
	*registry.Registry
	store *registry.SQLStore
}

func (r testReg) Store() *registry.SQLStore { return r.store }

// testRegistry opens a registry holding the committed model as version 1.
func testRegistry(t *testing.T) (testReg, *model.Classifier) {
	t.Helper()
	ctx := context.Background()
	store, err := registry.OpenSQLite(ctx, filepath.Join(t.TempDir(), "registry.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	reg, err := registry.New(store, filepath.Join(t.TempDir(), "artifacts"), slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	_, err = reg.ImportIfEmpty(ctx, "tagifai", "../artifacts", "test")
	require.NoError(t, err)
	art, _, err := reg.Open(ctx, "tagifai", 1)
	require.NoError(t, err)
	return testReg{reg, store}, art.Classifier
}

func loaderOf(c *model.Classifier) Loader {
	return func(context.Context, string, int) (Classifier, error) { return c, nil }
}

// waitFor polls a job until it finishes.
func waitFor(t *testing.T, store *registry.SQLStore, id string) registry.Job {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		j, err := store.Job(context.Background(), id)
		require.NoError(t, err)
		if j.Status == registry.JobSucceeded || j.Status == registry.JobFailed {
			return j
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("job %s did not finish", id)
	return registry.Job{}
}

// allPredictions pages through a job's predictions.
func allPredictions(t *testing.T, store *registry.SQLStore, id string) []registry.StoredPrediction {
	t.Helper()
	var out []registry.StoredPrediction
	from := 0
	for {
		page, next, err := store.JobPredictions(context.Background(), id, from, 700)
		require.NoError(t, err)
		out = append(out, page...)
		if next == 0 {
			return out
		}
		from = next
	}
}

func items(n int, prefix string) []registry.Item {
	out := make([]registry.Item, n)
	texts := []string{"YOLO for object detection in videos", "Fine-tuning BERT transformers for NER", "Deploying models with Kubernetes and MLflow"}
	for i := range out {
		out[i] = registry.Item{ID: fmt.Sprintf("%s%05d", prefix, i), Text: texts[i%len(texts)]}
	}
	return out
}

// createJob stores a queued job of version 1 over in, as POST /batch-jobs
// does, and returns it.
func createJob(t *testing.T, store registry.BatchStore, id string, in []registry.Item) registry.Job {
	t.Helper()
	job := registry.Job{ID: id, Model: "tagifai", Version: 1, Status: registry.JobQueued, Total: len(in), CreatedBy: "t", CreatedAt: time.Now()}
	require.NoError(t, store.CreateJob(context.Background(), job, in))
	return job
}

// TestRunnerResumes: a job interrupted after its first chunk resumes, by
// the runner that claimed it when it starts again or by another once the
// claim lapses, and ends with every item stored exactly once.
func TestRunnerResumes(t *testing.T) {
	tests := []struct {
		name       string
		claimedBy  string
		leaseUntil time.Duration // from now
	}{
		{name: "restarted under the same name", claimedBy: "replica-a", leaseUntil: time.Hour},
		{name: "another replica's lapsed claim", claimedBy: "replica-gone", leaseUntil: -time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg, c := testRegistry(t)
			store := reg.Store()
			ctx := context.Background()
			in := items(2500, "it")
			job := createJob(t, store, "0000000000000001", in)
			// What a run killed after one chunk leaves behind.
			now := time.Now()
			_, err := store.ClaimJob(ctx, job.ID, tc.claimedBy, now, now.Add(tc.leaseUntil))
			require.NoError(t, err)
			require.NoError(t, store.SaveChunk(ctx, job.ID, tc.claimedBy, now.Add(tc.leaseUntil),
				registry.Chunk{Done: ChunkSize, Predictions: Predict(c, "tagifai", 1, in[:ChunkSize], now)}))

			r := NewRunner(store, loaderOf(c), slog.New(slog.NewTextHandler(io.Discard, nil)), nil, 1, "replica-a")
			rctx, stop := context.WithCancel(ctx)
			require.NoError(t, r.Start(rctx))
			got := waitFor(t, store, job.ID)
			stop()
			r.Wait()

			assert.Equal(t, registry.JobSucceeded, got.Status)
			assert.Equal(t, len(in), got.Done)
			assert.Empty(t, got.Owner, "a finished job is nobody's")
			preds := allPredictions(t, store, job.ID)
			require.Len(t, preds, len(in))
			seen := map[string]bool{}
			for i, p := range preds {
				assert.Equal(t, in[i].ID, p.ItemID, "predictions come in item order")
				assert.False(t, seen[p.ItemID], "item %s stored twice", p.ItemID)
				seen[p.ItemID] = true
			}
			assert.Equal(t, "computer-vision", preds[0].Tag)
			assert.Equal(t, "natural-language-processing", preds[1].Tag)
			assert.Equal(t, "mlops", preds[2].Tag)
		})
	}
}

// TestRunnersShareJobs: a runner leaves alone a job that another holds, and
// takes it over when the other gives it back or its claim lapses.
func TestRunnersShareJobs(t *testing.T) {
	reg, c := testRegistry(t)
	store := reg.Store()
	ctx := context.Background()
	in := items(1500, "s")
	job := createJob(t, store, "0000000000000004", in)
	now := time.Now()
	_, err := store.ClaimJob(ctx, job.ID, "replica-a", now, now.Add(time.Hour))
	require.NoError(t, err)

	b := NewRunner(store, loaderOf(c), slog.New(slog.NewTextHandler(io.Discard, nil)), nil, 1, "replica-b")
	b.scanEvery = 5 * time.Millisecond
	bctx, stop := context.WithCancel(ctx)
	defer func() { stop(); b.Wait() }()
	require.NoError(t, b.Start(bctx))
	time.Sleep(100 * time.Millisecond) // twenty scans
	got, err := store.Job(ctx, job.ID)
	require.NoError(t, err)
	assert.Equal(t, 0, got.Done, "replica b leaves a job that replica a holds")
	assert.Equal(t, "replica-a", got.Owner)

	require.NoError(t, store.ReleaseJob(ctx, job.ID, "replica-a"))
	got = waitFor(t, store, job.ID)
	assert.Equal(t, registry.JobSucceeded, got.Status)
	assert.Len(t, allPredictions(t, store, job.ID), len(in))

	err = store.SaveChunk(ctx, job.ID, "replica-a", now.Add(time.Hour), registry.Chunk{Done: 1})
	assert.Equal(t, registry.ECONFLICT, registry.ErrorCode(err), "replica a lost its claim")
}

// countingObserver counts what runners report, from any goroutine.
type countingObserver struct {
	mu        sync.Mutex
	predicted int
	finished  map[string]int
}

func (o *countingObserver) JobFinished(status string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.finished[status]++
}

func (o *countingObserver) ItemsPredicted(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.predicted += n
}

// TestRunnersUnderOneName: two runners given the same name (two replicas
// started with the same --replica-id) share every claim, yet each chunk is
// stored and counted once, and the job finishes once.
func TestRunnersUnderOneName(t *testing.T) {
	reg, c := testRegistry(t)
	store := reg.Store()
	in := items(8*ChunkSize, "tw")
	job := createJob(t, store, "0000000000000006", in)
	obs := &countingObserver{finished: map[string]int{}}
	ctx, stop := context.WithCancel(context.Background())
	var runners []*Runner
	defer func() {
		stop()
		for _, r := range runners {
			r.Wait()
		}
	}()
	for range 2 {
		r := NewRunner(store, loaderOf(c), slog.New(slog.NewTextHandler(io.Discard, nil)), obs, 1, "replica-a")
		r.scanEvery = 5 * time.Millisecond
		runners = append(runners, r)
		require.NoError(t, r.Start(ctx))
	}
	got := waitFor(t, store, job.ID)
	assert.Equal(t, registry.JobSucceeded, got.Status)
	assert.Equal(t, len(in), got.Done)
	assert.Len(t, allPredictions(t, store, job.ID), len(in))
	stop()
	for _, r := range runners {
		r.Wait()
	}
	assert.Equal(t, len(in), obs.predicted, "items counted once")
	assert.Equal(t, map[string]int{registry.JobSucceeded: 1}, obs.finished, "the job finished once")
}

// TestRunnerStopsDeletedJob: a job deleted while it runs stops at its next
// chunk, quietly: it is not marked finished, nothing is logged as an error,
// and what it stored before stays.
func TestRunnerStopsDeletedJob(t *testing.T) {
	reg, c := testRegistry(t)
	store := reg.Store()
	in := items(10*ChunkSize, "del")
	job := createJob(t, store, "0000000000000007", in)
	var logs syncBuffer
	obs := &countingObserver{finished: map[string]int{}}
	r := NewRunner(store, loaderOf(c), slog.New(slog.NewTextHandler(&logs, nil)), obs, 1, "replica-a")
	ctx, stop := context.WithCancel(context.Background())
	defer func() { stop(); r.Wait() }()
	require.NoError(t, r.Start(ctx))

	require.Eventually(t, func() bool {
		j, err := store.Job(ctx, job.ID)
		return err == nil && j.Done > 0
	}, 10*time.Second, time.Millisecond)
	deleted, err := store.DeleteJob(ctx, job.ID)
	require.NoError(t, err)
	require.Less(t, deleted.Done, deleted.Total, "deleted while running")
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.active) == 0
	}, 10*time.Second, time.Millisecond, "the runner lets the job go")

	stored, err := store.VersionPredictions(ctx, "tagifai", 1, "", len(in))
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(stored), deleted.Done, "what it stored before stays")
	assert.Less(t, len(stored), len(in), "it stopped")
	assert.Empty(t, obs.finished, "a deleted job is not marked finished")
	assert.NotContains(t, logs.String(), "level=ERROR")
	assert.Contains(t, logs.String(), "batch job deleted")
}

// syncBuffer is a bytes.Buffer that goroutines may write at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunnerSkipsStoredItems: items the version has already predicted, in
// an earlier job or twice in this one, are stored once.
func TestRunnerSkipsStoredItems(t *testing.T) {
	reg, c := testRegistry(t)
	store := reg.Store()
	ctx := context.Background()
	first := items(10, "a")
	_, err := store.SavePredictions(ctx, Predict(c, "tagifai", 1, first[:5], time.Now()))
	require.NoError(t, err)

	in := append(append([]registry.Item{}, first...), first[0], first[9])
	r := NewRunner(store, loaderOf(c), slog.New(slog.NewTextHandler(io.Discard, nil)), nil, 2, "replica-a")
	rctx, stop := context.WithCancel(ctx)
	defer func() { stop(); r.Wait() }()
	require.NoError(t, r.Start(rctx))
	job := registry.Job{ID: "0000000000000002", Model: "tagifai", Version: 1, Status: registry.JobQueued, Total: len(in), CreatedBy: "t", CreatedAt: time.Now()}
	require.NoError(t, r.Submit(ctx, job, in))
	got := waitFor(t, store, job.ID)
	assert.Equal(t, registry.JobSucceeded, got.Status)
	for _, id := range []string{"a00000", "a00009"} {
		_, err := store.Prediction(ctx, "tagifai", 1, id)
		assert.NoError(t, err, "item %s is stored", id)
	}
	_, err = store.Prediction(ctx, "tagifai", 1, "a00010")
	assert.Equal(t, registry.ENOTFOUND, registry.ErrorCode(err))
	n, err := store.SavePredictions(ctx, Predict(c, "tagifai", 1, first, time.Now()))
	require.NoError(t, err)
	assert.Zero(t, n, "every item was stored, once")
}

// TestRunnerFailsJobOfMissingVersion: a job whose version cannot be loaded
// fails with the reason.
func TestRunnerFailsJobOfMissingVersion(t *testing.T) {
	reg, _ := testRegistry(t)
	store := reg.Store()
	ctx := context.Background()
	load := func(ctx context.Context, name string, version int) (Classifier, error) {
		art, _, err := reg.Open(ctx, name, version)
		if err != nil {
			return nil, err
		}
		return art.Classifier, nil
	}
	r := NewRunner(store, load, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, 1, "replica-a")
	rctx, stop := context.WithCancel(ctx)
	defer func() { stop(); r.Wait() }()
	require.NoError(t, r.Start(rctx))
	job := registry.Job{ID: "0000000000000003", Model: "tagifai", Version: 7, Status: registry.JobQueued, Total: 1, CreatedBy: "t", CreatedAt: time.Now()}
	require.NoError(t, r.Submit(ctx, job, items(1, "x")))
	got := waitFor(t, store, job.ID)
	assert.Equal(t, registry.JobFailed, got.Status)
	assert.Contains(t, got.Error, "version 7")
}
