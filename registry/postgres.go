package registry

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Pool settings for OpenPostgres. Every replica holds up to
// postgresMaxConns connections, and one more while it listens for
// serving-version changes (WatchServing), so that ten replicas stay within
// PostgreSQL's default max_connections of 100; connections are recycled
// now and then so that a replica follows a fail-over or a DNS change.
const (
	postgresMaxConns        = 9
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
		listen:        cfg,
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

// servingChannel is the PostgreSQL notification channel on which
// SetServing announces a model's new serving version. Channels belong to
// the database, not to a schema, so the payload names both (a
// servingAnnouncement in JSON), and a store hears only the announcements of
// its own schema: deployments that share a database in schemas of their
// own do not hear each other.
const servingChannel = "tagifai_serving"

// servingAnnouncement is the payload of a notification on servingChannel.
type servingAnnouncement struct {
	Schema string `json:"schema"`
	Model  string `json:"model"`
}

// announceServing announces, within tx, that model's serving version
// changed; PostgreSQL delivers the announcement when tx commits, and not at
// all if it does not. Nothing on SQLite.
func (s *SQLStore) announceServing(ctx context.Context, tx *sql.Tx, model string) error {
	if s.listen == nil {
		return nil
	}
	_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, json_build_object('schema', current_schema(), 'model', $2::text)::text)`,
		servingChannel, model)
	if err != nil {
		return fmt.Errorf("registry: announce serving version: %w", err)
	}
	return nil
}

// WatchServing implements ServingWatcher on a connection of its own, which
// it closes when it returns. On SQLite it returns errors.ErrUnsupported.
func (s *SQLStore) WatchServing(ctx context.Context, changed func(model string)) error {
	if s.listen == nil {
		return errors.ErrUnsupported
	}
	conn, err := pgx.ConnectConfig(ctx, s.listen.Copy())
	if err != nil {
		return fmt.Errorf("registry: listen for serving versions: %w", err)
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	var schema string
	if err := conn.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return fmt.Errorf("registry: listen for serving versions: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+servingChannel); err != nil {
		return fmt.Errorf("registry: listen for serving versions: %w", err)
	}
	changed("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("registry: listen for serving versions: %w", err)
		}
		var a servingAnnouncement
		if json.Unmarshal([]byte(n.Payload), &a) != nil || a.Schema != schema {
			continue // another schema's, or not ours at all
		}
		changed(a.Model)
	}
}
