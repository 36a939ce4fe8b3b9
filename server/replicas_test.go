package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/registry/registrytest"
	"github.com/tagifai/tagifai/serving"
)

// sharedDatabases are the databases replicas share in tests: a SQLite file,
// and a PostgreSQL schema when TAGIFAI_TEST_POSTGRES_URL names a database
// (`make test-postgres`). Each returns a function that opens a new store on
// one new database.
func sharedDatabases(t *testing.T) map[string]func(t *testing.T) func() (*registry.SQLStore, error) {
	ctx := context.Background()
	dbs := map[string]func(t *testing.T) func() (*registry.SQLStore, error){
		"sqlite": func(t *testing.T) func() (*registry.SQLStore, error) {
			path := emptyDatabase(t)
			return func() (*registry.SQLStore, error) { return registry.OpenSQLite(ctx, path) }
		},
	}
	if base := registrytest.PostgresURL(); base != "" {
		dbs["postgres"] = func(t *testing.T) func() (*registry.SQLStore, error) {
			u := registrytest.PostgresSchema(t, base)
			return func() (*registry.SQLStore, error) { return registry.OpenPostgres(ctx, u) }
		}
	}
	return dbs
}

// newReplica returns a started server over a store that open opens, with
// an artifact directory of its own, as one of several replicas sharing a
// database, that reads the serving version every poll.
func newReplica(t *testing.T, open func() (*registry.SQLStore, error), poll time.Duration) *Server {
	t.Helper()
	ctx := context.Background()
	store, err := open()
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg, err := registry.New(store, filepath.Join(t.TempDir(), "artifacts"), log)
	require.NoError(t, err)
	_, err = reg.ImportIfEmpty(ctx, DefaultModelName, committedArtifactDir, "test")
	require.NoError(t, err)
	s := wireServer(t, store, reg, true, testConfig{Config: Config{Logger: log}, Serving: serving.Config{PollInterval: poll}})
	require.NoError(t, s.serving.LoadServing(ctx))
	return s
}

// servedRun returns the version and run id that POST /predict answers with.
func servedRun(t *testing.T, s http.Handler) string {
	t.Helper()
	r := doResult(s, request{method: "POST", path: "/predict", contentType: jsonCT, body: `{"texts":[{"text":"Transfer learning with transformers."}]}`})
	require.Equal(t, http.StatusOK, r.status, r.body)
	return fmt.Sprintf("%v/%v", r.data()["version"], r.data()["run_id"])
}

// TestReplicasFollowServingVersion: two replicas share a database and
// nothing else. A version uploaded through one is served by the other once
// made serving through the first; so are a rollback, and a version deleted
// and uploaded again under the same number with other bytes.
//
// With polling every 10 ms on each database, and on PostgreSQL also with
// polling every hour, where replica b can only follow in time through the
// database's announcements (see serving.Manager.watch).
func TestReplicasFollowServingVersion(t *testing.T) {
	t.Parallel()
	polls := map[string][]time.Duration{"sqlite": {10 * time.Millisecond}, "postgres": {10 * time.Millisecond, time.Hour}}
	for name, newDatabase := range sharedDatabases(t) {
		for _, poll := range polls[name] {
			t.Run(fmt.Sprintf("%s, polling every %s", name, poll), func(t *testing.T) {
				open := newDatabase(t)
				testReplicasFollow(t, newReplica(t, open, poll), newReplica(t, open, poll))
			})
		}
	}
}

func testReplicasFollow(t *testing.T, a, b *Server) {
	_, v2 := artifacts(t)
	v1run := servedRun(t, b)

	admin := http.Header{}
	_, key, err := a.registry.CreateUser(context.Background(), "ops", registry.RoleAdmin)
	require.NoError(t, err)
	admin.Set("Authorization", "Bearer "+key)
	follows := func(want string) {
		t.Helper()
		require.Eventually(t, func() bool { return servedRun(t, b) == want }, 10*time.Second, 10*time.Millisecond,
			"replica b should serve %s, serves %s", want, servedRun(t, b))
	}

	putVersion(t, a, admin, 2, v2)
	serveVersion(t, a, admin, 2)
	assert.Equal(t, "2/second-run", servedRun(t, a))
	follows("2/second-run")

	serveVersion(t, a, admin, 1) // roll back
	follows(v1run)

	namedRun := func(version int) *requestResult {
		t.Helper()
		return doResult(b, request{method: "POST", path: fmt.Sprintf("/models/tagifai/versions/%d/predictions", version), contentType: jsonCT, body: `{"texts":[{"text":"a CNN"}]}`})
	}
	r := namedRun(2)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "second-run", r.data()["run_id"], "b loads version 2 for named-version predictions")

	r = doResult(a, request{method: "DELETE", path: "/models/tagifai/versions/2", header: admin})
	require.Equal(t, http.StatusOK, r.status, r.body)
	r = namedRun(2)
	assert.Equal(t, http.StatusNotFound, r.status, "b does not answer for a version deleted through a: %s", r.body)

	art, err := model.Decode(bytes.NewReader(v2))
	require.NoError(t, err)
	art.RunID = "third-run"
	var v2again bytes.Buffer
	require.NoError(t, model.Encode(&v2again, art))
	putVersion(t, a, admin, 2, v2again.Bytes())
	r = namedRun(2)
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, "third-run", r.data()["run_id"], "b loads the new bytes, not the version it had cached")

	serveVersion(t, a, admin, 2)
	follows("2/third-run")
}
