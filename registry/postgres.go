package registry

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pool settings for OpenPostgres. Every replica holds up to
// postgresMaxConns connections, so that ten replicas stay within
// PostgreSQL's default max_connections of 100; connections are recycled
// now and then so that a replica follows a fail-over or a DNS change.
const (
	postgresMaxConns        = 10
	postgresConnMaxLifetime = 30 * time.Minute
	postgresConnMaxIdleTime = 5 * time.Minute
)

// migrationLockKey names the PostgreSQL advisory lock that serialises
// migrations between replicas starting at once ("tagifai\x00" as an int64).
const migrationLockKey int64 = 0x7461676966616900

// OpenPostgres connects to the PostgreSQL database at url (a postgres://
// URL or a key=value string, as pgx reads them; search_path and other
// run-time parameters may be given in it) and applies the pending
// migrations. Several replicas may open the same database at once: each
// migration runs under an advisory lock, so exactly one of them applies it.
//
// Transactions that write run SERIALIZABLE and are retried when PostgreSQL
// aborts one to keep them so, so a check followed by a write (does the
// version exist? then insert it) holds between replicas as it does in one
// process.
func OpenPostgres(ctx context.Context, url string) (*SQLStore, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("registry: postgres url: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(postgresMaxConns)
	db.SetMaxIdleConns(postgresMaxConns)
	db.SetConnMaxLifetime(postgresConnMaxLifetime)
	db.SetConnMaxIdleTime(postgresConnMaxIdleTime)
	s := &SQLStore{
		db:            db,
		dialect:       "postgres",
		lookupSlots:   make(chan struct{}, postgresMaxConns),
		txOptions:     &sql.TxOptions{Isolation: sql.LevelSerializable},
		retryable:     postgresRetryable,
		migrationLock: `SELECT pg_advisory_xact_lock($1)`,
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("registry: connect to postgres: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// postgresRetryable reports whether err aborted a transaction that may
// succeed when run again: a serialization failure or a deadlock.
func postgresRetryable(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "40001", "40P01": // serialization_failure, deadlock_detected
		return true
	}
	return false
}
