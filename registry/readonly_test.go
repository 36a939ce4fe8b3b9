package registry

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSQLiteRecoversFromReadOnlyFile: while the database file cannot be
// written, CheckWritable says so and writes fail; once it can be written
// again, every write succeeds, on every connection of the pool, without a
// restart, and CheckWritable agrees.
func TestSQLiteRecoversFromReadOnlyFile(t *testing.T) {
	if os.Geteuid() == 0 {
		runUnprivileged(t) // root ignores file modes
		return
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := OpenSQLite(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	user := func(name string) error {
		_, err := s.CreateUser(ctx, User{Name: name, Role: RolePredictor, CreatedAt: time.Now()}, "hash-"+name)
		return err
	}
	require.NoError(t, user("before"))
	require.NoError(t, s.CheckWritable(ctx))

	require.NoError(t, os.Chmod(path, 0o444))
	assert.ErrorIs(t, s.CheckWritable(ctx), ErrReadOnly)
	// Under load the pool opens connections, which SQLite opens read-only.
	errs := concurrently(sqliteConns, func(i int) error {
		conn, err := s.db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		time.Sleep(20 * time.Millisecond) // hold it, so that the pool opens others
		var n int
		return conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	})
	for _, err := range errs {
		require.NoError(t, err, "reads go on during the fault")
	}
	var failed int
	for _, err := range concurrently(sqliteConns, func(i int) error { return user(fmt.Sprintf("during-%d", i)) }) {
		if err != nil {
			failed++
		}
	}
	t.Logf("%d of %d writes failed during the fault", failed, sqliteConns)

	require.NoError(t, os.Chmod(path, 0o644))
	require.NoError(t, s.CheckWritable(ctx))
	for round := range 3 {
		for i, err := range concurrently(sqliteConns, func(i int) error { return user(fmt.Sprintf("after-%d-%d", round, i)) }) {
			assert.NoError(t, err, "write %d of round %d after the fault", i, round)
		}
	}
}

// runUnprivileged runs the calling test again in a copy of the test binary
// as the user nobody, and fails when it fails.
func runUnprivileged(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	for d := dir; d != filepath.Dir(d) && d != os.TempDir(); d = filepath.Dir(d) {
		require.NoError(t, os.Chmod(d, 0o777))
	}
	self, err := os.Executable()
	require.NoError(t, err)
	bin := filepath.Join(dir, "registry.test")
	copyFile(t, self, bin)
	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Dir = dir
	cmd.Env = []string{"TMPDIR=" + dir, "HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	t.Logf("as nobody:\n%s", out)
	require.NoError(t, err)
	require.Contains(t, string(out), "--- PASS: "+t.Name())
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}
