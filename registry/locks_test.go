package registry

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// otherProcessEnv names the database TestOtherProcessOpensAndCloses opens
// when it runs as the other process of TestCheckWritableKeepsSQLiteLocks.
const otherProcessEnv = "TAGIFAI_TEST_OTHER_PROCESS_DB"

// TestCheckWritableKeepsSQLiteLocks: a readiness check of a running
// server, then a second process that opens and closes the same SQLite
// registry (`tagifai users create` beside `tagifai serve`), leaves the
// server's write-ahead log in place and every write it answered stored.
// Closing any descriptor of a file drops all of a process's POSIX locks on
// it, so a check that opened the database's files told the other process
// that nobody else had the database, and that process deleted the log on
// its way out.
func TestCheckWritableKeepsSQLiteLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	_, err = s.CreateUser(ctx, User{Name: "before", Role: RoleAdmin, CreatedAt: time.Now()}, "hash-before")
	require.NoError(t, err)
	_, err = os.Stat(path + "-wal")
	require.NoError(t, err, "the server's write-ahead log")

	require.NoError(t, s.CheckWritable(ctx))
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, "-test.run=^TestOtherProcessOpensAndCloses$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), otherProcessEnv+"="+path)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	require.Contains(t, string(out), "--- PASS: TestOtherProcessOpensAndCloses", "%s", out)

	_, err = os.Stat(path + "-wal")
	assert.NoError(t, err, "the other process deleted the server's write-ahead log")
	_, err = os.Stat(path + "-shm")
	assert.NoError(t, err, "the other process deleted the server's shared memory")
	_, err = s.CreateUser(ctx, User{Name: "after", Role: RoleAdmin, CreatedAt: time.Now()}, "hash-after")
	require.NoError(t, err)
	require.NoError(t, s.Close())

	again, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	defer again.Close()
	users, err := again.Users(ctx)
	require.NoError(t, err)
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	assert.ElementsMatch(t, []string{"before", "after"}, names, "every user the server stored")
	var check string
	require.NoError(t, again.db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check))
	assert.Equal(t, "ok", check)
}

// TestOtherProcessOpensAndCloses is the other process of
// TestCheckWritableKeepsSQLiteLocks: it opens the registry, reads it and
// closes it. Run alone, it has nothing to do.
func TestOtherProcessOpensAndCloses(t *testing.T) {
	path := os.Getenv(otherProcessEnv)
	if path == "" {
		return // only as the other process
	}
	ctx := context.Background()
	s, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	users, err := s.Users(ctx)
	require.NoError(t, err)
	require.Len(t, users, 1)
	require.NoError(t, s.Close())
}

// TestNewerDatabaseIsRefused: a registry a newer tagifai migrated is not
// opened (it may hold what this version would break), and the error says
// what to do.
func TestNewerDatabaseIsRefused(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	_, err = s.db.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)`)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	_, err = OpenSQLite(ctx, path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "migrated by a newer tagifai (migration 99")
	assert.Contains(t, err.Error(), "run that version or a later one")
}
