package registry

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// Unavailable reports whether err says that the database cannot serve
// now, for a reason outside the request that may pass: the connection is
// refused, lost or closed, PostgreSQL is shutting down, starting, out of
// connections or read-only (a standby), SQLite's file is busy, locked,
// read-only, full or failing to read or write. The caller may answer
// "try again later" rather than "failed". A corrupt database, a broken
// query or a constraint is not unavailable.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) || errors.Is(err, ErrReadOnly) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), // connection exception
			pgErr.Code == "53300",                                               // too_many_connections
			pgErr.Code == "25006",                                               // read_only_sql_transaction
			pgErr.Code == "57P01", pgErr.Code == "57P02", pgErr.Code == "57P03": // shutting down, crashed, starting
			return true
		}
		return false
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var sqliteErr *sqlite.Error
	if errors.As(err, &sqliteErr) {
		switch sqliteErr.Code() & 0xff {
		case 5, 6, 8, 10, 13, 14: // BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN
			return true
		}
		return false
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	// database/sql's own error for a pool closed under a request (the
	// process is stopping); it has no exported value.
	return strings.Contains(err.Error(), "sql: database is closed")
}
