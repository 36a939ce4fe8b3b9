package model

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var explainTexts = []string{
	"Transfer learning with transformers for text classification.",
	"YOLO object detection on video, see https://github.com/x/y",
	"Naïve Bayes für Textklassifikation: données, MLOps_pipeline and ÜBER-fast CNNs",
	"the of and",
	"",
	"Graph neural networks for node classification on citation graphs.",
}

// TestExplainIsExact: over all of a text's features, the contributions
// plus the intercept give the class score to 1e-9, that score is the one
// the prediction path computes (from transform's vector), and each
// feature's value is transform's.
func TestExplainIsExact(t *testing.T) {
	t.Parallel()
	for _, c := range []*Classifier{loadCommitted(t).Classifier, trainFixture(t, fixtureArgs(), 1).Classifier} {
		for _, text := range explainTexts {
			pred, ex := c.Explain(text, 0)
			assert.Equal(t, c.Predict(text), pred, text)

			// The prediction path's vector and scores.
			s := newVectorScratch()
			c.vec.vectorize(AppendClean(nil, text, c.clean), s)
			z := make([]float64, len(c.classes))
			c.scores(z, s.touched, s.values)
			idx, val := s.touched, s.values
			win := 0
			for i := range z {
				if z[i] > z[win] {
					win = i
				}
			}
			assert.Equal(t, c.classes[win], ex.Class, text)
			assert.InDelta(t, z[win], ex.Score, 1e-9, text)
			assert.Equal(t, float64(c.bias[win]), ex.Intercept, text)

			sum := ex.Intercept
			for _, f := range ex.Features {
				sum += f.Contribution
				assert.InDelta(t, f.Value*f.Weight, f.Contribution, 1e-15)
			}
			assert.InDelta(t, ex.Score, sum, 1e-9, "contributions + intercept = score: %q", text)

			require.Len(t, ex.Features, len(idx), text)
			assert.Equal(t, len(idx), ex.NumFeatures)
			values := map[string]float64{}
			for _, f := range ex.Features {
				values[f.Kind+":"+f.Feature] = f.Value
			}
			require.Len(t, values, len(idx), "every feature named once: %q", text)
			got := make([]float64, 0, len(idx))
			for _, f := range ex.Features {
				got = append(got, f.Value)
			}
			assert.InDeltaSlice(t, sortedCopy(val), sortedCopy(got), 1e-12, text)
			for i := 1; i < len(ex.Features); i++ {
				assert.GreaterOrEqual(t, ex.Features[i-1].Contribution, ex.Features[i].Contribution, "sorted by contribution")
			}
		}
	}
}

// TestExplainTopFeatures: the top features of a clear NLP text are the
// words a reader would point at, located in the text.
func TestExplainTopFeatures(t *testing.T) {
	t.Parallel()
	c := loadCommitted(t).Classifier
	text := "Transfer learning with transformers for text classification."
	pred, ex := c.Explain(text, 5)
	assert.Equal(t, "natural-language-processing", pred.Tag)
	assert.Equal(t, "natural-language-processing", ex.Class)
	require.Len(t, ex.Features, 5)
	var words []string
	for _, f := range ex.Features[:3] {
		assert.Equal(t, FeatureWord, f.Kind, f.Feature)
		assert.Positive(t, f.Contribution)
		words = append(words, f.Feature)
		require.NotEmpty(t, f.Spans, f.Feature)
	}
	assert.ElementsMatch(t, []string{"text", "transform", "classif"}, words, "stemmed words as the model sees them")
	runes := []rune(text)
	spanText := func(s Span) string { return string(runes[s.Start:s.End]) }
	for _, f := range ex.Features[:3] {
		assert.True(t, strings.HasPrefix(strings.ToLower(spanText(f.Spans[0])), f.Feature), "%q at %v is %q", f.Feature, f.Spans, spanText(f.Spans[0]))
	}
	assert.Equal(t, "transformers", spanText(ex.Features[1].Spans[0]))
}

// TestExplainSpansAreBounded: a word repeated through a text gives its
// features the first MaxSpans of its places, in order, not one per time.
func TestExplainSpansAreBounded(t *testing.T) {
	t.Parallel()
	c := loadCommitted(t).Classifier
	text := strings.Repeat("transformers ", 300)
	_, ex := c.Explain(text, 50)
	require.NotEmpty(t, ex.Features)
	for _, f := range ex.Features {
		require.Len(t, f.Spans, MaxSpans, f.Feature)
		for i, sp := range f.Spans {
			assert.Equal(t, Span{Start: 13 * i, End: 13*i + 12}, sp, "%s span %d", f.Feature, i)
		}
	}
}

// TestCleanWordsSpans: the words cleanWords finds are Clean's, and their
// spans, in code points, cover the original letters, whatever the
// non-ASCII letters, links and stop words around them.
func TestCleanWordsSpans(t *testing.T) {
	t.Parallel()
	for _, opts := range []CleanOptions{DefaultCleanOptions, {Lower: true, Stem: true, Stopwords: true}, {}} {
		for _, text := range append(explainTexts, "Héllo wörld_ab12 x", "a\u00a0b  HTTP://x.y/z c", "don't stop") {
			words, spans := cleanWords(text, opts)
			assert.Equal(t, Clean(text, opts), strings.Join(words, " "), "%q %+v", text, opts)
			runes := []rune(text)
			for i, s := range spans {
				original := string(runes[s.Start:s.End])
				assert.Equal(t, Clean(original, CleanOptions{Lower: opts.Lower, Stem: opts.Stem}), words[i], "%q", text)
			}
		}
	}
	_, spans := cleanWords("Ünïcode text", DefaultCleanOptions)
	assert.Equal(t, []Span{{1, 2}, {3, 7}, {8, 12}}, spans, "n, code and text after the non-ASCII letters, in code points")
}

func sortedCopy(x []float64) []float64 {
	out := slices.Clone(x)
	slices.Sort(out)
	return out
}
