package feedback

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tagifai/tagifai/model"
)

// TestScoreMatchesModelScore: scoring counts of (predicted, true) pairs
// gives model.Score's report of the labels they stand for.
func TestScoreMatchesModelScore(t *testing.T) {
	t.Parallel()
	classes := []string{"computer-vision", "mlops", "natural-language-processing", "other"}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 50 {
		n := rng.IntN(400)
		var truth, pred []string
		pairs := map[[2]string]int{}
		for range n {
			tr, pr := classes[rng.IntN(len(classes))], classes[rng.IntN(len(classes))]
			if rng.IntN(3) > 0 { // mostly right, as a model is
				pr = tr
			}
			truth, pred = append(truth, tr), append(pred, pr)
			pairs[[2]string{pr, tr}]++
		}
		var counts []Count
		for k, v := range pairs {
			counts = append(counts, Count{Predicted: k[0], True: k[1], N: v})
		}
		rng.Shuffle(len(counts), func(i, j int) { counts[i], counts[j] = counts[j], counts[i] })
		want := model.Score(truth, pred, classes, nil)
		got := Score(classes, counts)
		assert.InDelta(t, want.Overall.F1, got.Overall.F1, 1e-12, "trial %d", trial)
		assert.InDelta(t, want.Overall.Precision, got.Overall.Precision, 1e-12)
		assert.InDelta(t, want.Overall.Recall, got.Overall.Recall, 1e-12)
		assert.Equal(t, want.Overall.NumSamples, got.Overall.NumSamples)
		assert.Equal(t, want.Class, got.Class)
		assert.Equal(t, want.ConfusionMatrix, got.ConfusionMatrix)
	}
}

// TestScoreEdges: no labels, and a tag outside the classes.
func TestScoreEdges(t *testing.T) {
	t.Parallel()
	empty := Score([]string{"a", "b"}, nil)
	assert.Equal(t, model.Metrics{}, empty.Overall)
	assert.Equal(t, map[string]model.Metrics{"a": {}, "b": {}}, empty.Class)

	p := Score([]string{"a", "b"}, []Count{{"a", "a", 3}, {"other", "b", 1}, {"b", "b", 0}})
	assert.Equal(t, []string{"a", "b", "other"}, p.ConfusionMatrix.Labels)
	assert.Equal(t, 4, p.Overall.NumSamples)
	assert.Equal(t, model.Metrics{Precision: 1, Recall: 1, F1: 1, NumSamples: 3}, p.Class["a"])
	assert.Equal(t, model.Metrics{NumSamples: 1}, p.Class["b"])
	assert.InDelta(t, 0.75, p.Overall.F1, 1e-15)
}
