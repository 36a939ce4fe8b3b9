package registry

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/registry/registrytest"
)

// BenchmarkCreateJob stores a 100,000-item job of typical texts (about 150
// characters) per iteration and reports the longest intake transaction
// (max-tx-ms: on SQLite, the longest the intake held the write lock at a
// time), on SQLite and, with TAGIFAI_TEST_POSTGRES_URL, PostgreSQL:
//
//	go test ./registry -run XXX -bench CreateJob -benchtime 3x
func BenchmarkCreateJob(b *testing.B) {
	items := make([]Item, 100_000)
	for i := range items {
		items[i] = Item{ID: fmt.Sprintf("p%06d", i), Text: fmt.Sprintf("Comparison between YOLO and RCNN on real world videos, number %d. Bringing theory to experiment is cool: train models in colab in minutes.", i)}
	}
	ctx := context.Background()
	open := map[string]func(b *testing.B) (*SQLStore, error){
		"sqlite": func(b *testing.B) (*SQLStore, error) {
			return OpenSQLite(ctx, filepath.Join(b.TempDir(), "registry.db"))
		},
	}
	if base := registrytest.PostgresURL(); base != "" {
		open["postgres"] = func(b *testing.B) (*SQLStore, error) { return OpenPostgres(ctx, registrytest.PostgresSchema(b, base)) }
	}
	for name, open := range open {
		b.Run(name, func(b *testing.B) {
			s, err := open(b)
			require.NoError(b, err)
			defer s.Close()
			require.NoError(b, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
			var longest time.Duration
			s.intakeCommitted = func(_ int, took time.Duration) { longest = max(longest, took) }
			b.ResetTimer()
			for i := range b.N {
				j := Job{ID: fmt.Sprintf("bench-%d", i), Model: "tagifai", Version: 1, Status: JobQueued, Total: len(items), CreatedBy: "bench", CreatedAt: time.Now().UTC()}
				if _, _, err := s.CreateJob(ctx, j, items, enqueueNothing); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(longest.Microseconds())/1000, "max-tx-ms")
		})
	}
}
