package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// openSQL opens an empty store of every database the SQL tests run
// against, closed when the test ends.
func openSQL(t *testing.T) map[string]func(t *testing.T) *SQLStore {
	out := map[string]func(t *testing.T) *SQLStore{}
	for name, newDatabase := range databaseFactories(t) {
		out[name] = func(t *testing.T) *SQLStore {
			s, err := newDatabase(t)(context.Background())
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			require.NoError(t, s.CreateVersion(context.Background(), testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
			return s
		}
	}
	return out
}

func manyItems(n int) []Item {
	items := make([]Item, n)
	for i := range items {
		items[i] = Item{ID: fmt.Sprintf("item-%06d", i), Text: fmt.Sprintf("Serving models with Kubernetes, part %d", i)}
	}
	return items
}

// TestStoreIntakeIsBounded: a large job is stored in transactions of at most
// IntakeTxItems items, and between them other writes go through (issue 11,
// defect 2: one transaction held SQLite's write lock for the whole job,
// and other writes failed meanwhile). The job becomes visible, with all its
// items and its work queued, in one last transaction.
func TestStoreIntakeIsBounded(t *testing.T) {
	ctx := context.Background()
	for name, open := range openSQL(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			const n = 3*IntakeTxItems + 123
			var sizes []int
			s.intakeCommitted = func(items int, _ time.Duration) {
				sizes = append(sizes, items)
				// Another operation's write, while the intake is under way.
				_, err := s.CreateUser(ctx, User{Name: fmt.Sprintf("user-%d", len(sizes)), Role: RoleViewer, CreatedAt: time.Now()}, fmt.Sprintf("hash-%d", len(sizes)))
				require.NoError(t, err)
				_, err = s.Job(ctx, "big")
				assert.Equal(t, ENOTFOUND, ErrorCode(err), "a job is invisible until it is stored whole")
			}
			job := Job{ID: "big", Model: "tagifai", Version: 1, Status: JobQueued, Total: n, CreatedBy: "alice", CreatedAt: time.Now().UTC()}
			var enqueued Job
			_, created, err := s.CreateJob(ctx, job, manyItems(n), func(ctx context.Context, tx *sql.Tx, j Job) error {
				enqueued = j
				// Read from another connection: the items were committed
				// before this last transaction.
				var rows, items int
				require.NoError(t, s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(n), 0) FROM batch_chunks WHERE job_id = $1`, j.ID).Scan(&rows, &items))
				assert.Equal(t, n, items)
				return nil
			})
			require.NoError(t, err)
			assert.True(t, created)
			assert.Equal(t, job, enqueued)
			assert.Equal(t, []int{IntakeTxItems, IntakeTxItems, IntakeTxItems, 123}, sizes)
			got, err := s.JobItems(ctx, "big", IntakeTxItems-2, 5)
			require.NoError(t, err)
			assert.Equal(t, manyItems(n)[IntakeTxItems-2:IntakeTxItems+3], got, "items across rows and transactions, in order")
		})
	}
}

// TestStoreIntakeFailure: an intake that fails stores nothing, and one
// abandoned half-way by a crash is removed by PurgeAbandonedIntakes.
func TestStoreIntakeFailure(t *testing.T) {
	ctx := context.Background()
	for name, open := range openSQL(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			job := Job{ID: "failing", Model: "tagifai", Version: 1, Status: JobQueued, Total: 10, CreatedBy: "alice", CreatedAt: time.Now().UTC()}
			broken := errors.New("queue unavailable")
			_, _, err := s.CreateJob(ctx, job, manyItems(10), func(context.Context, *sql.Tx, Job) error { return broken })
			require.ErrorIs(t, err, broken)
			_, err = s.Job(ctx, "failing")
			assert.Equal(t, ENOTFOUND, ErrorCode(err))
			var rows int
			require.NoError(t, s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM batch_chunks WHERE job_id = 'failing'`).Scan(&rows))
			assert.Zero(t, rows, "its items are removed")

			// A crash half-way: the row and some items, never received.
			crashed := Job{ID: "crashed", Model: "tagifai", Version: 1, Status: JobQueued, Total: 10, CreatedBy: "alice", CreatedAt: time.Now().UTC().Add(-time.Hour)}
			_, err = s.beginIntake(ctx, crashed)
			require.NoError(t, err)
			require.NoError(t, s.tx(ctx, func(tx *sql.Tx) error { return s.insertItems(ctx, tx, crashed.ID, 0, manyItems(5)) }))
			listed, err := s.Jobs(ctx, "", JobKey{}, 10)
			require.NoError(t, err)
			assert.Empty(t, listed, "an unfinished intake is not listed")
			n, err := s.PurgeAbandonedIntakes(ctx, time.Now().Add(-AbandonedIntakeAge))
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			require.NoError(t, s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM batch_chunks WHERE job_id = 'crashed'`).Scan(&rows))
			assert.Zero(t, rows)
			n, err = s.PurgeAbandonedIntakes(ctx, time.Now().Add(-AbandonedIntakeAge))
			require.NoError(t, err)
			assert.Zero(t, n)
		})
	}
}

// TestStoreIdempotencyKey: a job created under a key is found again by the same
// creator's same request, refused for another request under the same key,
// and independent of other creators' keys (issue 11, defect 4).
func TestStoreIdempotencyKey(t *testing.T) {
	ctx := context.Background()
	for name, open := range openSQL(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			enqueues := 0
			enqueue := func(context.Context, *sql.Tx, Job) error { enqueues++; return nil }
			job := func(id, creator, sha string) Job {
				return Job{ID: id, Model: "tagifai", Version: 1, Status: JobQueued, Total: 2, CreatedBy: creator,
					CreatedAt: time.Now().UTC(), IdempotencyKey: "key-1", RequestSHA256: sha}
			}
			first, created, err := s.CreateJob(ctx, job("job-1", "alice", "sha-a"), manyItems(2), enqueue)
			require.NoError(t, err)
			assert.True(t, created)
			again, created, err := s.CreateJob(ctx, job("job-2", "alice", "sha-a"), manyItems(2), enqueue)
			require.NoError(t, err)
			assert.False(t, created)
			assert.Equal(t, first.ID, again.ID, "the same request under the same key is the same job")
			_, err = s.Job(ctx, "job-2")
			assert.Equal(t, ENOTFOUND, ErrorCode(err), "and creates nothing")
			_, _, err = s.CreateJob(ctx, job("job-3", "alice", "sha-b"), manyItems(2), enqueue)
			assert.Equal(t, ECONFLICT, ErrorCode(err), "another request under the same key")
			assert.Contains(t, err.Error(), "job-1")
			_, created, err = s.CreateJob(ctx, job("job-4", "bob", "sha-b"), manyItems(2), enqueue)
			require.NoError(t, err)
			assert.True(t, created, "keys are per creator")
			assert.Equal(t, 2, enqueues)

			// Ten requests under one new key at once: one job.
			errs := concurrently(10, func(i int) error {
				j := job(fmt.Sprintf("race-%d", i), "carol", "sha-c")
				_, _, err := s.CreateJob(ctx, j, manyItems(2), func(context.Context, *sql.Tx, Job) error { return nil })
				if ErrorCode(err) == ECONFLICT {
					return nil // "still being stored": the client retries
				}
				return err
			})
			for _, err := range errs {
				require.NoError(t, err)
			}
			jobs, err := s.Jobs(ctx, "", JobKey{}, 100)
			require.NoError(t, err)
			carol := 0
			for _, j := range jobs {
				if j.CreatedBy == "carol" {
					carol++
				}
			}
			assert.Equal(t, 1, carol)
		})
	}
}

// TestStoreEnqueueUnchunked: jobs stored before batch work ran on chunk tasks
// are queued once, from where they stopped.
func TestStoreEnqueueUnchunked(t *testing.T) {
	ctx := context.Background()
	for name, open := range openSQL(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			_, _, err := s.CreateJob(ctx, Job{ID: "old", Model: "tagifai", Version: 1, Status: JobQueued, Total: 3, CreatedBy: "alice", CreatedAt: time.Now().UTC()},
				manyItems(3), enqueueNothing)
			require.NoError(t, err)
			_, err = s.SaveChunk(ctx, "old", Chunk{Replica: "r", Items: 1, At: time.Now()}, withinNothing)
			require.NoError(t, err)
			_, err = s.db.ExecContext(ctx, `UPDATE batch_jobs SET chunked = 0`)
			require.NoError(t, err)
			var queued []Job
			record := func(_ context.Context, _ *sql.Tx, j Job) error { queued = append(queued, j); return nil }
			n, err := s.EnqueueUnchunked(ctx, record)
			require.NoError(t, err)
			assert.Equal(t, 1, n)
			require.Len(t, queued, 1)
			assert.Equal(t, 1, queued[0].Done)
			n, err = s.EnqueueUnchunked(ctx, record)
			require.NoError(t, err)
			assert.Zero(t, n, "once")
		})
	}
}
