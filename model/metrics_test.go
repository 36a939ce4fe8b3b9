package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestScore(t *testing.T) {
	classes := []string{"a", "b", "other"}
	tests := []struct {
		name             string
		truth, predicted []string
		class            map[string]Metrics
		overall          Metrics
	}{
		{
			name:      "perfect",
			truth:     []string{"a", "b", "other"},
			predicted: []string{"a", "b", "other"},
			class: map[string]Metrics{
				"a": {1, 1, 1, 1}, "b": {1, 1, 1, 1}, "other": {1, 1, 1, 1},
			},
			overall: Metrics{1, 1, 1, 3},
		},
		{
			// a: tp 2, fp 1, fn 1 -> p 2/3, r 2/3, f1 2/3, support 3
			// b: tp 0, fp 1, fn 1 -> 0, 0, 0, support 1
			// other: tp 0, fp 0, fn 0 -> 0, 0, 0, support 0
			// weighted: (3·2/3 + 1·0)/4 = 0.5 for each.
			name:      "hand-computed",
			truth:     []string{"a", "a", "a", "b"},
			predicted: []string{"a", "a", "b", "a"},
			class: map[string]Metrics{
				"a": {2.0 / 3, 2.0 / 3, 2.0 / 3, 3}, "b": {0, 0, 0, 1}, "other": {0, 0, 0, 0},
			},
			overall: Metrics{0.5, 0.5, 0.5, 4},
		},
		{
			// a: tp 1, fp 0, fn 1 -> p 1, r 1/2, f1 2/3; b: tp 1, fp 1, fn 0 -> p 1/2, r 1, f1 2/3
			// weighted over support 2 and 1: p (2·1+1·0.5)/3, r (2·0.5+1·1)/3, f1 2/3.
			name:      "unequal precision and recall",
			truth:     []string{"a", "a", "b"},
			predicted: []string{"a", "b", "b"},
			class: map[string]Metrics{
				"a": {1, 0.5, 2.0 / 3, 2}, "b": {0.5, 1, 2.0 / 3, 1}, "other": {0, 0, 0, 0},
			},
			overall: Metrics{2.5 / 3, 2.0 / 3, 2.0 / 3, 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			perf := Score(tt.truth, tt.predicted, classes, nil)
			assertMetrics(t, tt.overall, perf.Overall)
			assert.Len(t, perf.Class, len(tt.class))
			for c, want := range tt.class {
				assertMetrics(t, want, perf.Class[c])
			}
		})
	}
}

func TestScoreSlices(t *testing.T) {
	perf := Score([]string{"a", "b", "a", "b"}, []string{"a", "a", "a", "b"}, []string{"a", "b"},
		map[string][]bool{"some": {true, true, true, false}, "none": {false, false, false, false}})
	assertMetrics(t, Metrics{2.0 / 3, 2.0 / 3, 2.0 / 3, 3}, perf.Slices["some"])
	assertMetrics(t, Metrics{0, 0, 0, 0}, perf.Slices["none"])
}

func TestQuantile(t *testing.T) {
	tests := []struct {
		name string
		x    []float64
		q    float64
		want float64
	}{
		// numpy.quantile([...], q) with the default linear method.
		{"median of odd", []float64{3, 1, 2}, 0.5, 2},
		{"interpolated", []float64{1, 2, 3, 4}, 0.25, 1.75},
		{"min", []float64{0.4, 0.9, 0.6}, 0, 0.4},
		{"max", []float64{0.4, 0.9, 0.6}, 1, 0.9},
		{"empty", nil, 0.25, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.InDelta(t, tt.want, Quantile(tt.x, tt.q), 1e-12)
		})
	}
}

func assertMetrics(t *testing.T, want, got Metrics) {
	t.Helper()
	assert.InDelta(t, want.Precision, got.Precision, 1e-12, "precision")
	assert.InDelta(t, want.Recall, got.Recall, 1e-12, "recall")
	assert.InDelta(t, want.F1, got.F1, 1e-12, "f1")
	assert.Equal(t, want.NumSamples, got.NumSamples, "num_samples")
}
