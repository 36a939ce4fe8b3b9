package registry

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// storeFactories are the Store implementations the suite runs against; each
// returns an empty store.
func storeFactories(t *testing.T) map[string]func(t *testing.T) Store {
	return map[string]func(t *testing.T) Store{
		"sqlite": func(t *testing.T) Store {
			s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "registry.db"))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		},
	}
}

func testVersion(name string, version int, checksum string) Version {
	return Version{
		Model: name, Version: version, Checksum: checksum, Size: 123, RunID: "run-" + checksum,
		Classes: []string{"a", "b"}, Args: json.RawMessage(`{"alpha":0.001}`), Performance: json.RawMessage(`{"overall":{}}`),
		CreatedAt: time.Unix(1700000000, 0).UTC(), UploadedBy: "alice",
	}
}

// TestStore is the one suite every Store implementation must pass.
func TestStore(t *testing.T) {
	ctx := context.Background()
	for name, open := range storeFactories(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("models and versions", func(t *testing.T) {
				s := open(t)
				_, err := s.Model(ctx, "tagifai")
				assert.Equal(t, ENOTFOUND, ErrorCode(err))
				_, err = s.Versions(ctx, "tagifai")
				assert.Equal(t, ENOTFOUND, ErrorCode(err))

				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa")))
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 2, "bbb")))
				require.NoError(t, s.CreateVersion(ctx, testVersion("other", 7, "ccc")))
				assert.Equal(t, ECONFLICT, ErrorCode(s.CreateVersion(ctx, testVersion("tagifai", 2, "zzz"))))

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
			})

			t.Run("serving pointer and delete", func(t *testing.T) {
				s := open(t)
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa")))
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 2, "bbb")))
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

			t.Run("ping", func(t *testing.T) {
				assert.NoError(t, open(t).Ping(ctx))
			})
		})
	}
}

// TestSQLiteReopen: data and migrations survive closing and reopening, in
// a directory whose name would end a URL early.
func TestSQLiteReopen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a#b?c")
	require.NoError(t, os.Mkdir(dir, 0o700))
	path := filepath.Join(dir, "registry.db")
	s, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa")))
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
	ctx := context.Background()
	base := t.TempDir()
	for _, name := range []string{"x#1", "x#2"} {
		require.NoError(t, os.Mkdir(filepath.Join(base, name), 0o700))
	}
	a, err := OpenSQLite(ctx, filepath.Join(base, "x#1", "registry.db"))
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.CreateVersion(ctx, testVersion("tagifai", 1, "aaa")))
	b, err := OpenSQLite(ctx, filepath.Join(base, "x#2", "registry.db"))
	require.NoError(t, err)
	defer b.Close()
	_, err = b.Model(ctx, "tagifai")
	assert.Equal(t, ENOTFOUND, ErrorCode(err))
}
