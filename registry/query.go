package registry

import (
	"context"
	"database/sql"
	"fmt"
)

// queryer runs queries: *sql.DB and *sql.Tx are.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a row to scan: *sql.Row and *sql.Rows are.
type scanner interface{ Scan(dest ...any) error }

// queryAll runs query on q and returns each row scanned by scan; what
// names the query in errors.
func queryAll[T any](ctx context.Context, q queryer, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("registry: %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("registry: %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registry: %s: %w", what, err)
	}
	return out, nil
}

// versionExists reports whether q's database has version of model name.
func versionExists(ctx context.Context, q queryer, name string, version int) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM versions WHERE model = $1 AND version = $2`, name, version).Scan(&n)
	return n > 0, err
}
