package batch

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/registry/registrytest"
)

func TestReadItems(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		csv     string
		want    []registry.Item
		badRows []int
		err     string
		max     int // of items; default 100
	}{
		{name: "id,text", csv: "id,text\n1,YOLO for detection\n2,\"BERT, for NER\"\n",
			want: []registry.Item{{ID: "1", Text: "YOLO for detection"}, {ID: "2", Text: "BERT, for NER"}}},
		{name: "Made With ML columns", csv: "id,created_on,title,description,tag\n6,2020-02-20,YOLO,\"Object\ndetection\",computer-vision\n",
			want: []registry.Item{{ID: "6", Text: "YOLO Object\ndetection"}}},
		{name: "malformed rows are skipped with their line", csv: "id,text\n1,ok\n,no id\n3,\n4,\"unterminated\n5,fine\n",
			want: []registry.Item{{ID: "1", Text: "ok"}}, badRows: []int{3, 4, 5}},
		{name: "too few columns", csv: "id,created_on,title,description\n7,2020,Title only\n8,2020,T,D\n",
			want: []registry.Item{{ID: "8", Text: "T D"}}, badRows: []int{2}},
		{name: "control characters, as in JSON items and /predict", csv: "id,text\n1,\"NUL\x00here\"\n2,\x01start\n3,\"tab\tand\r\nnewline ok\"\n",
			want: []registry.Item{{ID: "3", Text: "tab\tand\nnewline ok"}}, badRows: []int{2, 3}},
		{name: "control character in an id", csv: "id,text\na\x7fb,text\n", badRows: []int{2}},
		{name: "a repeated id", csv: "id,text\nd1,hello\nd2,there\nd1,world\n d1,spaced is another id\n",
			want: []registry.Item{{ID: "d1", Text: "hello"}, {ID: "d2", Text: "there"}, {ID: " d1", Text: "spaced is another id"}}, badRows: []int{4}},
		{name: "the id of a bad row may be given again", csv: "id,text\nd1,\nd1,fine\n",
			want: []registry.Item{{ID: "d1", Text: "fine"}}, badRows: []int{2}},
		{name: "as many rows as the limit", max: 3, csv: "id,text\n1,a\n,bad\n3,c\n",
			want: []registry.Item{{ID: "1", Text: "a"}, {ID: "3", Text: "c"}}, badRows: []int{3}},
		{name: "a row past the limit, good or bad", max: 3, csv: "id,text\n1,a\n,bad\n3,c\n4,d\n5,e\n", err: "more than 3 items (line 5 is item 4)"},
		{name: "no usable header", csv: "name,body\nx,y\n", err: "needs the columns"},
		{name: "empty file", csv: "", err: "read header"},
		// Shapes no valid file has, refused before they are read whole.
		{name: "a header of too many columns", csv: "id,text" + strings.Repeat(",x", MaxColumns) + "\n1,a\n", err: "columns; at most 64"},
		{name: "a field over a line's bound", csv: "id,text\n1," + strings.Repeat("a", MaxLineBytes+1) + "\n", err: "a line is longer than"},
		{name: "a header over a line's bound", csv: strings.Repeat(",", MaxLineBytes+1) + "\n", err: "a line is longer than"},
		{name: "long lines that are allowed", csv: "id,text\n1,\"" + strings.Repeat("é", MaxTextLen) + "\"\n",
			want: []registry.Item{{ID: "1", Text: strings.Repeat("é", MaxTextLen)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			items, bad, err := ReadItems(strings.NewReader(tc.csv), cmp.Or(tc.max, 100))
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
	return testRegistryAt(t, filepath.Join(t.TempDir(), "registry.db"))
}

// testRegistryAt opens the registry whose database is at path, importing
// the committed model as version 1 if it is empty: several calls with one
// path are several replicas sharing a database.
func testRegistryAt(t *testing.T, path string) (testReg, *model.Classifier) {
	t.Helper()
	ctx := context.Background()
	store, err := registry.OpenSQLite(ctx, path)
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

// startQueue opens a queue over reg's database as replica, with workers
// workers, and runs it until the test ends; jobs, when not nil, replaces
// the store its workers use.
func startQueue(t *testing.T, reg testReg, load Loader, replica string, workers int, jobs registry.BatchStore) *Queue {
	t.Helper()
	q, err := NewQueue(context.Background(), Config{Store: reg.Store(), Jobs: jobs, Load: load,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Workers: workers, Replica: replica, StopTimeout: 5 * time.Second})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-done)
	})
	return q
}

func newJob(id string, n int) registry.Job {
	return registry.Job{ID: id, Model: "tagifai", Version: 1, Status: registry.JobQueued, Total: n, CreatedBy: "t", CreatedAt: time.Now().UTC()}
}

// TestQueueRunsJob: a job of several chunks is predicted and stored whole,
// each item once, and its replica count says who did it.
func TestQueueRunsJob(t *testing.T) {
	t.Parallel()
	reg, c := testRegistry(t)
	q := startQueue(t, reg, loaderOf(c), "replica-a", 2, nil)
	in := items(2*ChunkSize+321, "a")
	job, created, err := q.Submit(context.Background(), newJob("0000000000000001", len(in)), in)
	require.NoError(t, err)
	require.True(t, created)
	got := waitFor(t, reg.Store(), job.ID)
	assert.Equal(t, registry.JobSucceeded, got.Status, got.Error)
	assert.Equal(t, len(in), got.Done)
	assert.Equal(t, []registry.ReplicaCount{{Replica: "replica-a", Items: len(in)}}, got.Replicas)
	preds := allPredictions(t, reg.Store(), job.ID)
	require.Len(t, preds, len(in))
	want := Predict(c, "tagifai", 1, in, time.Time{})
	for i, p := range preds {
		assert.Equal(t, in[i].ID, p.ItemID)
		assert.Equal(t, want[i].Tag, p.Tag)
	}
}

// testDatabases opens, for each database the tests run on, a store of one
// database per test: SQLite, and the PostgreSQL at
// TAGIFAI_TEST_POSTGRES_URL when it is set.
func testDatabases() map[string]func(t *testing.T) func(context.Context) (*registry.SQLStore, error) {
	databases := map[string]func(t *testing.T) func(context.Context) (*registry.SQLStore, error){
		"sqlite": func(t *testing.T) func(context.Context) (*registry.SQLStore, error) {
			path := filepath.Join(t.TempDir(), "registry.db")
			return func(ctx context.Context) (*registry.SQLStore, error) { return registry.OpenSQLite(ctx, path) }
		},
	}
	if base := registrytest.PostgresURL(); base != "" {
		databases["postgres"] = func(t *testing.T) func(context.Context) (*registry.SQLStore, error) {
			url := registrytest.PostgresSchema(t, base)
			return func(ctx context.Context) (*registry.SQLStore, error) { return registry.OpenPostgres(ctx, url) }
		}
	}
	return databases
}

// TestReplicasShareJob: two replicas on one database finish one job
// together; every item is counted once, by one of them. It runs on SQLite,
// and on the PostgreSQL at TAGIFAI_TEST_POSTGRES_URL when it is set.
func TestReplicasShareJob(t *testing.T) {
	t.Parallel()
	databases := testDatabases()
	for name, database := range databases {
		t.Run(name, func(t *testing.T) {
			open := database(t)
			replica := func() (testReg, *model.Classifier) {
				ctx := context.Background()
				store, err := open(ctx)
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
			regA, c := replica()
			regB, _ := replica()
			qa := startQueue(t, regA, loaderOf(c), "replica-a", 1, nil)
			startQueue(t, regB, loaderOf(c), "replica-b", 1, nil)
			in := items(6*ChunkSize, "s")
			job, _, err := qa.Submit(context.Background(), newJob("0000000000000002", len(in)), in)
			require.NoError(t, err)
			got := waitFor(t, regB.Store(), job.ID)
			assert.Equal(t, registry.JobSucceeded, got.Status, got.Error)
			assert.Equal(t, len(in), got.Done)
			sum := 0
			for _, r := range got.Replicas {
				assert.Contains(t, []string{"replica-a", "replica-b"}, r.Replica)
				sum += r.Items
			}
			assert.Equal(t, len(in), sum, "each item counted once: %v", got.Replicas)
			assert.Len(t, allPredictions(t, regA.Store(), job.ID), len(in))
		})
	}
}

// TestReplicasDeleteCancelsTasks: deleting a job, on any replica, cancels
// its chunk tasks that wait in the queue in the same transaction, on SQLite
// and on PostgreSQL.
func TestReplicasDeleteCancelsTasks(t *testing.T) {
	t.Parallel()
	for name, database := range testDatabases() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			open := database(t)
			queue := func(replica string) *Queue {
				store, err := open(ctx)
				require.NoError(t, err)
				t.Cleanup(func() { store.Close() })
				q, err := NewQueue(ctx, Config{Store: store, Load: func(context.Context, string, int) (Classifier, error) { return nil, errors.New("not run") },
					Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Workers: 1, Replica: replica, StopTimeout: time.Second})
				require.NoError(t, err)
				return q
			}
			qa, qb := queue("replica-a"), queue("replica-b")
			reg, err := registry.New(qa.store.(*registry.SQLStore), filepath.Join(t.TempDir(), "artifacts"), slog.New(slog.NewTextHandler(io.Discard, nil)))
			require.NoError(t, err)
			_, err = reg.ImportIfEmpty(ctx, "tagifai", "../artifacts", "test")
			require.NoError(t, err)
			chunks := func(q *Queue, id string) map[rivertype.JobState]int {
				tasks, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(chunkArgs{}.Kind()).
					Where("args->>'job_id' = @job_id", river.NamedArgs{"job_id": id}))
				require.NoError(t, err)
				states := map[rivertype.JobState]int{}
				for _, task := range tasks.Jobs {
					states[task.State]++
				}
				return states
			}
			kept, _, err := qa.Submit(ctx, newJob("0000000000000011", 2*ChunkSize), items(2*ChunkSize, "k"))
			require.NoError(t, err)
			deleted, _, err := qa.Submit(ctx, newJob("0000000000000012", 3*ChunkSize+1), items(3*ChunkSize+1, "x"))
			require.NoError(t, err)
			assert.Equal(t, map[rivertype.JobState]int{rivertype.JobStateAvailable: 4}, chunks(qa, deleted.ID))

			_, err = qb.Delete(ctx, deleted.ID)
			require.NoError(t, err)
			assert.Equal(t, map[rivertype.JobState]int{rivertype.JobStateCancelled: 4}, chunks(qa, deleted.ID))
			assert.Equal(t, map[rivertype.JobState]int{rivertype.JobStateAvailable: 2}, chunks(qa, kept.ID), "other jobs' tasks stay")
			_, err = qb.Delete(ctx, deleted.ID)
			assert.Equal(t, registry.ENOTFOUND, registry.ErrorCode(err))
		})
	}
}

// TestQueueSkipsStoredItems: items the version has already predicted, in
// an earlier job or twice in this one, are stored once.
func TestQueueSkipsStoredItems(t *testing.T) {
	t.Parallel()
	reg, c := testRegistry(t)
	store := reg.Store()
	ctx := context.Background()
	first := items(10, "a")
	_, err := store.SavePredictions(ctx, Predict(c, "tagifai", 1, first[:5], time.Now()))
	require.NoError(t, err)
	q := startQueue(t, reg, loaderOf(c), "replica-a", 1, nil)
	in := append(append([]registry.Item{}, first...), first[0], first[9])
	job, _, err := q.Submit(ctx, newJob("0000000000000003", len(in)), in)
	require.NoError(t, err)
	got := waitFor(t, store, job.ID)
	assert.Equal(t, registry.JobSucceeded, got.Status)
	assert.Equal(t, len(in), got.Done)
	n, err := store.SavePredictions(ctx, Predict(c, "tagifai", 1, first, time.Now()))
	require.NoError(t, err)
	assert.Zero(t, n, "every item was stored, once")
}

// TestQueueFailsJobOfMissingVersion: a job whose version cannot be loaded
// fails with the reason.
func TestQueueFailsJobOfMissingVersion(t *testing.T) {
	t.Parallel()
	reg, _ := testRegistry(t)
	q := startQueue(t, reg, RegistryLoader(reg.Store(), reg.Registry), "replica-a", 1, nil)
	job := newJob("0000000000000004", 1)
	job.Version = 7
	_, _, err := q.Submit(context.Background(), job, items(1, "x"))
	require.NoError(t, err)
	got := waitFor(t, reg.Store(), job.ID)
	assert.Equal(t, registry.JobFailed, got.Status)
	assert.Contains(t, got.Error, "version 7")
}

// TestQueueStopsDeletedJob: the chunks of a job deleted while it runs store
// nothing more, those still waiting are cancelled with it (they do not
// run), and the queue carries on with the next job.
func TestQueueStopsDeletedJob(t *testing.T) {
	t.Parallel()
	reg, c := testRegistry(t)
	store := reg.Store()
	ctx := context.Background()
	started := make(chan struct{})
	var once sync.Once
	release := make(chan struct{})
	slow := func(ctx context.Context, name string, version int) (Classifier, error) {
		once.Do(func() { close(started) })
		<-release
		return c, nil
	}
	q := startQueue(t, reg, slow, "replica-a", 1, nil)
	job, _, err := q.Submit(ctx, newJob("0000000000000005", 3*ChunkSize), items(3*ChunkSize, "d"))
	require.NoError(t, err)
	<-started
	_, err = q.Delete(ctx, job.ID)
	require.NoError(t, err)
	tasks, err := q.client.JobList(ctx, river.NewJobListParams().Kinds(chunkArgs{}.Kind()).
		Where("args->>'job_id' = @job_id", river.NamedArgs{"job_id": job.ID}))
	require.NoError(t, err)
	states := map[rivertype.JobState]int{}
	for _, task := range tasks.Jobs {
		states[task.State]++
	}
	assert.Equal(t, map[rivertype.JobState]int{rivertype.JobStateRunning: 1, rivertype.JobStateCancelled: 2}, states,
		"the chunk running goes on (storing nothing), the two waiting are cancelled")
	close(release)
	next, _, err := q.Submit(ctx, newJob("0000000000000006", 1), items(1, "n"))
	require.NoError(t, err)
	assert.Equal(t, registry.JobSucceeded, waitFor(t, store, next.ID).Status)
	for _, id := range []string{"d00000", "d01000", "d02000"} {
		_, err := store.Prediction(ctx, "tagifai", 1, id)
		assert.Equal(t, registry.ENOTFOUND, registry.ErrorCode(err), "nothing of the deleted job is stored: %s", id)
	}
}

// hangingStore is a store whose SaveChunk waits until its context is done,
// like a database that stops answering, and tells whether that context had
// a deadline.
type hangingStore struct {
	registry.BatchStore
	entered     chan struct{}
	hadDeadline chan bool
}

func (s hangingStore) SaveChunk(ctx context.Context, _ string, _ registry.Chunk, _ func(*sql.Tx) error) (string, error) {
	_, ok := ctx.Deadline()
	s.hadDeadline <- ok
	close(s.entered)
	<-ctx.Done()
	return "", ctx.Err()
}

// TestQueueStopsWhenStoreHangs: a store call that never returns does not
// hold the queue's shutdown: every store call of a chunk has a deadline,
// and Run returns once StopTimeout has passed (issue 11, defect 13: the
// runner stored chunks with a context that nothing cancelled, so SIGTERM
// could wait for ever).
func TestQueueStopsWhenStoreHangs(t *testing.T) {
	t.Parallel()
	reg, c := testRegistry(t)
	hung := hangingStore{BatchStore: reg.Store(), entered: make(chan struct{}), hadDeadline: make(chan bool, 1)}
	q, err := NewQueue(context.Background(), Config{Store: reg.Store(), Jobs: hung, Load: loaderOf(c),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Replica: "replica-a", StopTimeout: 100 * time.Millisecond})
	require.NoError(t, err)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	_, _, err = q.Submit(context.Background(), newJob("0000000000000007", 1), items(1, "h"))
	require.NoError(t, err)
	<-hung.entered
	assert.True(t, <-hung.hadDeadline, "a chunk's store calls have a deadline")
	stop()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(time.Minute):
		t.Fatal("Run did not return while a store call hung")
	}
}

// TestReplicasReclaimTheirOwnRunningTasks: a replica that starts again after
// being killed queues at once the chunk tasks it left running, on SQLite
// and PostgreSQL; tasks another replica is running stay as they are.
func TestReplicasReclaimTheirOwnRunningTasks(t *testing.T) {
	t.Parallel()
	for name, database := range testDatabases() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			store, err := database(t)(ctx)
			require.NoError(t, err)
			t.Cleanup(func() { store.Close() })
			cfg := Config{Store: store, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Replica: "replica-a",
				Load: func(context.Context, string, int) (Classifier, error) { return nil, errors.New("not in this test") }}
			before, err := NewQueue(ctx, cfg)
			require.NoError(t, err)
			in := items(3*ChunkSize, "r")
			_, _, err = before.Submit(ctx, newJob("0000000000000009", len(in)), in)
			require.NoError(t, err)

			// What a crash leaves: replica-a was running one chunk, and
			// replica-b, alive, is running another.
			exec := before.client.Driver().GetExecutor()
			claim := func(replica string) int64 {
				res, err := exec.JobGetAvailable(ctx, &riverdriver.JobGetAvailableParams{ClientID: replica, MaxToLock: 1, MaxAttemptedBy: 100, Queue: QueueName})
				require.NoError(t, err)
				require.Len(t, res.Jobs, 1)
				return res.Jobs[0].ID
			}
			mine, theirs := claim("replica-a"), claim("replica-b")

			after, err := NewQueue(ctx, cfg)
			require.NoError(t, err)
			n, err := after.reclaim(ctx)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			got, err := after.client.JobGet(ctx, mine)
			require.NoError(t, err)
			assert.Equal(t, rivertype.JobStateAvailable, got.State, "the task replica-a left running is queued again")
			require.NotEmpty(t, got.Errors)
			assert.Contains(t, got.Errors[len(got.Errors)-1].Error, "replica replica-a restarted")
			other, err := after.client.JobGet(ctx, theirs)
			require.NoError(t, err)
			assert.Equal(t, rivertype.JobStateRunning, other.State, "replica-b's task is replica-b's")

			n, err = after.reclaim(ctx)
			require.NoError(t, err)
			assert.Zero(t, n, "nothing left to take back")
		})
	}
}
