package registry

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testFeedback(id string, version int, predicted, tag string, at time.Time) Feedback {
	return Feedback{PredictionID: id, Model: "tagifai", Version: version, PredictedTag: predicted, Tag: tag,
		PredictedAt: at, ReceivedAt: at.Add(time.Minute)}
}

// TestStoreFeedback is the feedback part of the store suite: the first
// feedback on a prediction wins, a retry changes nothing, feedback on a
// deleted version is neither stored nor kept, and counts are by predicted
// and true tag over a time range.
func TestStoreFeedback(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for name, open := range storeFactories(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("signing key: the first stored stays", func(t *testing.T) {
				s := open(t)
				k1, err := s.SigningKey(ctx, "prediction-id", []byte("first-key-first-key-first-key-01"))
				require.NoError(t, err)
				k2, err := s.SigningKey(ctx, "prediction-id", []byte("other-key-other-key-other-key-02"))
				require.NoError(t, err)
				assert.Equal(t, "first-key-first-key-first-key-01", string(k1))
				assert.Equal(t, k1, k2)
				k3, err := s.SigningKey(ctx, "another", []byte("x"))
				require.NoError(t, err)
				assert.Equal(t, "x", string(k3))
			})

			t.Run("save and count", func(t *testing.T) {
				s := open(t)
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 2, "bbb"), testArtifact("tagifai", 2, "bbb")))
				got, err := s.SaveFeedback(ctx, []Feedback{
					testFeedback("id1", 1, "a", "a", t0),
					testFeedback("id2", 1, "a", "b", t0.Add(time.Hour)),
					testFeedback("id3", 1, "b", "b", t0.Add(2*time.Hour)),
					testFeedback("id4", 2, "b", "b", t0),
					testFeedback("id5", 9, "b", "b", t0),
				})
				require.NoError(t, err)
				assert.Equal(t, []FeedbackOutcome{FeedbackAdded, FeedbackAdded, FeedbackAdded, FeedbackAdded, FeedbackVersionGone}, got)

				got, err = s.SaveFeedback(ctx, []Feedback{
					testFeedback("id1", 1, "a", "a", t0), // a retry
					testFeedback("id2", 1, "a", "a", t0), // a correction: the first wins
					testFeedback("id6", 1, "b", "a", t0.Add(3*time.Hour)),
				})
				require.NoError(t, err)
				assert.Equal(t, []FeedbackOutcome{FeedbackRepeated, FeedbackConflict, FeedbackAdded}, got)

				counts, err := s.FeedbackCounts(ctx, "tagifai", 1, time.Time{})
				require.NoError(t, err)
				assert.Equal(t, []FeedbackCount{{"a", "a", 1}, {"a", "b", 1}, {"b", "a", 1}, {"b", "b", 1}}, counts)
				counts, err = s.FeedbackCounts(ctx, "tagifai", 1, t0.Add(2*time.Hour))
				require.NoError(t, err)
				assert.Equal(t, []FeedbackCount{{"b", "a", 1}, {"b", "b", 1}}, counts)
				// Prediction times are known to the second: a since within
				// a second counts the predictions of that second.
				counts, err = s.FeedbackCounts(ctx, "tagifai", 1, t0.Add(2*time.Hour+999*time.Millisecond))
				require.NoError(t, err)
				assert.Equal(t, []FeedbackCount{{"b", "a", 1}, {"b", "b", 1}}, counts)
				counts, err = s.FeedbackCounts(ctx, "tagifai", 3, time.Time{})
				require.NoError(t, err)
				assert.Empty(t, counts)

				got, err = s.SaveFeedback(ctx, nil)
				require.NoError(t, err)
				assert.Empty(t, got)

				// Deleting a version deletes its feedback: a later upload
				// under the same number starts afresh.
				require.NoError(t, s.DeleteVersion(ctx, "tagifai", 2))
				require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 2, "ccc"), testArtifact("tagifai", 2, "ccc")))
				counts, err = s.FeedbackCounts(ctx, "tagifai", 2, time.Time{})
				require.NoError(t, err)
				assert.Empty(t, counts)
			})

		})
	}
}

// TestBulkStoreFeedback: 10,000 labels in one call, half of them stored
// before, on each database: an outcome for each, in order, and counts that
// include each once.
func TestBulkStoreFeedback(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for name, open := range storeFactories(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			require.NoError(t, s.CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
			const n = 10_000
			fb := make([]Feedback, n)
			for i := range fb {
				fb[i] = testFeedback(fmt.Sprintf("id%05d", i), 1, "a", []string{"a", "b"}[i%2], t0)
			}
			got, err := s.SaveFeedback(ctx, fb[:n/2])
			require.NoError(t, err)
			for _, o := range got {
				require.Equal(t, FeedbackAdded, o)
			}
			got, err = s.SaveFeedback(ctx, fb)
			require.NoError(t, err)
			for i, o := range got {
				want := FeedbackAdded
				if i < n/2 {
					want = FeedbackRepeated
				}
				require.Equal(t, want, o, "item %d", i)
			}
			counts, err := s.FeedbackCounts(ctx, "tagifai", 1, time.Time{})
			require.NoError(t, err)
			assert.Equal(t, []FeedbackCount{{"a", "a", n / 2}, {"a", "b", n / 2}}, counts)
		})
	}
}

// TestStoreFeedbackReplicas: replicas sharing a database that receive the
// same feedback at once store it once, and agree on the key they sign
// with.
func TestStoreFeedbackReplicas(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for name, newDatabase := range databaseFactories(t) {
		t.Run(name, func(t *testing.T) {
			openReplica := newDatabase(t)
			const replicas = 4
			stores := make([]*SQLStore, replicas)
			for i := range stores {
				s, err := openReplica(ctx)
				require.NoError(t, err)
				t.Cleanup(func() { s.Close() })
				stores[i] = s
			}
			require.NoError(t, stores[0].CreateVersion(ctx, testVersion("tagifai", 1, "aaa"), testArtifact("tagifai", 1, "aaa")))
			keys := make([][]byte, replicas)
			errs := concurrently(replicas, func(i int) error {
				var err error
				keys[i], err = stores[i].SigningKey(ctx, "prediction-id", []byte(fmt.Sprintf("key-of-replica-%d-................", i)))
				return err
			})
			for i := range replicas {
				require.NoError(t, errs[i])
				assert.Equal(t, keys[0], keys[i])
			}
			fb := make([]Feedback, 200)
			for i := range fb {
				fb[i] = testFeedback(fmt.Sprintf("id%d", i), 1, "a", "b", t0)
			}
			outcomes := make([][]FeedbackOutcome, replicas)
			errs = concurrently(replicas, func(i int) error {
				var err error
				outcomes[i], err = stores[i].SaveFeedback(ctx, fb)
				return err
			})
			added := 0
			for i := range replicas {
				require.NoError(t, errs[i])
				for _, o := range outcomes[i] {
					switch o {
					case FeedbackAdded:
						added++
					case FeedbackRepeated:
					default:
						t.Errorf("outcome %d", o)
					}
				}
			}
			assert.Equal(t, len(fb), added, "each feedback added by exactly one replica")
			counts, err := stores[1].FeedbackCounts(ctx, "tagifai", 1, time.Time{})
			require.NoError(t, err)
			assert.Equal(t, []FeedbackCount{{"a", "b", len(fb)}}, counts)
		})
	}
}
