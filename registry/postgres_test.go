package registry

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPostgresRetryable: only the failures that running the transaction
// again may cure are retried.
func TestPostgresRetryable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"serialization failure", &pgconn.PgError{Code: "40001"}, true},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, true},
		{"wrapped serialization failure", fmt.Errorf("registry: create version: %w", &pgconn.PgError{Code: "40001"}), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"application error", Errorf(ECONFLICT, "exists"), false},
		{"other error", errors.New("connection reset"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, postgresRetryable(tt.err))
		})
	}
}

// TestPostgresOpenErrors: a bad URL or an unreachable server is an error
// at once, and the error does not repeat the password.
func TestPostgresOpenErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
	}{
		{"not a URL", "postgres://u:s3cret-pw@[::1"},
		{"unknown parameter value", "postgres://u:s3cret-pw@127.0.0.1/db?sslmode=sometimes"},
		{"nothing listening", "postgres://u:s3cret-pw@127.0.0.1:1/db?connect_timeout=5&sslmode=disable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenPostgres(context.Background(), tt.url)
			require.Error(t, err)
			assert.Nil(t, s)
			assert.NotContains(t, err.Error(), "s3cret-pw")
		})
	}
}
