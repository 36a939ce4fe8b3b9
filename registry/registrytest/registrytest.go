// Package registrytest gives tests of code built on the registry the
// databases to run against: PostgreSQL among them only when the
// environment names one.
package registrytest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// PostgresURLVar names the environment variable that holds the URL of a
// PostgreSQL database the tests may create schemas in; `make
// test-postgres` (scripts/test-postgres.sh) sets it.
const PostgresURLVar = "TAGIFAI_TEST_POSTGRES_URL"

// PostgresURL returns the URL in PostgresURLVar, "" when it is not set.
func PostgresURL() string { return os.Getenv(PostgresURLVar) }

// PostgresSchema creates a schema with a random name in the database at
// base, drops it when t ends, and returns base with search_path set to it:
// an empty database of the test's own.
func PostgresSchema(t testing.TB, base string) string {
	t.Helper()
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "test_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	_, err = admin.Exec(`CREATE SCHEMA ` + schema)
	require.NoError(t, err, "%s must name a database we may create schemas in", PostgresURLVar)
	t.Cleanup(func() {
		_, err := admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		assert.NoError(t, err)
	})
	if !strings.Contains(base, "://") { // key=value form
		return base + " search_path=" + schema
	}
	u, err := url.Parse(base)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
