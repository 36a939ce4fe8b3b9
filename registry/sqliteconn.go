package registry

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// sqliteConnector opens the connections of a SQLite store, each one
// wrapped in a writableConn.
type sqliteConnector struct{ driver.Connector }

func (c sqliteConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	dc, ok := conn.(sqliteDriverConn)
	if !ok {
		conn.Close()
		return nil, fmt.Errorf("registry: the sqlite driver's connection %T lacks a method the store needs", conn)
	}
	return writableConn{dc}, nil
}

// sqliteDriverConn is what a connection of modernc.org/sqlite implements:
// the optional interfaces of database/sql that a wrapper must forward, and
// IsReadOnly.
type sqliteDriverConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
	IsReadOnly(schema string) (bool, error)
}

// writableConn is a SQLite connection that the pool discards once it
// cannot write. SQLite opens the database file read-only when it may not
// open it for writing (its mode was changed, say) and keeps it so for the
// life of the connection: without this, the connections opened during a
// brief permission fault would fail every write long after the fault is
// mended. database/sql asks IsValid each time a connection returns to the
// pool, and ResetSession before it is used again; a read-only connection
// answers the query it was opened for and is then closed, and the pool
// opens a new one when it next needs one.
type writableConn struct{ sqliteDriverConn }

// IsValid implements driver.Validator.
func (c writableConn) IsValid() bool {
	if ro, err := c.IsReadOnly("main"); err != nil || ro {
		return false
	}
	return c.sqliteDriverConn.IsValid()
}

// ResetSession implements driver.SessionResetter.
func (c writableConn) ResetSession(ctx context.Context) error {
	if !c.IsValid() {
		return driver.ErrBadConn
	}
	return c.sqliteDriverConn.ResetSession(ctx)
}

// Unwrap returns the driver's connection, as modernc.org/sqlite asks of
// wrappers.
func (c writableConn) Unwrap() driver.Conn { return c.sqliteDriverConn }

// WriteChecker is a Store that can tell whether it can write now, for
// readiness checks.
type WriteChecker interface {
	// CheckWritable returns an error when a write would fail now for a
	// reason that outlasts the request: the database's files cannot be
	// opened for writing, or the database is read-only.
	CheckWritable(ctx context.Context) error
}

var _ WriteChecker = (*SQLStore)(nil)

// ErrReadOnly is returned by CheckWritable when the store cannot write.
var ErrReadOnly = errors.New("registry: the database cannot be written")

// CheckWritable implements WriteChecker without writing: SQLite's files
// (the database, its write-ahead log and shared memory, or the directory
// where they will be made) must be writable by this process, and a
// PostgreSQL session must not be read-only (a standby, or
// default_transaction_read_only).
//
// The SQLite files are asked about with access(2), never opened: closing
// any descriptor of a file drops every POSIX lock this process holds on
// it, SQLite's included, and another process would then take the database
// for unused and delete its write-ahead log under the server.
func (s *SQLStore) CheckWritable(ctx context.Context) error {
	if s.dialect == "sqlite" {
		for _, suffix := range []string{"", "-wal", "-shm"} {
			err := writable(s.path + suffix)
			if errors.Is(err, os.ErrNotExist) && suffix != "" {
				err = writable(filepath.Dir(s.path)) // made on the next write
			}
			if err != nil {
				return fmt.Errorf("%w: %w", ErrReadOnly, err)
			}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	var ro string
	if err := s.db.QueryRowContext(ctx, `SHOW transaction_read_only`).Scan(&ro); err != nil {
		return err
	}
	if strings.EqualFold(ro, "on") {
		return fmt.Errorf("%w: transaction_read_only is on", ErrReadOnly)
	}
	return nil
}

// writable reports, without opening it, whether this process may write
// path: permissions for its effective user, and a file system mounted
// read-write.
func writable(path string) error {
	if err := unix.Faccessat(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS); err != nil {
		return &os.PathError{Op: "access", Path: path, Err: err}
	}
	return nil
}
