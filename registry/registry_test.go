package registry

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
)

// committedArtifact returns the bytes of the model in artifacts/.
func committedArtifact(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "artifacts", model.ArtifactFile))
	require.NoError(t, err)
	return data
}

// replicas returns two registries over one database, each with an artifact
// directory of its own, as two replicas on two machines would have, after
// uploading the committed model through a as version 1 of tagifai.
func replicas(t *testing.T) (a, b *Registry, store *SQLStore, v1 Version, data []byte) {
	t.Helper()
	ctx := context.Background()
	store, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "registry.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err = New(store, filepath.Join(t.TempDir(), "a"), log)
	require.NoError(t, err)
	b, err = New(store, filepath.Join(t.TempDir(), "b"), log)
	require.NoError(t, err)
	data = committedArtifact(t)
	v1, created, err := a.Upload(ctx, "tagifai", 1, data, "alice")
	require.NoError(t, err)
	require.True(t, created)
	return a, b, store, v1, data
}

// TestArtifactsReachEveryReplica: a version uploaded through one replica
// loads on another that never saw the file; a replica whose local copy is
// missing or damaged loads the database's and repairs its copy.
func TestArtifactsReachEveryReplica(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	_, b, _, v, data := replicas(t)

	bFile := b.path("tagifai", 1)
	_, err := os.Stat(bFile)
	require.ErrorIs(t, err, os.ErrNotExist)
	art, got, err := b.Open(ctx, "tagifai", 1)
	require.NoError(t, err)
	assert.Equal(t, v.Checksum, got.Checksum)
	assert.NotEmpty(t, art.Classifier.Classes())
	local, err := os.ReadFile(bFile)
	require.NoError(t, err)
	assert.Equal(t, data, local, "the other replica keeps a local copy")

	damaged := append([]byte(nil), data...)
	damaged[len(damaged)/2] ^= 0xff
	require.NoError(t, os.WriteFile(bFile, damaged, 0o600))
	_, _, err = b.Open(ctx, "tagifai", 1)
	require.NoError(t, err, "a damaged local copy is replaced by the database's")
	local, err = os.ReadFile(bFile)
	require.NoError(t, err)
	assert.Equal(t, data, local)

	bad, err := b.Verify(ctx)
	require.NoError(t, err)
	assert.Empty(t, bad)
}

// TestVerifyKeepsOldVersions: a version recorded before the database kept
// artifacts gets its bytes from a matching local file at start; one with
// neither is reported.
func TestVerifyKeepsOldVersions(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b, store, _, data := replicas(t)
	_, err := store.db.ExecContext(ctx, `DELETE FROM artifacts`) // as a database from before migration 003
	require.NoError(t, err)

	bad, err := b.Verify(ctx)
	require.NoError(t, err)
	require.Contains(t, bad, "tagifai/1", "replica b has neither a file nor database bytes")
	assert.Contains(t, bad["tagifai/1"].Error(), "none in the database")

	bad, err = a.Verify(ctx)
	require.NoError(t, err)
	assert.Empty(t, bad)
	stored, err := store.Artifact(ctx, "tagifai", 1)
	require.NoError(t, err)
	assert.Equal(t, data, stored, "replica a's file filled the database")

	bad, err = b.Verify(ctx)
	require.NoError(t, err)
	assert.Empty(t, bad, "and now replica b can have it")
}

// TestReservedUserNames: the actors the audit trail records for changes no
// user made (anonymous, cli, guard, and the uploaders tagifai-serve and
// tagifai-batch) cannot be taken by a user, in any case, so that an admin
// named guard cannot pass for a rollout's guard.
func TestReservedUserNames(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, err := OpenSQLite(ctx, filepath.Join(t.TempDir(), "registry.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	reg, err := New(store, t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		reserved bool
	}{
		{ActorAnonymous, true}, {ActorCLI, true}, {ActorGuard, true}, {ActorServe, true}, {ActorBatch, true},
		{"Guard", true}, {"ANONYMOUS", true}, {"Cli", true}, {"TAGIFAI-SERVE", true},
		{"guards", false}, {"cli-bot", false}, {"ops", false},
	} {
		assert.Equal(t, tc.reserved, ReservedUserName(tc.name), tc.name)
		if !ValidName(tc.name) {
			continue // refused by the name pattern already
		}
		_, _, err := reg.CreateUser(ctx, tc.name, RoleAdmin)
		if tc.reserved {
			assert.Equal(t, EINVALID, ErrorCode(err), "%s: %v", tc.name, err)
		} else {
			assert.NoError(t, err, tc.name)
		}
	}
}
