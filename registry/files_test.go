package registry

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
)

// otherArtifact returns the committed model under another run id: valid
// bytes that differ from committedArtifact's.
func otherArtifact(t *testing.T, runID string) []byte {
	t.Helper()
	if data, ok := otherArtifacts.Load(runID); ok {
		return data.([]byte)
	}
	art, err := model.Decode(bytes.NewReader(committedArtifact(t)))
	require.NoError(t, err)
	art.RunID = runID
	var buf bytes.Buffer
	require.NoError(t, model.Encode(&buf, art))
	otherArtifacts.Store(runID, buf.Bytes())
	return buf.Bytes()
}

// otherArtifacts holds otherArtifact's results by run id: the same bytes
// each time, made once per test binary. Callers only read them.
var otherArtifacts sync.Map

// filesMatchDatabase requires that every artifact file under dir holds the
// bytes the database records for its version.
func filesMatchDatabase(t *testing.T, store *SQLStore, dir string) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*", "*"))
	require.NoError(t, err)
	for _, f := range files {
		var version int
		_, err := fmt.Sscanf(filepath.Base(f), "%d.tagifai", &version)
		require.NoError(t, err, "unexpected file %s", f)
		v, err := store.Version(context.Background(), filepath.Base(filepath.Dir(f)), version)
		require.NoError(t, err, "file %s is of no version", f)
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.Equal(t, v.Checksum, checksum(data), "file %s holds other bytes than the database records", f)
	}
}

// openStore opens a SQLite store in a temporary directory, closed when the
// test ends, and names a directory for artifact files beside it.
func openStore(t *testing.T) (store *SQLStore, files string) {
	t.Helper()
	dir := t.TempDir()
	store, err := OpenSQLite(context.Background(), filepath.Join(dir, "registry.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	return store, filepath.Join(dir, "artifacts")
}

// commitWatcher is a Store that notes, at each commit of a new version,
// whether the version's file was already in place.
type commitWatcher struct {
	*SQLStore
	path      func(name string, version int) string
	fileFirst bool
}

func (w *commitWatcher) CreateVersion(ctx context.Context, v Version, artifact []byte) error {
	if _, err := os.Stat(w.path(v.Model, v.Version)); err == nil {
		w.fileFirst = true
	}
	return w.SQLStore.CreateVersion(ctx, v, artifact)
}

// TestNoOrphanFileAfterACrash: a SIGKILL at any moment of an upload or a
// deletion leaves no artifact file the database does not vouch for, once
// the registry has restarted. The file of a new version takes its name
// only after the database has committed the version (a crash before then
// leaves a temporary file, which New removes); a file whose version the
// database deleted just before a crash is removed by Verify.
func TestNoOrphanFileAfterACrash(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, files := openStore(t)
	log := slog.New(slog.DiscardHandler)
	watcher := &commitWatcher{SQLStore: store}
	reg, err := New(watcher, files, log)
	require.NoError(t, err)
	watcher.path = reg.path

	_, _, err = reg.Upload(ctx, "tagifai", 1, committedArtifact(t), "test")
	require.NoError(t, err)
	_, _, err = reg.Upload(ctx, "tagifai", 2, otherArtifact(t, "second-run"), "test")
	require.NoError(t, err)
	assert.False(t, watcher.fileFirst, "a version's file takes its name only after the database has the version")

	// What a SIGKILL leaves: the temporary file of an upload not yet
	// committed, and the file of a version whose deletion was committed.
	crashed := filepath.Join(files, "tagifai", ".3.tagifai12345")
	require.NoError(t, os.WriteFile(crashed, otherArtifact(t, "third-run"), 0o640))
	old := time.Now().Add(-LeftoverAge - time.Minute)
	require.NoError(t, os.Chtimes(crashed, old, old))
	// A temporary file just written may be an upload of a server running
	// beside this process: it stays.
	running := filepath.Join(files, "tagifai", ".5.tagifai67890")
	require.NoError(t, os.WriteFile(running, otherArtifact(t, "fifth-run"), 0o640))
	require.NoError(t, store.DeleteVersion(ctx, "tagifai", 2))
	// And a file that an upload renamed before its commit (as this
	// registry once did) for a version the database never recorded.
	require.NoError(t, os.WriteFile(reg.path("tagifai", 4), otherArtifact(t, "fourth-run"), 0o640))

	reg, err = New(store, files, log)
	require.NoError(t, err)
	bad, err := reg.Verify(ctx)
	require.NoError(t, err)
	assert.Empty(t, bad)
	left, err := filepath.Glob(filepath.Join(files, "*", "*")) // hidden files too
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{reg.path("tagifai", 1), running}, left, "only version 1's file and the recent upload's are left")
	require.NoError(t, os.Remove(running)) // the upload beside this process ended
	filesMatchDatabase(t, store, files)
}

// TestRacingUploadsOfOneVersion: two uploads of one version with other
// bytes race, both past the check that the version is new before either
// writes; one wins, and the local file holds the winner's bytes, never the
// loser's.
func TestRacingUploadsOfOneVersion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, files := openStore(t)
	for version := 1; version <= 10; version++ {
		racing := &racingStore{SQLStore: store, both: make(chan struct{})}
		racing.arrived.Add(2)
		go func() { racing.arrived.Wait(); close(racing.both) }()
		reg, err := New(racing, files, slog.New(slog.DiscardHandler))
		require.NoError(t, err)

		var wg sync.WaitGroup
		var mu sync.Mutex
		created := 0
		for _, run := range []string{"first-run", "second-run"} {
			data := otherArtifact(t, run)
			wg.Go(func() {
				_, ok, err := reg.Upload(ctx, "tagifai", version, data, "test")
				mu.Lock()
				defer mu.Unlock()
				if ok {
					created++
				} else {
					assert.Equal(t, ECONFLICT, ErrorCode(err), "the loser is told of the conflict")
				}
			})
		}
		wg.Wait()
		require.Equal(t, 1, created, "one upload creates the version")
		v, err := store.Version(ctx, "tagifai", version)
		require.NoError(t, err)
		data, err := os.ReadFile(reg.path("tagifai", version))
		require.NoError(t, err, "the winner's file is in place")
		require.Equal(t, v.Checksum, checksum(data), "version %d's file holds the winner's bytes", version)
	}
	filesMatchDatabase(t, store, files)
}

// racingStore holds the first two Version calls (each upload's check that
// its version is new) until both have arrived.
type racingStore struct {
	*SQLStore
	arrived sync.WaitGroup
	both    chan struct{}
	mu      sync.Mutex
	calls   int
}

func (s *racingStore) Version(ctx context.Context, name string, version int) (Version, error) {
	s.mu.Lock()
	s.calls++
	held := s.calls <= 2
	s.mu.Unlock()
	if held {
		s.arrived.Done()
		<-s.both
	}
	return s.SQLStore.Version(ctx, name, version)
}
