package registry

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/url"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"modernc.org/sqlite" // the "sqlite" database/sql driver, pure Go
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations
var migrations embed.FS

// SQLStore is a Store on a SQL database. Its queries use $N placeholders
// and portable SQL, so that the same code serves SQLite and PostgreSQL.
type SQLStore struct {
	db      *sql.DB
	dialect string
	// intakeCommitted, when set (by tests and benchmarks), hears of each
	// committed transaction of a job's intake: how many items it stored
	// and how long it took from its start to its commit.
	intakeCommitted func(items int, took time.Duration)
	// lookupSlots admits lookups of stored predictions to the connection
	// pool first come, first served: database/sql hands a freed
	// connection to a waiter chosen at random, which under load leaves
	// some lookups waiting far longer than the rest.
	lookupSlots chan struct{}
	// stmts are the prepared statements of hot queries, by query text.
	stmtMu sync.Mutex
	stmts  map[string]*sql.Stmt
	// txOptions are the options of the transactions tx runs; nil for the
	// driver's default.
	txOptions *sql.TxOptions
	// retryable reports whether a transaction that failed with err may be
	// run again; nil when none may.
	retryable func(err error) bool
	// migrationLock is a statement, given migrationLockKey as $1, that
	// serialises migrations between processes; "" when beginning a
	// transaction already does (SQLite's BEGIN IMMEDIATE).
	migrationLock string
	// listen is the configuration of the connections WatchServing opens;
	// nil when the database announces nothing (SQLite).
	listen *pgx.ConnConfig
	// path is the SQLite database file; "" for PostgreSQL.
	path string
}

var (
	_ Store          = (*SQLStore)(nil)
	_ ServingWatcher = (*SQLStore)(nil)
)

// sqliteConns is the size of a SQLite store's connection pool: readers run
// in parallel under WAL, writers wait for each other anyway.
const sqliteConns = 8

// OpenSQLite opens (creating if needed) the SQLite database at path and
// applies the pending migrations. The database runs in WAL mode with full
// fsync, so a committed transaction survives a crash of the process or the
// machine.
func OpenSQLite(ctx context.Context, path string) (*SQLStore, error) {
	q := url.Values{}
	for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(FULL)", "foreign_keys(1)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("registry: %w", err)
	}
	// A URL, so that a path with '#' or '?' in it stays one path.
	dsn := (&url.URL{Scheme: "file", Path: abs, RawQuery: q.Encode()}).String()
	connector, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, fmt.Errorf("registry: open %s: %w", path, err)
	}
	db := sql.OpenDB(sqliteConnector{connector})
	// Keep the connections open: database/sql keeps only two idle ones by
	// default, and opening a SQLite connection (file, pragmas) on every
	// request costs more than the query.
	db.SetMaxOpenConns(sqliteConns)
	db.SetMaxIdleConns(sqliteConns)
	s := &SQLStore{db: db, dialect: "sqlite", path: abs, lookupSlots: make(chan struct{}, sqliteConns)}
	if err := sqliteFirstConn(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("registry: open %s: %w", path, err)
	}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// sqliteFirstConn opens a first connection to db. While another process
// turns a new database file to WAL, PRAGMA journal_mode fails at once with
// SQLITE_BUSY, without waiting for busy_timeout; it waits and tries again
// for as long as busy_timeout would have.
func sqliteFirstConn(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := db.PingContext(ctx)
		var e *sqlite.Error
		if err == nil || !errors.As(err, &e) || e.Code() != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(5+rand.IntN(20)) * time.Millisecond):
		}
	}
}

// migrate applies, in order and each in its own transaction, the migrations
// of the store's dialect that the database has not seen.
//
// The transactions run at the driver's default isolation (READ COMMITTED on
// PostgreSQL), so that the check for a migration, made after the lock is
// taken, sees what another process committed while this one waited.
func (s *SQLStore) migrate(ctx context.Context) error {
	lock := func(tx *sql.Tx) error {
		if s.migrationLock == "" {
			return nil
		}
		_, err := tx.ExecContext(ctx, s.migrationLock, migrationLockKey)
		return err
	}
	dir := path.Join("migrations", s.dialect)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("registry: migrations: %w", err)
	}
	if s.upToDate(ctx, len(entries)) {
		return nil
	}
	err = s.txOnce(ctx, nil, func(tx *sql.Tx) error {
		if err := lock(tx); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("registry: migrations table: %w", err)
	}
	// A database a newer tagifai migrated has tables and meanings this one
	// does not know: writing to it could break it for that version.
	known := 0
	for _, e := range entries {
		if num, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0]); err == nil {
			known = max(known, num)
		}
	}
	var highest int
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&highest); err != nil {
		return fmt.Errorf("registry: migrations: %w", err)
	}
	if highest > known {
		return fmt.Errorf("registry: the database was migrated by a newer tagifai (migration %d; this one knows up to %d): "+
			"run that version or a later one, or restore a backup made before it ran", highest, known)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	numbered := map[int]string{}
	for _, e := range entries {
		num, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("registry: migration %s: name must start with its number", e.Name())
		}
		if other, dup := numbered[num]; dup {
			// The second would be skipped as applied: a silent hole in
			// the schema.
			return fmt.Errorf("registry: migrations %s and %s share a number", other, e.Name())
		}
		numbered[num] = e.Name()
		body, err := fs.ReadFile(migrations, path.Join(dir, e.Name()))
		if err != nil {
			return fmt.Errorf("registry: migration %s: %w", e.Name(), err)
		}
		err = s.txOnce(ctx, nil, func(tx *sql.Tx) error {
			if err := lock(tx); err != nil {
				return err
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, num).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, num, time.Now().UnixNano())
			return err
		})
		if err != nil {
			return fmt.Errorf("registry: migration %s: %w", e.Name(), err)
		}
	}
	return nil
}

// upToDate reports whether the database records as many migrations as
// there are, numbered 1 to n: then migrate need not take the migration
// lock, nor open a transaction per migration, as at every start but the
// first after an upgrade. Any doubt (no table yet, an error, a gap) says
// no, and migrate looks at each migration under the lock.
func (s *SQLStore) upToDate(ctx context.Context, n int) bool {
	var count, highest int
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&count, &highest)
	return err == nil && count == n && highest == n
}

// Migrating runs the migrations of another schema kept in the same
// database (a job queue's) under the lock under which the registry's own
// run, so that they run once when replicas start at once. On SQLite, fn
// gets the one transaction to run them in (BEGIN IMMEDIATE: the lock); on
// PostgreSQL, where some migrations need transactions of their own, fn gets
// nil and runs them as it will while a session holds the lock.
func (s *SQLStore) Migrating(ctx context.Context, fn func(*sql.Tx) error) error {
	if s.migrationLock == "" {
		return s.txOnce(ctx, nil, fn)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey) //nolint:errcheck // the session ends with the connection anyway
	return fn(nil)
}

// maxTxAttempts bounds how often tx runs a transaction that the database
// aborted to keep transactions serializable.
const maxTxAttempts = 10

// tx runs fn in a transaction with the store's options, committing when it
// returns nil. When the database aborts the transaction for a reason that
// running it again may cure (a serialization failure on PostgreSQL), tx runs
// it again, fn included, after a short random pause: fn must be safe to run
// more than once and must not keep what it learned from an aborted attempt.
func (s *SQLStore) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return s.txWith(ctx, s.txOptions, fn)
}

// txWith is tx with opts instead of the store's options.
func (s *SQLStore) txWith(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := s.txOnce(ctx, opts, fn)
		if err == nil || s.retryable == nil || !s.retryable(err) || attempt == maxTxAttempts {
			return err
		}
		pause := time.Duration(rand.Int64N(int64(attempt) * int64(2*time.Millisecond)))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// txOnce runs fn in one transaction with opts, committing when it returns
// nil.
func (s *SQLStore) txOnce(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, opts)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// DB returns the store's database, for a job queue that keeps its tables
// beside the registry's and works within its transactions.
func (s *SQLStore) DB() *sql.DB { return s.db }

// Dialect is "sqlite" or "postgres".
func (s *SQLStore) Dialect() string { return s.dialect }

// Ping implements Store.
func (s *SQLStore) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Close implements Store.
func (s *SQLStore) Close() error { return s.db.Close() }

const modelColumns = `m.name, COALESCE(m.serving_version, 0), m.created_at, (SELECT COUNT(*) FROM versions v WHERE v.model = m.name), m.revision`

func scanModel(row scanner) (Model, error) {
	var m Model
	var created int64
	if err := row.Scan(&m.Name, &m.ServingVersion, &created, &m.VersionCount, &m.Revision); err != nil {
		return Model{}, err
	}
	m.CreatedAt = time.Unix(0, created).UTC()
	return m, nil
}

// Models implements Store.
func (s *SQLStore) Models(ctx context.Context) ([]Model, error) {
	return queryAll(ctx, s.db, "list models", scanModel, `SELECT `+modelColumns+` FROM models m ORDER BY m.name`)
}

// Model implements Store.
func (s *SQLStore) Model(ctx context.Context, name string) (Model, error) {
	m, err := scanModel(s.db.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models m WHERE m.name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return Model{}, Errorf(ENOTFOUND, "no model named %q", name)
	}
	if err != nil {
		return Model{}, fmt.Errorf("registry: get model: %w", err)
	}
	return m, nil
}

const versionColumns = `v.model, v.version, v.checksum, v.size, v.run_id, v.classes, v.args, v.performance, v.created_at, v.uploaded_by,
	COALESCE((SELECT m.serving_version FROM models m WHERE m.name = v.model), 0) = v.version`

func scanVersion(row scanner) (Version, error) {
	var v Version
	var classes, args, perf string
	var created int64
	if err := row.Scan(&v.Model, &v.Version, &v.Checksum, &v.Size, &v.RunID, &classes, &args, &perf, &created, &v.UploadedBy, &v.Serving); err != nil {
		return Version{}, err
	}
	if err := json.Unmarshal([]byte(classes), &v.Classes); err != nil {
		return Version{}, fmt.Errorf("classes: %w", err)
	}
	v.Args, v.Performance = json.RawMessage(args), json.RawMessage(perf)
	v.CreatedAt = time.Unix(0, created).UTC()
	return v, nil
}

// Versions implements Store.
func (s *SQLStore) Versions(ctx context.Context, name string) ([]Version, error) {
	if _, err := s.Model(ctx, name); err != nil {
		return nil, err
	}
	return queryAll(ctx, s.db, "list versions", scanVersion,
		`SELECT `+versionColumns+` FROM versions v WHERE v.model = $1 ORDER BY v.version`, name)
}

// Version implements Store.
func (s *SQLStore) Version(ctx context.Context, name string, version int) (Version, error) {
	v, err := scanVersion(s.db.QueryRowContext(ctx, `SELECT `+versionColumns+` FROM versions v WHERE v.model = $1 AND v.version = $2`, name, version))
	if errors.Is(err, sql.ErrNoRows) {
		return Version{}, Errorf(ENOTFOUND, "model %q has no version %d", name, version)
	}
	if err != nil {
		return Version{}, fmt.Errorf("registry: get version: %w", err)
	}
	return v, nil
}

// CreateVersion implements Store.
func (s *SQLStore) CreateVersion(ctx context.Context, v Version, artifact []byte) error {
	classes, err := json.Marshal(v.Classes)
	if err != nil {
		return fmt.Errorf("registry: encode classes: %w", err)
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		exists, err := versionExists(ctx, tx, v.Model, v.Version)
		if err != nil {
			return fmt.Errorf("registry: create version: %w", err)
		}
		if exists {
			return Errorf(ECONFLICT, "version %d of %s exists", v.Version, v.Model)
		}
		if _, ok := ctx.Value(ifMatchKey{}).([]int64); ok {
			// If-Match names a revision of a model that exists.
			if _, err := lockModel(ctx, tx, v.Model); err != nil {
				if ErrorCode(err) == ENOTFOUND {
					return Errorf(EPRECONDITION, "model %s does not exist yet, so no revision of it matches If-Match; upload without If-Match to create it", v.Model)
				}
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO models (name, created_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`,
			v.Model, v.CreatedAt.UnixNano()); err != nil {
			return fmt.Errorf("registry: create model: %w", err)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO versions (model, version, checksum, size, run_id, classes, args, performance, created_at, uploaded_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			v.Model, v.Version, v.Checksum, v.Size, v.RunID, string(classes), string(v.Args), string(v.Performance), v.CreatedAt.UnixNano(), v.UploadedBy)
		if err != nil {
			return fmt.Errorf("registry: create version: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO artifacts (model, version, data) VALUES ($1, $2, $3)
			ON CONFLICT (model, version) DO UPDATE SET data = excluded.data`, v.Model, v.Version, artifact); err != nil {
			return fmt.Errorf("registry: store artifact: %w", err)
		}
		if err := bumpRevision(ctx, tx, v.Model); err != nil {
			return err
		}
		return s.audit(ctx, tx, ActionVersionUpload, VersionResource(v.Model, v.Version), "", "sha256 "+v.Checksum)
	})
}

// Artifact implements Store.
func (s *SQLStore) Artifact(ctx context.Context, name string, version int) ([]byte, error) {
	var data []byte
	err := s.db.QueryRowContext(ctx, `SELECT data FROM artifacts WHERE model = $1 AND version = $2`, name, version).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "the database has no artifact for %s version %d", name, version)
	}
	if err != nil {
		return nil, fmt.Errorf("registry: read artifact: %w", err)
	}
	return data, nil
}

// HasArtifact implements Store.
func (s *SQLStore) HasArtifact(ctx context.Context, name string, version int) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM artifacts WHERE model = $1 AND version = $2`, name, version).Scan(&n); err != nil {
		return false, fmt.Errorf("registry: find artifact: %w", err)
	}
	return n > 0, nil
}

// PutArtifact implements Store.
func (s *SQLStore) PutArtifact(ctx context.Context, name string, version int, artifact []byte) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		exists, err := versionExists(ctx, tx, name, version)
		if err != nil {
			return fmt.Errorf("registry: store artifact: %w", err)
		}
		if !exists {
			return Errorf(ENOTFOUND, "model %q has no version %d", name, version)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO artifacts (model, version, data) VALUES ($1, $2, $3)
			ON CONFLICT (model, version) DO NOTHING`, name, version, artifact); err != nil {
			return fmt.Errorf("registry: store artifact: %w", err)
		}
		return nil
	})
}

// DeleteVersion implements Store.
func (s *SQLStore) DeleteVersion(ctx context.Context, name string, version int) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := lockModel(ctx, tx, name)
		if err != nil {
			return err
		}
		if st.serving == version {
			return Errorf(ECONFLICT, "version %d of %s is serving; make another version serve first", version, name)
		}
		if r, err := readRollout(ctx, tx, name); err == nil && r.Active() && r.Candidate == version {
			return Errorf(ECONFLICT, "version %d of %s is the candidate of the running rollout; abort the rollout (DELETE /models/%s/rollout) first", version, name, name)
		}
		var checksum string
		if err := tx.QueryRowContext(ctx, `SELECT checksum FROM versions WHERE model = $1 AND version = $2`, name, version).Scan(&checksum); errors.Is(err, sql.ErrNoRows) {
			return Errorf(ENOTFOUND, "model %q has no version %d", name, version)
		} else if err != nil {
			return fmt.Errorf("registry: delete version: %w", err)
		}
		var jobs int
		err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM batch_jobs WHERE model = $1 AND version = $2 AND status IN ('queued', 'running')`, name, version).Scan(&jobs)
		if err != nil {
			return fmt.Errorf("registry: delete version: %w", err)
		}
		if jobs > 0 {
			return Errorf(ECONFLICT, "version %d of %s has %d batch jobs queued or running; wait for them to finish", version, name, jobs)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM versions WHERE model = $1 AND version = $2`, name, version)
		if err != nil {
			return fmt.Errorf("registry: delete version: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return Errorf(ENOTFOUND, "model %q has no version %d", name, version)
		}
		// Its artifact, stored predictions and feedback go with it: a
		// later upload under the same number is another model, whose
		// answers these are not.
		for _, table := range []string{"artifacts", "predictions", "feedback"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE model = $1 AND version = $2`, name, version); err != nil {
				return fmt.Errorf("registry: delete version: %w", err)
			}
		}
		if err := bumpRevision(ctx, tx, name); err != nil {
			return err
		}
		return s.audit(ctx, tx, ActionVersionDelete, VersionResource(name, version), "sha256 "+checksum, "")
	})
}

// SetServing implements Store.
func (s *SQLStore) SetServing(ctx context.Context, name string, version int) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		st, err := lockModel(ctx, tx, name)
		if err != nil {
			return err
		}
		exists, err := versionExists(ctx, tx, name, version)
		if err != nil {
			return fmt.Errorf("registry: set serving: %w", err)
		}
		if !exists {
			return Errorf(ENOTFOUND, "model %q has no version %d", name, version)
		}
		if r, err := readRollout(ctx, tx, name); err == nil && r.Active() {
			switch version {
			case r.Candidate:
				// Serving the candidate promotes it and ends the rollout.
				if err := endRollout(ctx, tx, name, RolloutPromoted, fmt.Sprintf("version %d promoted to serving", version)); err != nil {
					return err
				}
				if err := s.audit(ctx, tx, ActionRolloutPromote, RolloutResource(name), r.String(), fmt.Sprintf("version %d serves", version)); err != nil {
					return err
				}
			case st.serving:
			default:
				return Errorf(ECONFLICT, "a rollout of version %d of %s runs; promote it (serve version %d) or abort it (DELETE /models/%s/rollout) before serving version %d",
					r.Candidate, name, r.Candidate, name, version)
			}
		} else if err != nil && ErrorCode(err) != ENOTFOUND {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE models SET serving_version = $1 WHERE name = $2`, version, name); err != nil {
			return fmt.Errorf("registry: set serving: %w", err)
		}
		if err := bumpRevision(ctx, tx, name); err != nil {
			return err
		}
		action, from := ActionDeploy, ""
		if st.serving != 0 {
			from = strconv.Itoa(st.serving)
		}
		if st.serving > version {
			action = ActionRollback
		}
		if err := s.audit(ctx, tx, action, ModelResource(name), from, strconv.Itoa(version)); err != nil {
			return err
		}
		return s.announceServing(ctx, tx, name)
	})
}

const userColumns = `name, role, created_at, revoked_at, key_hash`

func scanUser(row scanner) (User, error) {
	var u User
	var created int64
	var revoked sql.NullInt64
	if err := row.Scan(&u.Name, &u.Role, &created, &revoked, &u.keyHash); err != nil {
		return User{}, err
	}
	u.CreatedAt = time.Unix(0, created).UTC()
	if revoked.Valid {
		t := time.Unix(0, revoked.Int64).UTC()
		u.RevokedAt = &t
	}
	return u, nil
}

// CreateUser implements Store.
func (s *SQLStore) CreateUser(ctx context.Context, u User, keyHash string) (User, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE name = $1 AND revoked_at IS NULL`, u.Name).Scan(&n); err != nil {
			return fmt.Errorf("registry: create user: %w", err)
		}
		if n > 0 {
			return Errorf(ECONFLICT, "an active user is named %q; revoke them first", u.Name)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, key_hash, created_at) VALUES ($1, $2, $3, $4)`,
			u.Name, string(u.Role), keyHash, u.CreatedAt.UnixNano())
		if err != nil {
			return fmt.Errorf("registry: create user: %w", err)
		}
		return s.audit(ctx, tx, ActionUserCreate, UserResource(u.Name), "", "role "+string(u.Role))
	})
	if err != nil {
		return User{}, err
	}
	u.keyHash = ""
	return u, nil
}

// Users implements Store.
func (s *SQLStore) Users(ctx context.Context) ([]User, error) {
	users, err := queryAll(ctx, s.db, "list users", scanUser, `SELECT `+userColumns+` FROM users ORDER BY name, created_at`)
	for i := range users {
		users[i].keyHash = ""
	}
	return users, err
}

// UserByKeyHash implements Store.
func (s *SQLStore) UserByKeyHash(ctx context.Context, keyHash string) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE key_hash = $1 AND revoked_at IS NULL`, keyHash))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, Errorf(ENOTFOUND, "unknown API key")
	}
	if err != nil {
		return User{}, fmt.Errorf("registry: authenticate: %w", err)
	}
	return u, nil
}

// RevokeUser implements Store.
func (s *SQLStore) RevokeUser(ctx context.Context, name string) (User, error) {
	var u User
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1 AND revoked_at IS NULL`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return Errorf(ENOTFOUND, "no active user named %q", name)
		}
		if err != nil {
			return fmt.Errorf("registry: revoke user: %w", err)
		}
		now := time.Now().UTC()
		if _, err := tx.ExecContext(ctx, `UPDATE users SET revoked_at = $1 WHERE name = $2 AND revoked_at IS NULL`, now.UnixNano(), name); err != nil {
			return fmt.Errorf("registry: revoke user: %w", err)
		}
		u.RevokedAt, u.keyHash = &now, ""
		return s.audit(ctx, tx, ActionUserRevoke, UserResource(name), "role "+string(u.Role), "revoked")
	})
	return u, err
}
