package model

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Golden values from scikit-learn 1.2.1 (Debian python3-sklearn):
//
//	from sklearn.feature_extraction.text import TfidfVectorizer
//	docs = ["a cnn", "cnn for images", "bert nlp", "nlp a"]
//	v = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4))
//	X = v.fit_transform(docs)
//	names, idf = v.get_feature_names_out(), v.idf_
//	w = TfidfVectorizer(analyzer="word", ngram_range=(1, 2), sublinear_tf=True)
//	W = w.fit_transform(["cnn cnn for images", "bert nlp", "nlp for text"])
//	TfidfVectorizer(analyzer="char_wb", ngram_range=(4, 5)).build_analyzer()("a cnn")
var goldenCharDocs = []string{"a cnn", "cnn for images", "bert nlp", "nlp a"}

// goldenCharIDF are all 60 features and their idf: ln(5/3)+1 for features in
// two documents, ln(5/2)+1 for those in one.
var goldenCharIDF = map[string]float64{
	" a": 1.5108256237659907, " a ": 1.5108256237659907, " b": 1.916290731874155, " be": 1.916290731874155,
	" ber": 1.916290731874155, " c": 1.5108256237659907, " cn": 1.5108256237659907, " cnn": 1.5108256237659907,
	" f": 1.916290731874155, " fo": 1.916290731874155, " for": 1.916290731874155, " i": 1.916290731874155,
	" im": 1.916290731874155, " ima": 1.916290731874155, " n": 1.5108256237659907, " nl": 1.5108256237659907,
	" nlp": 1.5108256237659907, "a ": 1.5108256237659907, "ag": 1.916290731874155, "age": 1.916290731874155,
	"ages": 1.916290731874155, "be": 1.916290731874155, "ber": 1.916290731874155, "bert": 1.916290731874155,
	"cn": 1.5108256237659907, "cnn": 1.5108256237659907, "cnn ": 1.5108256237659907, "er": 1.916290731874155,
	"ert": 1.916290731874155, "ert ": 1.916290731874155, "es": 1.916290731874155, "es ": 1.916290731874155,
	"fo": 1.916290731874155, "for": 1.916290731874155, "for ": 1.916290731874155, "ge": 1.916290731874155,
	"ges": 1.916290731874155, "ges ": 1.916290731874155, "im": 1.916290731874155, "ima": 1.916290731874155,
	"imag": 1.916290731874155, "lp": 1.5108256237659907, "lp ": 1.5108256237659907, "ma": 1.916290731874155,
	"mag": 1.916290731874155, "mage": 1.916290731874155, "n ": 1.5108256237659907, "nl": 1.5108256237659907,
	"nlp": 1.5108256237659907, "nlp ": 1.5108256237659907, "nn": 1.5108256237659907, "nn ": 1.5108256237659907,
	"or": 1.916290731874155, "or ": 1.916290731874155, "p ": 1.5108256237659907, "r ": 1.916290731874155,
	"rt": 1.916290731874155, "rt ": 1.916290731874155, "s ": 1.916290731874155, "t ": 1.916290731874155,
}

// goldenCharRows are rows 1 and 2 of X (rows 0 and 3 have 12 features of
// 0.288675 = 1/sqrt(12) each).
var goldenCharRows = map[int]map[string]float64{
	1: {" c": 0.138096, " cn": 0.138096, " cnn": 0.138096, " f": 0.175158, " fo": 0.175158, " for": 0.175158,
		" i": 0.175158, " im": 0.175158, " ima": 0.175158, "ag": 0.175158, "age": 0.175158, "ages": 0.175158,
		"cn": 0.138096, "cnn": 0.138096, "cnn ": 0.138096, "es": 0.175158, "es ": 0.175158, "fo": 0.175158,
		"for": 0.175158, "for ": 0.175158, "ge": 0.175158, "ges": 0.175158, "ges ": 0.175158, "im": 0.175158,
		"ima": 0.175158, "imag": 0.175158, "ma": 0.175158, "mag": 0.175158, "mage": 0.175158, "n ": 0.138096,
		"nn": 0.138096, "nn ": 0.138096, "or": 0.175158, "or ": 0.175158, "r ": 0.175158, "s ": 0.175158},
	2: {" b": 0.238404, " be": 0.238404, " ber": 0.238404, " n": 0.18796, " nl": 0.18796, " nlp": 0.18796,
		"be": 0.238404, "ber": 0.238404, "bert": 0.238404, "er": 0.238404, "ert": 0.238404, "ert ": 0.238404,
		"lp": 0.18796, "lp ": 0.18796, "nl": 0.18796, "nlp": 0.18796, "nlp ": 0.18796, "p ": 0.18796,
		"rt": 0.238404, "rt ": 0.238404, "t ": 0.238404},
}

func toBytes(texts []string) [][]byte {
	out := make([][]byte, len(texts))
	for i, t := range texts {
		out[i] = []byte(t)
	}
	return out
}

// vector returns the transform of text as a map from feature index.
func vector(v *vectorizer, text string) map[int32]float64 {
	idx, val := v.transform([]byte(text), newVectorScratch(), nil, nil)
	out := map[int32]float64{}
	for n, i := range idx {
		out[i] = val[n]
	}
	return out
}

func TestVectorizerCharWBMatchesScikitLearn(t *testing.T) {
	v := fitVectorizer(toBytes(goldenCharDocs), featureConfig{charMin: 2, charMax: 4}, 1)
	require.Equal(t, len(goldenCharIDF), v.numFeatures())
	for name, want := range goldenCharIDF {
		t.Run("idf "+name, func(t *testing.T) {
			i, ok := v.index.lookup(charNgramHash(name))
			require.True(t, ok)
			assert.InDelta(t, want, float64(v.idf[i]), 1e-6)
		})
	}
	for row, want := range goldenCharRows {
		t.Run(goldenCharDocs[row], func(t *testing.T) {
			got := vector(v, goldenCharDocs[row])
			require.Len(t, got, len(want))
			for name, w := range want {
				i, ok := v.index.lookup(charNgramHash(name))
				require.True(t, ok, name)
				assert.InDelta(t, w, got[i], 1e-6, name)
			}
		})
	}
	t.Run("uniform rows", func(t *testing.T) {
		for _, row := range []int{0, 3} {
			got := vector(v, goldenCharDocs[row])
			require.Len(t, got, 12)
			for _, x := range got {
				assert.InDelta(t, 0.288675, x, 1e-6)
			}
		}
	})
}

func TestCharNgrams(t *testing.T) {
	collect := func(text string, minN, maxN int) []uint64 {
		var e extraction
		cfg := featureConfig{charMin: minN, charMax: maxN}
		cfg.extract([]byte(text), &e)
		return e.hashes
	}
	hashes := func(ngrams ...string) []uint64 {
		out := make([]uint64, len(ngrams))
		for i, g := range ngrams {
			out[i] = charNgramHash(g)
		}
		return out
	}
	tests := []struct {
		name       string
		text       string
		minN, maxN int
		want       []string // scikit-learn's analyzer output, as a multiset
	}{
		// A padded word shorter than min_n is one n-gram.
		{"short word once", "a cnn", 4, 5, []string{" a ", " cnn", "cnn ", " cnn "}},
		{"up to the padded word", "go", 2, 8, []string{" g", "go", "o ", " go", "go ", " go "}},
		{"lower-cased", "GO", 2, 8, []string{" g", "go", "o ", " go", "go ", " go "}},
		{"empty", "", 2, 8, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.ElementsMatch(t, hashes(tt.want...), collect(tt.text, tt.minN, tt.maxN))
		})
	}
}

func TestVectorizerWordSublinearMatchesScikitLearn(t *testing.T) {
	docs := []string{"cnn cnn for images", "bert nlp", "nlp for text"}
	v := fitVectorizer(toBytes(docs), featureConfig{wordMax: 2, sublinearTF: true, wordWeight: 1}, 1)
	idf := map[string]float64{
		"bert": 1.693147, "bert nlp": 1.693147, "cnn": 1.693147, "cnn cnn": 1.693147, "cnn for": 1.693147,
		"for": 1.287682, "for images": 1.693147, "for text": 1.693147, "images": 1.693147, "nlp": 1.287682,
		"nlp for": 1.693147, "text": 1.693147,
	}
	require.Equal(t, len(idf), v.numFeatures())
	for name, want := range idf {
		i, ok := v.index.lookup(wordNgramHash(name))
		require.True(t, ok, name)
		assert.InDelta(t, want, float64(v.idf[i]), 1e-6, name)
	}
	rows := []map[string]float64{
		{"cnn": 0.620523, "cnn cnn": 0.366491, "cnn for": 0.366491, "for": 0.278726, "for images": 0.366491, "images": 0.366491},
		{"bert": 0.622766, "bert nlp": 0.622766, "nlp": 0.47363},
		{"for": 0.373022, "for text": 0.490479, "nlp": 0.373022, "nlp for": 0.490479, "text": 0.490479},
	}
	for r, want := range rows {
		t.Run(docs[r], func(t *testing.T) {
			got := vector(v, docs[r])
			require.Len(t, got, len(want))
			for name, w := range want {
				i, _ := v.index.lookup(wordNgramHash(name))
				assert.InDelta(t, w, got[i], 1e-6, name)
			}
		})
	}
	t.Run("one-letter words are not tokens", func(t *testing.T) {
		var e extraction
		cfg := featureConfig{wordMax: 2}
		cfg.extract([]byte("a b cnn"), &e)
		assert.Equal(t, []uint64{wordNgramHash("cnn")}, e.hashes)
	})
}

func TestVectorizerBlocksNormalisedSeparately(t *testing.T) {
	v := fitVectorizer(toBytes([]string{"cnn images", "bert nlp"}), featureConfig{charMin: 2, charMax: 3, wordMax: 1, wordWeight: 0.5}, 1)
	var charSq, wordSq float64
	for i, x := range vector(v, "cnn images") {
		if int(i) < v.numChar {
			charSq += x * x
		} else {
			wordSq += x * x
		}
	}
	assert.InDelta(t, 1, math.Sqrt(charSq), 1e-12)
	assert.InDelta(t, 0.5, math.Sqrt(wordSq), 1e-12)
}

func TestHashIndex(t *testing.T) {
	keys := []uint64{5, 1 << 63, 42, 7}
	x := newHashIndex(keys)
	x.setIDF([]float32{1, 2, 3, 4})
	for i, k := range keys {
		got, ok := x.lookup(k)
		require.True(t, ok)
		assert.Equal(t, int32(i), got)
		assert.Equal(t, float32(i+1), x.slots[x.slot(k)].idf, "the idf of a key without collision is in its home slot")
	}
	_, ok := x.lookup(6)
	assert.False(t, ok)
}
