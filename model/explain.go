package model

import (
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kinds of features, as explanations name them.
const (
	// FeatureWord is a word n-gram: words of the cleaned text joined by one
	// space.
	FeatureWord = "word"
	// FeatureCharNgram is a char_wb n-gram: letters of one cleaned word,
	// padded with a space at each end.
	FeatureCharNgram = "char_ngram"
)

// Span is a half-open range [Start, End) of Unicode code points of a text.
type Span struct{ Start, End int }

// Contribution is what one feature of a text adds to a class score.
type Contribution struct {
	// Feature is the n-gram as scikit-learn's get_feature_names_out names
	// it: a word n-gram ("transform", stemmed when the model stems) or a
	// char n-gram with its padding (" tra").
	Feature string
	// Kind is FeatureWord or FeatureCharNgram.
	Kind string
	// Value is the feature's TF-IDF value x_j in the text's vector.
	Value float64
	// Weight is the class weight w_jk of the feature.
	Weight float64
	// Contribution is Value·Weight.
	Contribution float64
	// Spans are the words of the original text the feature came from, in
	// order, the first MaxSpans of them; empty when they cannot be derived.
	Spans []Span
}

// MaxSpans is the most spans a Contribution lists: a word repeated through
// a long text would otherwise list thousands, for every feature.
const MaxSpans = 10

// Explanation is the exact decomposition of a class score of a linear
// model: Score = Intercept + sum over the text's features j of x_j·w_jk.
type Explanation struct {
	// Class is the class explained: the one of highest score, which is the
	// predicted tag unless the threshold fallback turned it into "other".
	Class string
	// Score is the decision function z_k of the class.
	Score float64
	// Intercept is the class intercept b_k.
	Intercept float64
	// Features are the features of largest contribution, in descending
	// order of contribution (ties by feature name).
	Features []Contribution
	// NumFeatures is the number of features present in the text, of which
	// Features shows the top ones.
	NumFeatures int
}

// Explain predicts text and explains the winning class's score by the top
// features (at most top; all when top <= 0).
//
// For a linear model the explanation is exact: the class score is
//
//	z_k = b_k + sum_j x_j·w_jk
//
// over the features j present in the text, x_j their TF-IDF values (see
// vectorizer.transform) and w_jk the class weights, so each feature
// contributes x_j·w_jk. Explain recomputes the vector on its own slower
// path (it names every n-gram and locates it in the text); the prediction
// it returns is Predict's. When the vectorizer's hot path exposes the
// features of a text with their names, Explain should take them from it.
func (c *Classifier) Explain(text string, top int) (Prediction, Explanation) {
	pred := c.Predict(text)
	words, spans := cleanWords(text, c.clean)
	if strings.Join(words, " ") != Clean(text, c.clean) {
		// The word-by-word replica of Clean disagrees: name the features
		// from Clean's output and give no spans.
		words, spans = strings.Fields(Clean(text, c.clean)), nil
	}
	feats := c.features(words)
	k := len(c.classes)
	scores := make([]float64, k)
	for i := range scores {
		scores[i] = float64(c.bias[i])
	}
	for _, f := range feats {
		for i := range scores {
			scores[i] += f.value * float64(c.weights[int(f.index)*k+i])
		}
	}
	win := 0
	for i, z := range scores {
		if z > scores[win] {
			win = i
		}
	}
	ex := Explanation{Class: c.classes[win], Score: scores[win], Intercept: float64(c.bias[win]), NumFeatures: len(feats)}
	// Rank by contribution; name and locate only the features shown.
	type ranked struct {
		contribution float64
		name         string
		n            int
	}
	order := make([]ranked, len(feats))
	for n, f := range feats {
		order[n] = ranked{f.value * float64(c.weights[int(f.index)*k+win]), f.first.name(words), n}
	}
	slices.SortFunc(order, func(a, b ranked) int {
		if a.contribution != b.contribution {
			if a.contribution > b.contribution {
				return -1
			}
			return 1
		}
		if a.name != b.name {
			return strings.Compare(a.name, b.name)
		}
		return int(feats[a.n].index) - int(feats[b.n].index)
	})
	if top > 0 && len(order) > top {
		order = order[:top]
	}
	ex.Features = make([]Contribution, len(order))
	for i, r := range order {
		f := feats[r.n]
		kind := FeatureCharNgram
		if int(f.index) >= c.vec.numChar {
			kind = FeatureWord
		}
		w := float64(c.weights[int(f.index)*k+win])
		cont := Contribution{Feature: r.name, Kind: kind, Value: f.value, Weight: w, Contribution: r.contribution, Spans: []Span{}}
		if spans != nil {
			slices.Sort(f.words)
			for _, wi := range slices.Compact(f.words) {
				if len(cont.Spans) == MaxSpans {
					break
				}
				cont.Spans = append(cont.Spans, spans[wi])
			}
		}
		ex.Features[i] = cont
	}
	return pred, ex
}

// textFeature is one vocabulary feature present in a text.
type textFeature struct {
	index int32
	first ngram // its first occurrence, which names it
	count float64
	value float64
	words []int // the indices of the words it came from, repeats included
}

// features returns the vocabulary features of the cleaned words with
// their TF-IDF values, as transform computes them, in order of first
// occurrence.
func (c *Classifier) features(words []string) []textFeature {
	var feats []textFeature
	at := make(map[int32]int, 8*len(words))
	c.vec.eachNgram(words, func(g ngram) {
		j, ok := c.vec.index.lookup(g.hash)
		if !ok {
			return
		}
		n, seen := at[j]
		if !seen {
			n = len(feats)
			at[j] = n
			feats = append(feats, textFeature{index: j, first: g})
		}
		f := &feats[n]
		f.count++
		for _, t := range g.tokens {
			if len(f.words) == 0 || f.words[len(f.words)-1] != t {
				f.words = append(f.words, t)
			}
		}
	})
	var sumChar, sumWord float64
	for n := range feats {
		f := &feats[n]
		tf := f.count
		if c.vec.cfg.sublinearTF {
			tf = 1 + math.Log(tf)
		}
		f.value = tf * float64(c.vec.idf[f.index])
		if int(f.index) < c.vec.numChar {
			sumChar += f.value * f.value
		} else {
			sumWord += f.value * f.value
		}
	}
	for n := range feats {
		f := &feats[n]
		if int(f.index) < c.vec.numChar {
			f.value /= math.Sqrt(sumChar)
		} else {
			f.value *= c.vec.cfg.wordWeight / math.Sqrt(sumWord)
		}
	}
	return feats
}

// cleanWords returns the words of Clean(text, opts) and, for each, the
// span of code points of text it was made from. It follows AppendClean
// step by step: a word of the output is a run of ASCII letters and digits
// inside a run of word characters that is neither a stop word nor part of
// a link, lower-cased and stemmed as opts say.
func cleanWords(text string, opts CleanOptions) (words []string, spans []Span) {
	var byteSpans [][2]int
	wordOpts := CleanOptions{Lower: opts.Lower, Stem: opts.Stem}
	i := 0
	for i < len(text) {
		if isLink(text[i:]) {
			for i < len(text) {
				r, size := decodeRune(text[i:])
				if unicode.IsSpace(r) {
					break
				}
				i += size
			}
			continue
		}
		r, size := decodeRune(text[i:])
		if !isWordRune(r) {
			i += size
			continue
		}
		j := i + size
		for j < len(text) {
			r, size := decodeRune(text[j:])
			if !isWordRune(r) {
				break
			}
			j += size
		}
		if opts.Stopwords && isStopword(text[i:j], opts.Lower) {
			i = j
			continue
		}
		for k := i; k < j; {
			if !isASCIIAlnum(text[k]) {
				k++
				continue
			}
			end := k
			for end < j && isASCIIAlnum(text[end]) {
				end++
			}
			words = append(words, Clean(text[k:end], wordOpts))
			byteSpans = append(byteSpans, [2]int{k, end})
			k = end
		}
		i = j
	}
	// Byte offsets to code points, in one pass (the spans are increasing).
	spans = make([]Span, len(byteSpans))
	pos, points := 0, 0
	toPoints := func(b int) int {
		points += utf8.RuneCountInString(text[pos:b])
		pos = b
		return points
	}
	for n, s := range byteSpans {
		start := toPoints(s[0])
		spans[n] = Span{start, toPoints(s[1])}
	}
	return words, spans
}
