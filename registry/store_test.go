package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/registry/registrytest"
)

// databaseFactories are the databases the SQL tests run against: each
// makes a new, empty database and returns a function that opens a store on
// it, as one more replica would. PostgreSQL is among them only when
// TAGIFAI_TEST_POSTGRES_URL is set.
func databaseFactories(t *testing.T) map[string]func(t *testing.T) func(context.Context) (*SQLStore, error) {
	f := map[string]func(t *testing.T) func(context.Context) (*SQLStore, error){
		"sqlite": func(t *testing.T) func(context.Context) (*SQLStore, error) {
			path := filepath.Join(t.TempDir(), "registry.db")
			return func(ctx context.Context) (*SQLStore, error) { return OpenSQLite(ctx, path) }
		},
	}
	if base := registrytest.PostgresURL(); base != "" {
		f["postgres"] = func(t *testing.T) func(context.Context) (*SQLStore, error) {
			u := registrytest.PostgresSchema(t, base)
			return func(ctx context.Context) (*SQLStore, error) { return OpenPostgres(ctx, u) }
		}
	}
	return f
}

// storeFactories are the Store implementations the suite runs against; each
// returns an empty store, closed when the test ends.
func storeFactories(t *testing.T) map[string]func(t *testing.T) *SQLStore {
	f := map[string]func(t *testing.T) *SQLStore{}
	for name, newDatabase := range databaseFactories(t) {
		f[name] = func(t *testing.T) *SQLStore {
			s, err := newDatabase(t)(context.Background())
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		}
	}
	return f
}

// concurrently runs fn(i) for i in [0, n) in n goroutines released at the
// same moment, and returns their errors by i.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// countOutcomes counts the nil errors and the ECONFLICT ones among errs, and
// fails t for any other error: a race between callers must end in a
// conflict the caller can act on, never in an internal error.
func countOutcomes(t *testing.T, errs []error, want string) (ok, coded int) {
	t.Helper()
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case ErrorCode(err) == want:
			coded++
		default:
			t.Errorf("got %v, want nil or a %s error", err, want)
		}
	}
	return ok, coded
}

func testVersion(name string, version int, checksum string) Version {
	return Version{
		Model: name, Version: version, Checksum: checksum, Size: 123, RunID: "run-" + checksum,
		Classes: []string{"a", "b"}, Args: json.RawMessage(`{"alpha":0.001}`), Performance: json.RawMessage(`{"overall":{}}`),
		CreatedAt: time.Unix(1700000000, 0).UTC(), UploadedBy: "alice",
	}
}

// testArtifact stands for the bytes of the artifact of testVersion(name,
// version, checksum).
func testArtifact(name string, version int, checksum string) []byte {
	return []byte(fmt.Sprintf("artifact of %s version %d, %s", name, version, checksum))
}

// enqueueNothing queues no work for a job: the tests play the workers.
func enqueueNothing(context.Context, *sql.Tx, Job) error { return nil }

// withinNothing adds nothing to a chunk's transaction.
func withinNothing(*sql.Tx) error { return nil }

// TestStore is the one suite every Store implementation must pass.
func TestStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, open := range storeFactories(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("models and versions", func(t *testing.T) {
				s := open(t)
				_, err := s.Model(ctx, "tagifai")
				assert.Equal(t, ENOTFOUND, ErrorCode(err))
				_, err = s.Versions(ctx, "tagifai")
				assert.Equal(t, ENOTFOUND, ErrorCode(err))

				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 2, "bbb"), testArtifact("tagifai", 2, "bbb")))
				require.NoError(t, s.CreateVersion(ctx, testVersion("other", 7, "ccc"), testArtifact("other", 7, "ccc")))
				assert.Equal(t, ECONFLICT, ErrorCode(s.CreateVersion(ctx, testVersion("tagifai", 2, "zzz"), testArtifact("tagifai", 2, "zzz"))))

				models, err := s.Models(ctx)
				require.NoError(t, err)
				require.Len(t, models, 2)
				assert.Equal(t, "other", models[0].Name)
				assert.Equal(t, "tagifai", models[1].Name)
				assert.Equal(t, 2, models[1].VersionCount)
				assert.Equal(t, 0, models[1].ServingVersion)

				v, err := s.Version(ctx, "tagifai", 2)
				require.NoError(t, err)
				want := testVersion("tagifai", 2, "bbb")
				assert.Equal(t, want, v)
				_, err = s.Version(ctx, "tagifai", 3)
				assert.Equal(t, ENOTFOUND, ErrorCode(err))

				versions, err := s.Versions(ctx, "tagifai")
				require.NoError(t, err)
				require.Len(t, versions, 2)
				assert.Equal(t, []int{1, 2}, []int{versions[0].Version, versions[1].Version})

				data, err := s.Artifact(ctx, "tagifai", 2)
				require.NoError(t, err)
				assert.Equal(t, testArtifact("tagifai", 2, "bbb"), data, "the refused second upload left the bytes alone")
				_, err = s.Artifact(ctx, "tagifai", 3)
				assert.Equal(t, ENOTFOUND, ErrorCode(err))
				assert.Equal(t, ENOTFOUND, ErrorCode(s.PutArtifact(ctx, "tagifai", 3, []byte("x"))), "bytes of no version")
				has, err := s.HasArtifact(ctx, "tagifai", 2)
				require.NoError(t, err)
				assert.True(t, has)
				has, err = s.HasArtifact(ctx, "tagifai", 3)
				require.NoError(t, err)
				assert.False(t, has)
				require.NoError(t, s.PutArtifact(ctx, "tagifai", 2, []byte("other bytes")))
				data, err = s.Artifact(ctx, "tagifai", 2)
				require.NoError(t, err)
				assert.Equal(t, testArtifact("tagifai", 2, "bbb"), data, "PutArtifact keeps the bytes a version has")
			})

			t.Run("serving pointer and delete", func(t *testing.T) {
				s := open(t)
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 2, "bbb"), testArtifact("tagifai", 2, "bbb")))
				assert.Equal(t, ENOTFOUND, ErrorCode(s.SetServing(ctx, "tagifai", 3)))
				assert.Equal(t, ENOTFOUND, ErrorCode(s.SetServing(ctx, "nope", 1)))
				require.NoError(t, s.SetServing(ctx, "tagifai", 2))

				m, err := s.Model(ctx, "tagifai")
				require.NoError(t, err)
				assert.Equal(t, 2, m.ServingVersion)
				v2, err := s.Version(ctx, "tagifai", 2)
				require.NoError(t, err)
				assert.True(t, v2.Serving)
				v1, err := s.Version(ctx, "tagifai", 1)
				require.NoError(t, err)
				assert.False(t, v1.Serving)

				assert.Equal(t, ECONFLICT, ErrorCode(s.DeleteVersion(ctx, "tagifai", 2)), "the serving version cannot be deleted")
				require.NoError(t, s.SetServing(ctx, "tagifai", 1)) // roll back
				require.NoError(t, s.DeleteVersion(ctx, "tagifai", 2))
				assert.Equal(t, ENOTFOUND, ErrorCode(s.DeleteVersion(ctx, "tagifai", 2)))
				_, err = s.Artifact(ctx, "tagifai", 2)
				assert.Equal(t, ENOTFOUND, ErrorCode(err), "the artifact goes with its version")
				assert.Equal(t, ENOTFOUND, ErrorCode(s.DeleteVersion(ctx, "nope", 1)))
				m, err = s.Model(ctx, "tagifai")
				require.NoError(t, err)
				assert.Equal(t, 1, m.ServingVersion)
				assert.Equal(t, 1, m.VersionCount)
			})

			t.Run("users", func(t *testing.T) {
				s := open(t)
				created := time.Unix(1700000000, 0).UTC()
				u, err := s.CreateUser(ctx, User{Name: "alice", Role: RoleAdmin, CreatedAt: created}, "hash-a")
				require.NoError(t, err)
				assert.Equal(t, User{Name: "alice", Role: RoleAdmin, CreatedAt: created}, u)
				_, err = s.CreateUser(ctx, User{Name: "alice", Role: RoleViewer, CreatedAt: created}, "hash-b")
				assert.Equal(t, ECONFLICT, ErrorCode(err))

				got, err := s.UserByKeyHash(ctx, "hash-a")
				require.NoError(t, err)
				assert.Equal(t, "alice", got.Name)
				assert.Equal(t, RoleAdmin, got.Role)
				_, err = s.UserByKeyHash(ctx, "hash-x")
				assert.Equal(t, ENOTFOUND, ErrorCode(err))

				revoked, err := s.RevokeUser(ctx, "alice")
				require.NoError(t, err)
				require.NotNil(t, revoked.RevokedAt)
				_, err = s.UserByKeyHash(ctx, "hash-a")
				assert.Equal(t, ENOTFOUND, ErrorCode(err), "a revoked key no longer authenticates")
				_, err = s.RevokeUser(ctx, "alice")
				assert.Equal(t, ENOTFOUND, ErrorCode(err))

				_, err = s.CreateUser(ctx, User{Name: "alice", Role: RoleViewer, CreatedAt: created}, "hash-c")
				require.NoError(t, err, "a revoked name can be used again")
				users, err := s.Users(ctx)
				require.NoError(t, err)
				require.Len(t, users, 2)
				assert.NotNil(t, users[0].RevokedAt)
				assert.Nil(t, users[1].RevokedAt)
				assert.Empty(t, users[0].keyHash, "hashes do not leave the store in listings")
			})

			t.Run("items of another text", func(t *testing.T) {
				s := open(t)
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 2, "bbb"), testArtifact("tagifai", 2, "bbb")))
				var preds []StoredPrediction
				for i := range 1200 { // more than one query's group of ids
					id := fmt.Sprintf("i%d", i)
					preds = append(preds, StoredPrediction{Model: "tagifai", Version: 1, ItemID: id, TextSHA256: TextSHA256("text " + id),
						Tag: "mlops", Probabilities: map[string]float64{"mlops": 1}, CreatedAt: time.Unix(1700000000, 0).UTC()})
				}
				_, err := s.SavePredictions(ctx, preds)
				require.NoError(t, err)
				var items []Item
				var want []int
				for i := range 1500 {
					id := fmt.Sprintf("i%d", i)
					text := "text " + id
					if i%250 == 7 {
						text += " changed"
						if i < 1200 {
							want = append(want, i) // stored, of another text
						}
					}
					items = append(items, Item{ID: id, Text: text})
				}
				got, err := s.ChangedItems(ctx, "tagifai", 1, items)
				require.NoError(t, err)
				assert.Equal(t, want, got)
				got, err = s.ChangedItems(ctx, "tagifai", 2, items)
				require.NoError(t, err)
				assert.Empty(t, got, "version 2 has predicted nothing")
			})

			t.Run("batch jobs and stored predictions", func(t *testing.T) {
				s := open(t)
				at := func(sec int64) time.Time { return time.Unix(1700000000+sec, 0).UTC() }
				pred := func(version int, item string) StoredPrediction {
					return StoredPrediction{Model: "tagifai", Version: version, ItemID: item, TextSHA256: "sha-" + item, Tag: "mlops",
						Probabilities: map[string]float64{"mlops": 0.75, "nlp": 0.25}, CreatedAt: at(10)}
				}
				_, err := s.SavePredictions(ctx, []StoredPrediction{pred(1, "a")})
				assert.Equal(t, ENOTFOUND, ErrorCode(err), "predictions of a version the registry does not have")
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 2, "bbb"), testArtifact("tagifai", 2, "bbb")))
				job := Job{ID: "job1", Model: "tagifai", Version: 1, Status: JobQueued, Total: 3, CreatedBy: "alice", CreatedAt: at(0)}
				items := []Item{{ID: "a", Text: "text a"}, {ID: "b", Text: "text b"}, {ID: "c", Text: "text c"}}
				stored, created, err := s.CreateJob(ctx, job, items, enqueueNothing)
				require.NoError(t, err)
				assert.True(t, created)
				assert.Equal(t, job, stored)
				got, err := s.Job(ctx, "job1")
				require.NoError(t, err)
				assert.Equal(t, job, got)
				_, err = s.Job(ctx, "nope")
				assert.Equal(t, ENOTFOUND, ErrorCode(err))
				gotItems, err := s.JobItems(ctx, "job1", 1, 10)
				require.NoError(t, err)
				assert.Equal(t, items[1:], gotItems)

				assert.Equal(t, ECONFLICT, ErrorCode(s.DeleteVersion(ctx, "tagifai", 1)), "a version with a queued job")
				// A chunk whose transaction fails stores nothing.
				failing := errors.New("the task could not be completed")
				_, err = s.SaveChunk(ctx, "job1", Chunk{Replica: "replica-a", First: 1, Items: 1, At: at(1), Predictions: []StoredPrediction{pred(1, "b")}},
					func(*sql.Tx) error { return failing })
				assert.ErrorIs(t, err, failing)
				_, err = s.Prediction(ctx, "tagifai", 1, "b")
				assert.Equal(t, ENOTFOUND, ErrorCode(err), "a failed chunk stores nothing")
				got, err = s.Job(ctx, "job1")
				require.NoError(t, err)
				assert.Equal(t, job, got, "nor moves the job")

				// Chunks from two replicas, in any order.
				status, err := s.SaveChunk(ctx, "job1", Chunk{Replica: "replica-b", First: 1, Items: 1, At: at(1), Predictions: []StoredPrediction{pred(1, "b")}}, withinNothing)
				require.NoError(t, err)
				assert.Equal(t, JobRunning, status)
				status, err = s.SaveChunk(ctx, "job1", Chunk{Replica: "replica-a", Items: 1, At: at(2), Predictions: []StoredPrediction{pred(1, "a")}}, withinNothing)
				require.NoError(t, err)
				assert.Equal(t, JobRunning, status)
				got, err = s.Job(ctx, "job1")
				require.NoError(t, err)
				assert.Equal(t, JobRunning, got.Status)
				assert.Equal(t, 2, got.Done)
				require.NotNil(t, got.StartedAt)
				assert.Equal(t, at(1), *got.StartedAt, "the first chunk starts the job")
				assert.Nil(t, got.FinishedAt)
				assert.Equal(t, []ReplicaCount{{"replica-a", 1}, {"replica-b", 1}}, got.Replicas)

				// The same chunk run again (a replica restarted under the
				// name of one still running it, a slow replica's chunk
				// rescued): its task completes, nothing is counted twice.
				completedAgain := false
				status, err = s.SaveChunk(ctx, "job1", Chunk{Replica: "replica-c", First: 1, Items: 1, At: at(2), Predictions: []StoredPrediction{pred(1, "b")}},
					func(*sql.Tx) error { completedAgain = true; return nil })
				require.NoError(t, err)
				assert.Equal(t, JobRunning, status)
				assert.True(t, completedAgain, "a chunk saved already completes its task")
				again, err := s.Job(ctx, "job1")
				require.NoError(t, err)
				assert.Equal(t, 2, again.Done, "a chunk saved already is not counted again")
				assert.Equal(t, got.Replicas, again.Replicas)

				added, err := s.SavePredictions(ctx, []StoredPrediction{pred(1, "c"), pred(1, "a"), pred(2, "a")})
				require.NoError(t, err)
				assert.Equal(t, 2, added, "a stored prediction is kept, not stored twice")

				p, err := s.Prediction(ctx, "tagifai", 1, "b")
				require.NoError(t, err)
				assert.Equal(t, pred(1, "b"), p)
				_, err = s.Prediction(ctx, "tagifai", 2, "b")
				assert.Equal(t, ENOTFOUND, ErrorCode(err), "no prediction by that version")
				versions, err := s.PredictionVersions(ctx, "tagifai", "a")
				require.NoError(t, err)
				assert.Equal(t, []int{1, 2}, versions)

				all, err := s.VersionPredictions(ctx, "tagifai", 1, "", 10)
				require.NoError(t, err)
				assert.Equal(t, []StoredPrediction{pred(1, "a"), pred(1, "b"), pred(1, "c")}, all)
				first, err := s.VersionPredictions(ctx, "tagifai", 1, "a", 1)
				require.NoError(t, err)
				assert.Equal(t, []StoredPrediction{pred(1, "b")}, first, "a page starts after the cursor")
				last, err := s.VersionPredictions(ctx, "tagifai", 1, "c", 10)
				require.NoError(t, err)
				assert.Empty(t, last)

				page, next, err := s.JobPredictions(ctx, "job1", 0, 2)
				require.NoError(t, err)
				assert.Equal(t, []StoredPrediction{pred(1, "a"), pred(1, "b")}, page)
				assert.Equal(t, 2, next)
				page, next, err = s.JobPredictions(ctx, "job1", next, 2)
				require.NoError(t, err)
				assert.Equal(t, []StoredPrediction{pred(1, "c")}, page)
				assert.Equal(t, 0, next)

				// The last chunk ends the job, and its task's completion
				// (within) commits with it.
				completed := false
				status, err = s.SaveChunk(ctx, "job1", Chunk{Replica: "replica-a", First: 2, Items: 1, At: at(3), Predictions: []StoredPrediction{pred(1, "c")}},
					func(*sql.Tx) error { completed = true; return nil })
				require.NoError(t, err)
				assert.True(t, completed)
				assert.Equal(t, JobSucceeded, status)
				got, err = s.Job(ctx, "job1")
				require.NoError(t, err)
				assert.Equal(t, JobSucceeded, got.Status)
				assert.Equal(t, 3, got.Done)
				require.NotNil(t, got.FinishedAt)
				assert.Equal(t, at(3), *got.FinishedAt)
				assert.Equal(t, []ReplicaCount{{"replica-a", 2}, {"replica-b", 1}}, got.Replicas)
				completed = false
				status, err = s.SaveChunk(ctx, "job1", Chunk{Replica: "replica-c", Items: 1, At: at(4)}, func(*sql.Tx) error { completed = true; return nil })
				require.NoError(t, err)
				assert.Equal(t, JobSucceeded, status)
				assert.True(t, completed, "a chunk of a finished job completes its task")
				got, err = s.Job(ctx, "job1")
				require.NoError(t, err)
				assert.Equal(t, 3, got.Done, "and counts nothing")

				// Deleting a version deletes its stored predictions, so that a
				// new upload under the same number starts with none.
				require.NoError(t, s.DeleteVersion(ctx, "tagifai", 2))
				_, err = s.Prediction(ctx, "tagifai", 2, "a")
				assert.Equal(t, ENOTFOUND, ErrorCode(err))
				versions, err = s.PredictionVersions(ctx, "tagifai", "a")
				require.NoError(t, err)
				assert.Equal(t, []int{1}, versions)
				_, err = s.SavePredictions(ctx, []StoredPrediction{pred(2, "b")})
				assert.Equal(t, ENOTFOUND, ErrorCode(err), "a batch that outlives its version stores nothing")
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 2, "ccc"), testArtifact("tagifai", 2, "ccc")))
				_, err = s.Prediction(ctx, "tagifai", 2, "a")
				assert.Equal(t, ENOTFOUND, ErrorCode(err), "the new version 2 has no predictions of the old one")
				require.NoError(t, s.DeleteVersion(ctx, "tagifai", 1), "a finished job does not hold its version")
			})

			t.Run("listing and deleting batch jobs", func(t *testing.T) {
				s := open(t)
				at := func(sec int64) time.Time { return time.Unix(1700000000+sec, 0).UTC() }
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
				// Five jobs; two share a creation time, so ids break the tie.
				created := map[string]int64{"job-a": 1, "job-b": 2, "job-c": 2, "job-d": 3, "job-e": 4}
				for id, sec := range created {
					_, _, err := s.CreateJob(ctx, Job{ID: id, Model: "tagifai", Version: 1, Status: JobQueued, Total: 1, CreatedBy: "alice", CreatedAt: at(sec)},
						[]Item{{ID: "item-" + id, Text: "text"}}, enqueueNothing)
					require.NoError(t, err)
				}
				_, err := s.SaveChunk(ctx, "job-d", Chunk{Replica: "replica-a", Items: 1, At: at(5), Predictions: []StoredPrediction{{Model: "tagifai", Version: 1,
					ItemID: "item-job-d", TextSHA256: "sha", Tag: "a", Probabilities: map[string]float64{"a": 1, "b": 0}, CreatedAt: at(5)}}}, withinNothing)
				require.NoError(t, err)

				ids := func(jobs []Job) []string {
					out := []string{}
					for _, j := range jobs {
						out = append(out, j.ID)
					}
					return out
				}
				// Page through all of them, two at a time.
				var pages [][]string
				after := JobKey{}
				for {
					page, err := s.Jobs(ctx, "", after, 2)
					require.NoError(t, err)
					if len(page) == 0 {
						break
					}
					pages = append(pages, ids(page))
					after = page[len(page)-1].Key()
				}
				assert.Equal(t, [][]string{{"job-e", "job-d"}, {"job-c", "job-b"}, {"job-a"}}, pages, "newest first, then by id")
				queued, err := s.Jobs(ctx, JobQueued, JobKey{}, 10)
				require.NoError(t, err)
				assert.Equal(t, []string{"job-e", "job-c", "job-b", "job-a"}, ids(queued))
				succeeded, err := s.Jobs(ctx, JobSucceeded, JobKey{}, 10)
				require.NoError(t, err)
				require.Equal(t, []string{"job-d"}, ids(succeeded))
				assert.Equal(t, 1, succeeded[0].Done)

				assert.Equal(t, ECONFLICT, ErrorCode(s.DeleteVersion(ctx, "tagifai", 1)), "queued jobs hold the version")
				deleted, err := s.DeleteJob(ctx, "job-d", nil)
				require.NoError(t, err)
				succeeded[0].Replicas = []ReplicaCount{{"replica-a", 1}}
				assert.Equal(t, succeeded[0], deleted, "the job as it was")
				_, err = s.Job(ctx, "job-d")
				assert.Equal(t, ENOTFOUND, ErrorCode(err))
				items, err := s.JobItems(ctx, "job-d", 0, 10)
				require.NoError(t, err)
				assert.Empty(t, items, "its items are gone")
				_, err = s.Prediction(ctx, "tagifai", 1, "item-job-d")
				assert.NoError(t, err, "its predictions stay")
				_, err = s.DeleteJob(ctx, "job-d", nil)
				assert.Equal(t, ENOTFOUND, ErrorCode(err))

				_, err = s.DeleteJob(ctx, "job-e", nil)
				require.NoError(t, err, "a queued job can be deleted")
				_, err = s.SaveChunk(ctx, "job-e", Chunk{Replica: "replica-a", Items: 1, At: at(8)}, withinNothing)
				assert.Equal(t, ENOTFOUND, ErrorCode(err), "a chunk of it that was running is refused")
				for _, id := range []string{"job-a", "job-b", "job-c"} {
					_, err := s.DeleteJob(ctx, id, nil)
					require.NoError(t, err)
				}
				all, err := s.Jobs(ctx, "", JobKey{}, 10)
				require.NoError(t, err)
				assert.Empty(t, all)
				require.NoError(t, s.DeleteVersion(ctx, "tagifai", 1), "with its jobs deleted, the version can be")
			})

			t.Run("concurrent writers", func(t *testing.T) {
				// n callers race in each of n rounds; the later rounds find
				// the connections of a pool open, and so race harder.
				const n = 8
				tests := []struct {
					name string
					// run makes n concurrent calls on a new store and checks
					// what they did.
					run func(t *testing.T, s *SQLStore)
				}{
					{"the same version: one creates it, the rest conflict", func(t *testing.T, s *SQLStore) {
						for round := range n {
							name := fmt.Sprintf("m%d", round)
							errs := concurrently(n, func(i int) error {
								return s.CreateVersion(ctx, testVersion(name, 1, fmt.Sprintf("sum%d", i)), testArtifact(name, 1, fmt.Sprintf("sum%d", i)))
							})
							ok, conflicts := countOutcomes(t, errs, ECONFLICT)
							assert.Equal(t, 1, ok, "round %d", round)
							assert.Equal(t, n-1, conflicts, "round %d", round)
							m, err := s.Model(ctx, name)
							require.NoError(t, err)
							assert.Equal(t, 1, m.VersionCount, "round %d", round)
						}
					}},
					{"distinct versions of a new model: all created", func(t *testing.T, s *SQLStore) {
						for round := range n {
							name := fmt.Sprintf("m%d", round)
							errs := concurrently(n, func(i int) error {
								return s.CreateVersion(ctx, testVersion(name, i+1, fmt.Sprintf("sum%d", i)), testArtifact(name, i+1, fmt.Sprintf("sum%d", i)))
							})
							ok, _ := countOutcomes(t, errs, ECONFLICT)
							assert.Equal(t, n, ok, "round %d", round)
							m, err := s.Model(ctx, name)
							require.NoError(t, err)
							assert.Equal(t, n, m.VersionCount, "round %d", round)
						}
					}},
					{"the same user name: one creates it, the rest conflict", func(t *testing.T, s *SQLStore) {
						for round := range n {
							name := fmt.Sprintf("user%d", round)
							errs := concurrently(n, func(i int) error {
								_, err := s.CreateUser(ctx, User{Name: name, Role: RoleViewer, CreatedAt: time.Now()}, fmt.Sprintf("hash-%d-%d", round, i))
								return err
							})
							ok, conflicts := countOutcomes(t, errs, ECONFLICT)
							assert.Equal(t, 1, ok, "round %d", round)
							assert.Equal(t, n-1, conflicts, "round %d", round)
						}
						users, err := s.Users(ctx)
						require.NoError(t, err)
						assert.Len(t, users, n)
					}},
					{"delete against set serving: never a serving version that is gone", func(t *testing.T, s *SQLStore) {
						for round := range n {
							name := fmt.Sprintf("m%d", round)
							require.NoError(t, s.CreateVersion(ctx, testVersion(name, 1, "aaa"), testArtifact(name, 1, "aaa")))
							require.NoError(t, s.CreateVersion(ctx, testVersion(name, 2, "bbb"), testArtifact(name, 2, "bbb")))
							require.NoError(t, s.SetServing(ctx, name, 1))
							errs := concurrently(2, func(i int) error {
								if i == 0 {
									return s.DeleteVersion(ctx, name, 2)
								}
								return s.SetServing(ctx, name, 2)
							})
							// Either the delete wins (and setting a version
							// that is gone is ENOTFOUND) or the switch wins
							// (and deleting the serving version is ECONFLICT).
							if errs[0] == nil {
								assert.Equal(t, ENOTFOUND, ErrorCode(errs[1]), "round %d: set serving after the delete", round)
							} else {
								assert.Equal(t, ECONFLICT, ErrorCode(errs[0]), "round %d: delete", round)
								assert.NoError(t, errs[1], "round %d: set serving", round)
							}
							m, err := s.Model(ctx, name)
							require.NoError(t, err)
							_, err = s.Version(ctx, name, m.ServingVersion)
							assert.NoError(t, err, "round %d: the serving version %d exists", round, m.ServingVersion)
						}
					}},
				}
				for _, tt := range tests {
					t.Run(tt.name, func(t *testing.T) { tt.run(t, open(t)) })
				}
			})

			t.Run("ping", func(t *testing.T) {
				assert.NoError(t, open(t).Ping(ctx))
			})
		})
	}
}

// TestSQLiteReopen: data and migrations survive closing and reopening, in
// a directory whose name would end a URL early.
func TestSQLiteReopen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a#b?c")
	require.NoError(t, os.Mkdir(dir, 0o700))
	path := filepath.Join(dir, "registry.db")
	s, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
	require.NoError(t, s.SetServing(ctx, "tagifai", 1))
	require.NoError(t, s.Close())

	s, err = OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer s.Close()
	m, err := s.Model(ctx, "tagifai")
	require.NoError(t, err)
	assert.Equal(t, 1, m.ServingVersion)
}

// TestSQLiteSeparatePaths: two databases whose paths differ only after a
// '#' are two databases.
func TestSQLiteSeparatePaths(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	base := t.TempDir()
	for _, name := range []string{"x#1", "x#2"} {
		require.NoError(t, os.Mkdir(filepath.Join(base, name), 0o700))
	}
	a, err := OpenSQLite(ctx, filepath.Join(base, "x#1", "registry.db"))
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
	b, err := OpenSQLite(ctx, filepath.Join(base, "x#2", "registry.db"))
	require.NoError(t, err)
	defer b.Close()
	_, err = b.Model(ctx, "tagifai")
	assert.Equal(t, ENOTFOUND, ErrorCode(err))
}

// TestSQLConcurrentOpen: replicas that start at once against one new
// database all open it, and each migration is applied exactly once.
func TestSQLConcurrentOpen(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, newDatabase := range databaseFactories(t) {
		t.Run(name, func(t *testing.T) {
			open := newDatabase(t)
			const replicas = 4
			stores := make([]*SQLStore, replicas)
			errs := concurrently(replicas, func(i int) error {
				var err error
				stores[i], err = open(ctx)
				return err
			})
			for i, err := range errs {
				require.NoError(t, err, "replica %d", i)
				t.Cleanup(func() { stores[i].Close() })
			}
			files, err := fs.ReadDir(migrations, path.Join("migrations", stores[0].dialect))
			require.NoError(t, err)
			var applied, distinct int
			require.NoError(t, stores[0].db.QueryRowContext(ctx, `SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations`).Scan(&applied, &distinct))
			assert.Equal(t, len(files), applied)
			assert.Equal(t, len(files), distinct)
			// Every replica works on the same data.
			require.NoError(t, stores[1].CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
			_, err = stores[replicas-1].Version(ctx, "tagifai", 1)
			assert.NoError(t, err)
		})
	}
}

// dialectPorts are the only ways a PostgreSQL migration may differ from
// SQLite's, besides comments and white space: each PostgreSQL phrase and
// the SQLite phrase it ports.
var dialectPorts = strings.NewReplacer(
	"BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "INTEGER PRIMARY KEY", // SQLite's rowid
	"BYTEA", "BLOB",
	// JSON aggregation in order, in migration 008.
	"json_agg(json_build_array(item_id, text) ORDER BY idx)::text FROM batch_items",
	"json_group_array(json_array(item_id, text)) FROM (SELECT job_id, idx, item_id, text FROM batch_items ORDER BY job_id, idx)",
)

// sqlComment is an SQL comment to the end of its line.
var sqlComment = regexp.MustCompile(`--[^\n]*`)

// TestSQLMigrationsMatch: every dialect has the same migrations, by number
// and name and by content (but for dialectPorts), so that a schema change
// is never made for one database only.
func TestSQLMigrationsMatch(t *testing.T) {
	t.Parallel()
	read := func(dialect string) map[string]string {
		entries, err := fs.ReadDir(migrations, path.Join("migrations", dialect))
		require.NoError(t, err)
		out := map[string]string{}
		for _, e := range entries {
			data, err := fs.ReadFile(migrations, path.Join("migrations", dialect, e.Name()))
			require.NoError(t, err)
			text := strings.Join(strings.Fields(sqlComment.ReplaceAllString(string(data), "")), " ")
			if dialect != "sqlite" {
				text = dialectPorts.Replace(text)
			}
			out[e.Name()] = text
		}
		return out
	}
	sqlite := read("sqlite")
	require.NotEmpty(t, sqlite)
	for _, dialect := range []string{"postgres"} {
		t.Run(dialect, func(t *testing.T) {
			other := read(dialect)
			assert.ElementsMatch(t, slices.Collect(maps.Keys(sqlite)), slices.Collect(maps.Keys(other)), "the same migrations by name")
			for name, want := range sqlite {
				assert.Equal(t, want, other[name], "%s/%s says what sqlite/%s says", dialect, name, name)
			}
		})
	}
}

// TestLookupWaitsForItsTurn: a lookup that finds every connection taken
// waits for one, and gives up when its request does.
func TestLookupWaitsForItsTurn(t *testing.T) {
	t.Parallel()
	for name, newDatabase := range databaseFactories(t) {
		t.Run(name, func(t *testing.T) {
			s, err := newDatabase(t)(context.Background())
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			for range cap(s.lookupSlots) {
				s.lookupSlots <- struct{}{}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err = s.Prediction(ctx, "tagifai", 1, "a")
			require.ErrorIs(t, err, context.DeadlineExceeded)

			<-s.lookupSlots // a connection frees up
			_, err = s.Prediction(context.Background(), "tagifai", 1, "a")
			assert.Equal(t, ENOTFOUND, ErrorCode(err))
		})
	}
}

// TestServingAnnouncements: on PostgreSQL a store hears, from any other
// store on the same database and schema, each committed change of a
// serving version, and nothing of a change that failed or of one in
// another schema; SQLite says it cannot.
func TestServingAnnouncements(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, newDatabase := range databaseFactories(t) {
		t.Run(name, func(t *testing.T) {
			open := newDatabase(t)
			writer, err := open(ctx)
			require.NoError(t, err)
			t.Cleanup(func() { writer.Close() })
			watcher, err := open(ctx)
			require.NoError(t, err)
			t.Cleanup(func() { watcher.Close() })
			if name == "sqlite" {
				err := watcher.WatchServing(ctx, func(string) { t.Error("SQLite announced a change") })
				assert.ErrorIs(t, err, errors.ErrUnsupported)
				return
			}

			heard := make(chan string, 16)
			wctx, stop := context.WithCancel(ctx)
			done := make(chan error, 1)
			go func() { done <- watcher.WatchServing(wctx, func(model string) { heard <- model }) }()
			next := func() string {
				t.Helper()
				select {
				case model := <-heard:
					return model
				case err := <-done:
					t.Fatalf("WatchServing stopped: %v", err)
				case <-time.After(10 * time.Second):
					t.Fatal("no announcement within 10 s")
				}
				return ""
			}
			require.Equal(t, "", next(), "listening")

			require.NoError(t, writer.CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
			require.NoError(t, writer.CreateVersion(ctx, testVersion("other", 1, "bbb"), testArtifact("other", 1, "bbb")))
			require.NoError(t, writer.SetServing(ctx, "tagifai", 1))
			assert.Equal(t, "tagifai", next())
			assert.Equal(t, ENOTFOUND, ErrorCode(writer.SetServing(ctx, "tagifai", 9)))
			// Another deployment, in a schema of its own in the same database.
			elsewhere, err := newDatabase(t)(ctx)
			require.NoError(t, err)
			t.Cleanup(func() { elsewhere.Close() })
			require.NoError(t, elsewhere.CreateVersion(ctx, testVersion("tagifai", 1, "ccc"), testArtifact("tagifai", 1, "ccc")))
			require.NoError(t, elsewhere.SetServing(ctx, "tagifai", 1))
			require.NoError(t, writer.SetServing(ctx, "other", 1))
			assert.Equal(t, "other", next(), "neither a change that failed nor one in another schema is announced here")

			stop()
			select {
			case err := <-done:
				assert.ErrorIs(t, err, context.Canceled)
			case <-time.After(10 * time.Second):
				t.Fatal("WatchServing did not return when its context ended")
			}
		})
	}
}
