package model

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestConfusionMatrix: rows are true labels, columns predicted ones, over
// the classes and then any other label met (scikit-learn's
// confusion_matrix(truth, predicted, labels=...)).
func TestConfusionMatrix(t *testing.T) {
	t.Parallel()
	perf := Score([]string{"a", "a", "a", "b", "b", "other"}, []string{"a", "b", "a", "b", "x", "a"}, []string{"a", "b", "other"}, nil)
	require.NotNil(t, perf.ConfusionMatrix)
	assert.Equal(t, []string{"a", "b", "other", "x"}, perf.ConfusionMatrix.Labels)
	assert.Equal(t, [][]int{
		{2, 1, 0, 0},
		{0, 1, 0, 1},
		{1, 0, 0, 0},
		{0, 0, 0, 0},
	}, perf.ConfusionMatrix.Matrix)
}

// TestNewBaseline: the baseline holds one sorted value per held-out text
// for each continuous signal, tag counts that match the predictions, and
// the empty-vector and fallback counts.
func TestNewBaseline(t *testing.T) {
	t.Parallel()
	c := trainFixture(t, fixtureArgs(), 1).Classifier
	texts := append(Texts(readFixture(t, "holdout.csv")), "", "the of and")
	b := NewBaseline(c, texts, "holdout")
	require.NotNil(t, b)
	assert.Equal(t, "holdout", b.Source)
	assert.Equal(t, len(texts), b.NumTexts)
	want := map[string]int{OtherTag: 0}
	for _, cl := range c.Classes() {
		want[cl] = 0
	}
	fallbacks := 0
	for _, p := range c.PredictBatch(texts) {
		want[p.Tag]++
		if slices.Max(p.Probabilities) <= c.Threshold() {
			fallbacks++
		}
	}
	assert.Equal(t, want, b.TagCounts)
	for name, v := range map[string][]float64{"confidence": b.Confidence, "margin": b.Margin, "tokens": b.Tokens, "oov": b.OOVRate} {
		assert.Len(t, v, len(texts), name)
		assert.IsNonDecreasing(t, v, name)
	}
	assert.GreaterOrEqual(t, b.EmptyTexts, 2, "the empty text and the stop words have no features")
	assert.Equal(t, 1.0, b.OOVRate[len(b.OOVRate)-1], "a text without n-grams is all out of vocabulary")
	assert.Equal(t, 0.0, b.Tokens[0])
	require.Positive(t, c.Threshold())
	assert.Equal(t, fallbacks, b.Fallbacks, "predictions whose winning probability is not above the threshold")
	assert.NoError(t, b.check(c.Classes()))

	assert.Nil(t, NewBaseline(c, nil, "holdout"), "no texts, no baseline")
}

// TestTextStats counts the n-grams of a text against the vectorizer's own
// enumeration, and the known ones against transform's features.
func TestTextStats(t *testing.T) {
	t.Parallel()
	c := trainFixture(t, fixtureArgs(), 1).Classifier
	for _, text := range []string{"BERT for text classification", "zzqx qqzx", "", "a b c", "Transfer learning with transformers for text classification."} {
		cleaned := AppendClean(nil, text, c.clean)
		n, known := 0, 0
		c.vec.cfg.eachTerm(cleaned, func(h uint64, _ []byte) {
			n++
			if _, ok := c.vec.index.lookup(h); ok {
				known++
			}
		})
		idx, _ := c.vec.transform(cleaned, newVectorScratch(), nil, nil)

		st := c.TextStats(text)
		assert.Equal(t, n, st.NGrams, text)
		assert.Equal(t, known, st.KnownNGrams, text)
		assert.Equal(t, len(idx), st.Features, text)
	}
	assert.Equal(t, TextStats{Tokens: 2, NGrams: 10, KnownNGrams: 5, Features: 4}.OOVRate(), 0.5)
}

// TestCommittedArtifactHasBaseline: the committed model carries its
// holdout baseline and confusion matrix, consistent with its report.
func TestCommittedArtifactHasBaseline(t *testing.T) {
	t.Parallel()
	a := loadCommitted(t)
	assert.Equal(t, FormatVersion, a.FormatVersion)
	b := a.Baseline
	require.NotNil(t, b)
	assert.Equal(t, "holdout", b.Source)
	n := a.Performance.Overall.NumSamples
	assert.Equal(t, n, b.NumTexts)
	assert.Len(t, b.Confidence, n)
	cm := a.Performance.ConfusionMatrix
	require.NotNil(t, cm)
	predicted := map[string]int{}
	total := 0
	for i, row := range cm.Matrix {
		support := 0
		for j, count := range row {
			predicted[cm.Labels[j]] += count
			support += count
			total += count
		}
		if m, ok := a.Performance.Class[cm.Labels[i]]; ok {
			assert.Equal(t, m.NumSamples, support, cm.Labels[i])
			if support > 0 {
				assert.InDelta(t, m.Recall, float64(row[i])/float64(support), 1e-12, cm.Labels[i])
			}
		}
	}
	assert.Equal(t, n, total)
	for tag, count := range b.TagCounts {
		assert.Equal(t, predicted[tag], count, "the baseline's predicted tags are the matrix's columns: %s", tag)
	}
}

func TestSignals(t *testing.T) {
	t.Parallel()
	c := &Classifier{classes: []string{"a", "b", OtherTag}, threshold: 0.5}
	tests := []struct {
		name     string
		p        Prediction
		conf     float64
		margin   float64
		fallback bool
	}{
		{"confident", Prediction{Tag: "a", Probabilities: []float64{0.7, 0.2, 0.1}}, 0.7, 0.5, false},
		{"fallback", Prediction{Tag: OtherTag, Probabilities: []float64{0.4, 0.35, 0.25}}, 0.4, 0.05, true},
		{"other won", Prediction{Tag: OtherTag, Probabilities: []float64{0.1, 0.2, 0.7}}, 0.7, 0.5, false},
		{"tie", Prediction{Tag: "a", Probabilities: []float64{0.5, 0.5, 0}}, 0.5, 0, false},
	}
	for _, tt := range tests {
		conf, margin, fallback := c.Signals(tt.p)
		assert.Equal(t, tt.conf, conf, tt.name)
		assert.InDelta(t, tt.margin, margin, 1e-15, tt.name)
		assert.Equal(t, tt.fallback, fallback, tt.name)
	}
}
