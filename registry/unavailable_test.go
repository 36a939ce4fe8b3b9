package registry

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"net"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUnavailable: errors of a database that cannot serve now are told
// apart from failures of the request itself.
func TestUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	open := func() *sql.DB {
		db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)&_pragma=journal_mode(WAL)")
		require.NoError(t, err)
		t.Cleanup(func() { db.Close() })
		return db
	}
	a, b := open(), open()
	_, err := a.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY)`)
	require.NoError(t, err)
	_, err = a.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
	require.NoError(t, err)
	_, constraint := a.ExecContext(ctx, `INSERT INTO t VALUES (1)`)
	require.Error(t, constraint)
	_, syntax := a.ExecContext(ctx, `SELEC 1`)
	require.Error(t, syntax)
	tx, err := a.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, `INSERT INTO t VALUES (2)`)
	require.NoError(t, err)
	_, busy := b.ExecContext(ctx, `INSERT INTO t VALUES (3)`) // a's transaction holds the write lock
	require.NoError(t, tx.Rollback())
	require.Error(t, busy)
	closed := open()
	require.NoError(t, closed.Close())
	_, closedErr := closed.ExecContext(ctx, `SELECT 1`)
	require.Error(t, closedErr)

	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"SQLite busy", busy, true},
		{"a pool closed under the request", closedErr, true},
		{"a lost connection", fmt.Errorf("registry: x: %w", driver.ErrBadConn), true},
		{"a connection done", sql.ErrConnDone, true},
		{"connection refused", fmt.Errorf("registry: x: %w", &net.OpError{Op: "dial", Err: fmt.Errorf("connection refused")}), true},
		{"PostgreSQL shutting down", &pgconn.PgError{Code: "57P01"}, true},
		{"PostgreSQL starting", &pgconn.PgError{Code: "57P03"}, true},
		{"PostgreSQL connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"a PostgreSQL standby", &pgconn.PgError{Code: "25006"}, true},
		{"a registry that cannot be written", fmt.Errorf("x: %w", ErrReadOnly), true},
		{"SQLite constraint", constraint, false},
		{"SQLite syntax", syntax, false},
		{"PostgreSQL unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"a domain error", Errorf(ENOTFOUND, "no such version"), false},
		{"anything else", fmt.Errorf("boom"), false},
	} {
		assert.Equal(t, tc.want, Unavailable(tc.err), "%s: %v", tc.name, tc.err)
	}
}
