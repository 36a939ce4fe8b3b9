package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var lessonClean = CleanOptions{Lower: true, Stopwords: true}

func TestClean(t *testing.T) {
	tests := []struct {
		name string
		text string
		opts CleanOptions
		want string
	}{
		// The lesson's example (the first project of the dataset).
		{"lesson example", "Comparison between YOLO and RCNN on real world videos Bringing theory to experiment is cool. We can easily train models in colab and find the results in minutes.",
			lessonClean, "comparison yolo rcnn real world videos bringing theory experiment cool easily train models colab find results minutes"},
		// The lesson's test_clean_text cases (no stop words).
		{"keep case", "Hello worlds", CleanOptions{}, "Hello worlds"},
		{"lower", "Hello worlds", CleanOptions{Lower: true}, "hello worlds"},
		{"stem keeps case", "Hello worlds", CleanOptions{Stem: true}, "Hello world"},
		{"lower and stem", "Hello worlds", CleanOptions{Lower: true, Stem: true}, "hello world"},
		{"stop word with its space", "Hello a worlds", CleanOptions{Lower: true, Stem: true, Stopwords: true}, "hello world"},
		{"hello world test", "Hello world! This is a test.", lessonClean, "hello world test"},
		{"stop words only as whole words", "The theory of another island", lessonClean, "theory another island"},
		{"stop words are case-sensitive without lower", "The cat", CleanOptions{Stopwords: true}, "The cat"},
		{"apostrophe forms go in halves", "Don't stop, you're close", lessonClean, "stop close"},
		{"punctuation and runs become one space", "state-of-the-art:   NLP!!!(v2.0)", lessonClean, "state art nlp v2 0"},
		{"underscore separates", "snake_case", lessonClean, "snake case"},
		{"non-ASCII letters separate", "café naïve", lessonClean, "caf na ve"},
		{"strip", "  \t\nspaces around \n ", lessonClean, "spaces around"},
		{"link removed whole", "Paper (https://arxiv.org/abs/1703.03130 ). Code at HTTP://GitHub.com/x/y", lessonClean, "paper code"},
		{"http word kept", "httpx is an http client", lessonClean, "httpx http client"},
		{"empty", "", lessonClean, ""},
		{"only stop words", "it is what it is", lessonClean, ""},
		{"stemmed pipeline", "Transformers for Convolutional networks learning", CleanOptions{Lower: true, Stem: true, Stopwords: true}, "transform convolut network learn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Clean(tt.text, tt.opts))
		})
	}
}

func TestStopwords(t *testing.T) {
	require.Len(t, Stopwords, 179)
	seen := map[string]bool{}
	for _, w := range Stopwords {
		assert.False(t, seen[w], "duplicate %q", w)
		seen[w] = true
		assert.LessOrEqual(t, len(w), maxStopwordLen)
	}
}

func TestAppendCleanAllocs(t *testing.T) {
	text := "Fine-tuning BERT for named entity recognition on biomedical text, with a PyTorch implementation."
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(100, func() { buf = AppendClean(buf[:0], text, CleanOptions{Lower: true, Stem: true, Stopwords: true}) })
	assert.Zero(t, allocs)
}

// The stems of NLTK 3.8's PorterStemmer().stem(w) (Debian python3-nltk),
// mostly the examples of Porter's paper.
func TestStem(t *testing.T) {
	tests := []struct{ word, want string }{
		{"worlds", "world"}, {"Hello", "hello"}, {"caresses", "caress"}, {"ponies", "poni"}, {"ties", "tie"},
		{"dies", "die"}, {"flies", "fli"}, {"died", "die"}, {"spied", "spi"}, {"agreed", "agre"}, {"feed", "feed"},
		{"plastered", "plaster"}, {"bled", "bled"}, {"motoring", "motor"}, {"sing", "sing"}, {"conflated", "conflat"},
		{"troubled", "troubl"}, {"sized", "size"}, {"hopping", "hop"}, {"tanned", "tan"}, {"falling", "fall"},
		{"hissing", "hiss"}, {"fizzed", "fizz"}, {"failing", "fail"}, {"filing", "file"}, {"happy", "happi"},
		{"sky", "sky"}, {"enjoy", "enjoy"}, {"relational", "relat"}, {"conditional", "condit"}, {"rational", "ration"},
		{"valenci", "valenc"}, {"digitizer", "digit"}, {"radically", "radic"}, {"differently", "differ"},
		{"vileli", "vile"}, {"analogousli", "analog"}, {"vietnamization", "vietnam"}, {"predication", "predic"},
		{"operator", "oper"}, {"feudalism", "feudal"}, {"decisiveness", "decis"}, {"hopefulness", "hope"},
		{"callousness", "callous"}, {"formaliti", "formal"}, {"sensitiviti", "sensit"}, {"sensibiliti", "sensibl"},
		{"triplicate", "triplic"}, {"formative", "form"}, {"formalize", "formal"}, {"electriciti", "electr"},
		{"electrical", "electr"}, {"hopeful", "hope"}, {"goodness", "good"}, {"revival", "reviv"},
		{"allowance", "allow"}, {"inference", "infer"}, {"airliner", "airlin"}, {"gyroscopic", "gyroscop"},
		{"adjustable", "adjust"}, {"defensible", "defens"}, {"irritant", "irrit"}, {"replacement", "replac"},
		{"adjustment", "adjust"}, {"dependent", "depend"}, {"adoption", "adopt"}, {"homologou", "homolog"},
		{"communism", "commun"}, {"activate", "activ"}, {"angulariti", "angular"}, {"homologous", "homolog"},
		{"effective", "effect"}, {"bowdlerize", "bowdler"}, {"probate", "probat"}, {"rate", "rate"},
		{"cease", "ceas"}, {"controll", "control"}, {"roll", "roll"}, {"dying", "die"}, {"skies", "sky"},
		{"news", "news"}, {"generously", "gener"}, {"archaeology", "archaeolog"}, {"geology", "geolog"},
		{"transformers", "transform"}, {"networks", "network"}, {"learning", "learn"},
		{"convolutional", "convolut"}, {"segmentation", "segment"}, {"detection", "detect"}, {"by", "by"}, {"is", "is"},
	}
	for _, tt := range tests {
		t.Run(tt.word, func(t *testing.T) {
			assert.Equal(t, tt.want, Stem(tt.word, true))
		})
	}
	t.Run("to_lowercase=False", func(t *testing.T) {
		assert.Equal(t, "World", Stem("Worlds", false))
		assert.Equal(t, "Hello", Stem("Hello", false))
	})
}
