package model

import (
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// featureConfigs are the n-gram settings the tests walk: the committed
// model's and a few others (short char n-grams, word n-grams only, both
// with word trigrams).
var featureConfigs = []featureConfig{
	{charMin: 2, charMax: 8, wordMax: 1},
	{charMin: 4, charMax: 5},
	{wordMax: 3},
	{charMin: 1, charMax: 3, wordMax: maxWordNgram},
	// Ranges a crafted artifact may hold: they must not panic.
	{charMin: 0, charMax: 3, wordMax: 2 * maxWordNgram},
	{charMin: 5, charMax: 3},
	{charMin: -2, charMax: 2, wordMax: -1},
}

// TestBulkExtractMatchesTerms: the hot path's incremental hashes are, n-gram by
// n-gram, the hashes of the n-grams eachTerm spells out, for the generated
// texts of the golden test cleaned as the committed model cleans them.
func TestBulkExtractMatchesTerms(t *testing.T) {
	t.Parallel()
	texts := goldenTexts()[:2000]
	for _, cfg := range featureConfigs {
		var e extraction
		for _, text := range texts {
			cleaned := AppendClean(nil, text, CleanOptions{Lower: true, Stem: true, Stopwords: true})
			cfg.extract(cleaned, &e)
			var want []uint64
			cfg.eachTerm(cleaned, func(h uint64, _ []byte) { want = append(want, h) })
			// Plain comparisons: testify's per call cost is most of this
			// loop's under the race detector.
			if !slices.Equal(want, e.hashes) {
				require.Equal(t, want, append([]uint64(nil), e.hashes...), "%+v: %q", cfg, cleaned)
			}
			if words := len(strings.Fields(string(cleaned))); words != e.words {
				t.Fatalf("%q: %d words, extraction counted %d", cleaned, words, e.words)
			}
		}
	}
}

func TestExtractDegenerateRanges(t *testing.T) {
	t.Parallel()
	collect := func(cfg featureConfig, text string) []uint64 {
		var e extraction
		cfg.extract([]byte(text), &e)
		return e.hashes
	}
	text := "ab abcdef xy"
	// A minimum below 1 is 1, as scikit-learn's loops over n >= min yield
	// no empty n-gram.
	assert.Equal(t, collect(featureConfig{charMin: 1, charMax: 3}, text), collect(featureConfig{charMin: 0, charMax: 3}, text))
	assert.Equal(t, collect(featureConfig{charMin: 1, charMax: 3}, text), collect(featureConfig{charMin: -5, charMax: 3}, text))
	// An empty range yields only the padded words shorter than the minimum.
	assert.Equal(t, []uint64{charNgramHash(" ab "), charNgramHash(" xy ")}, collect(featureConfig{charMin: 5, charMax: 3}, text))
	// Word n-grams stop at maxWordNgram words.
	long := strings.Repeat("word ", 20)
	assert.Equal(t, collect(featureConfig{wordMax: maxWordNgram}, long), collect(featureConfig{wordMax: 100}, long))
}

// referenceCounts recomputes Prediction's counts with maps, from eachTerm.
func referenceCounts(c *Classifier, text string) (tokens, ngrams, known, features int) {
	cleaned := AppendClean(nil, text, c.clean)
	seen := map[int32]bool{}
	c.vec.cfg.eachTerm(cleaned, func(h uint64, _ []byte) {
		ngrams++
		if i, ok := c.vec.index.lookup(h); ok {
			known++
			seen[i] = true
		}
	})
	return len(strings.Fields(string(cleaned))), ngrams, known, len(seen)
}

func TestPredictionCounts(t *testing.T) {
	t.Parallel()
	c := loadCommitted(t).Classifier
	tests := []struct {
		name  string
		text  string
		empty bool
	}{
		{"typical", text120, false},
		{"empty", "", true},
		{"only stop words", "it is what it is", true},
		{"only punctuation", "!!! ... ???", true},
		{"unknown letters", "qqqq zzzz xxxx", false},
		{"non-ASCII only", "深度学习 画像認識", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := c.Predict(tt.text)
			tokens, ngrams, known, features := referenceCounts(c, tt.text)
			assert.Equal(t, tokens, p.Tokens, "tokens")
			assert.Equal(t, ngrams, p.NGrams, "n-grams")
			assert.Equal(t, known, p.KnownNGrams, "known n-grams")
			assert.Equal(t, features, p.Features, "features")
			assert.Equal(t, tt.empty, p.Empty())
			if p.NGrams == 0 {
				assert.Equal(t, 1.0, p.OOVRate())
			} else {
				assert.InDelta(t, 1-float64(known)/float64(ngrams), p.OOVRate(), 1e-15)
			}
		})
	}
	t.Run("typical text is mostly known", func(t *testing.T) {
		p := c.Predict(text120)
		assert.Equal(t, 13, p.Tokens, Clean(text120, c.clean))
		assert.Less(t, p.OOVRate(), 0.2)
	})
	t.Run("unknown letters are mostly unknown", func(t *testing.T) {
		assert.Greater(t, c.Predict("qqqq zzzz xxxx").OOVRate(), 0.5)
	})
	t.Run("generated texts, Predict and PredictBatch", func(t *testing.T) {
		texts := goldenTexts()[:1000]
		for i, p := range c.PredictBatch(texts) {
			tokens, ngrams, known, features := referenceCounts(c, texts[i])
			single := c.Predict(texts[i])
			for _, got := range []Prediction{p, single} {
				require.Equal(t, []int{tokens, ngrams, known, features},
					[]int{got.Tokens, got.NGrams, got.KnownNGrams, got.Features}, "%q", texts[i])
			}
		}
	})
}

// TestBulkAppendFeaturesIsThePredictionsVector: the class scores summed from
// AppendFeatures give Predict's probabilities bit for bit.
func TestBulkAppendFeaturesIsThePredictionsVector(t *testing.T) {
	t.Parallel()
	c := loadCommitted(t).Classifier
	k := len(c.classes)
	var feats []Feature
	for _, text := range goldenTexts()[:2000] {
		feats = c.AppendFeatures(feats[:0], text)
		p := c.Predict(text)
		require.Len(t, feats, p.Features)
		x := make([]touchedFeature, len(feats))
		values := make([]float64, len(feats))
		seen := map[int]bool{}
		for n, f := range feats {
			if seen[f.Index] {
				t.Fatalf("%q: feature %d twice", text, f.Index)
			}
			seen[f.Index] = true
			if !(f.Value > 0) {
				t.Fatalf("%q: feature %d has value %v, want > 0", text, f.Index, f.Value)
			}
			x[n], values[n] = touchedFeature{idx: int32(f.Index)}, f.Value
		}
		z := make([]float64, k)
		c.scores(z, x, values)
		probs := make([]float64, k)
		probabilities(probs, z, c.loss)
		if !slices.Equal(p.Probabilities, probs) {
			require.Equal(t, p.Probabilities, probs, "%q", text)
		}
	}
	t.Run("appends", func(t *testing.T) {
		prefix := []Feature{{Index: -1}}
		got := c.AppendFeatures(prefix, text120)
		assert.Equal(t, Feature{Index: -1}, got[0])
		assert.Equal(t, c.AppendFeatures(nil, text120), got[1:])
	})
}

func TestFeatureTermsAndKinds(t *testing.T) {
	t.Parallel()
	c := loadCommitted(t).Classifier
	text := "Transfer learning with transformers for text classification."
	feats := c.AppendFeatures(nil, text)
	require.NotEmpty(t, feats)
	indices := make([]int, len(feats))
	for n, f := range feats {
		indices[n] = f.Index
	}
	terms := c.FeatureTerms(text, indices)
	kinds := map[string]int{}
	for n, f := range feats {
		term, kind := terms[n], c.FeatureKind(f.Index)
		kinds[kind]++
		require.NotEmpty(t, term, "feature %d has no term", f.Index)
		// The term is the feature: its hash is the vocabulary key.
		switch kind {
		case "char_ngram":
			assert.Equal(t, c.vec.keys[f.Index], charNgramHash(term), "%q", term)
			assert.LessOrEqual(t, len(term), c.vec.cfg.charMax)
		case "word":
			assert.Equal(t, c.vec.keys[f.Index], wordNgramHash(term), "%q", term)
		default:
			t.Fatalf("kind %q", kind)
		}
	}
	assert.Positive(t, kinds["char_ngram"])
	assert.Positive(t, kinds["word"])

	// Named lookups: the stemmed word "transform" and the char n-gram
	// " tra" of the committed vocabulary.
	word, ok := c.vec.index.lookup(wordNgramHash("transform"))
	require.True(t, ok)
	char, ok := c.vec.index.lookup(charNgramHash(" tra"))
	require.True(t, ok)
	absent, ok := c.vec.index.lookup(wordNgramHash("imag"))
	require.True(t, ok)
	assert.Equal(t, []string{"transform", " tra", "", "transform", "", ""},
		c.FeatureTerms(text, []int{int(word), int(char), int(absent), int(word), -1, c.NumFeatures()}))
	assert.Equal(t, "word", c.FeatureKind(int(word)))
	assert.Equal(t, "char_ngram", c.FeatureKind(int(char)))
	assert.Panics(t, func() { c.FeatureKind(c.NumFeatures()) })
	assert.Panics(t, func() { c.FeatureKind(-1) })
}

// TestPredictAllocations: a prediction allocates its probabilities and
// nothing else; a batch, its predictions and their probabilities;
// AppendFeatures into a reused slice, nothing.
func TestPredictAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under the race detector (its sync.Pool drops items at random)")
	}
	c := loadCommitted(t).Classifier
	texts := goldenTexts()[1:101]
	c.PredictBatch(texts) // grow the pooled scratch
	assert.LessOrEqual(t, testing.AllocsPerRun(200, func() { c.Predict(text120) }), 1.0)
	assert.LessOrEqual(t, testing.AllocsPerRun(50, func() { c.PredictBatch(texts) }), 2.0)
	feats := c.AppendFeatures(nil, text120)
	assert.Zero(t, testing.AllocsPerRun(200, func() { feats = c.AppendFeatures(feats[:0], text120) }))
}
