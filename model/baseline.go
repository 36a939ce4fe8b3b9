package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// MaxBaselineValues bounds the values a baseline keeps of each continuous
// signal. Up to this many texts it keeps every value, so two-sample tests
// against the baseline are exact; beyond, it keeps MaxBaselineValues
// evenly spaced order statistics (a quantile sketch whose empirical
// distribution function is within 1/(MaxBaselineValues-1) of the full
// one's everywhere).
const MaxBaselineValues = 4096

// Baseline holds the reference distributions monitoring compares live
// traffic with, computed at training from the predictions of held-out
// texts. The continuous signals are kept as sorted samples (see
// MaxBaselineValues), so that a two-sample Kolmogorov-Smirnov test can be
// run against them; the categorical ones as counts.
type Baseline struct {
	// Source names the texts the baseline was computed on ("holdout").
	Source string `json:"source"`
	// NumTexts is the number of texts.
	NumTexts int `json:"num_texts"`
	// TagCounts counts the predicted tags (after the fallback) by tag; it
	// has an entry, maybe 0, for every class and for OtherTag.
	TagCounts map[string]int `json:"tag_counts"`
	// Confidence holds the winning probabilities, sorted.
	Confidence []float64 `json:"confidence"`
	// Margin holds the winning probability minus the runner-up's, sorted.
	Margin []float64 `json:"margin"`
	// Tokens holds the number of words of each cleaned text, sorted.
	Tokens []float64 `json:"tokens"`
	// OOVRate holds each text's share of n-grams absent from the
	// vocabulary (TextStats.OOVRate), sorted.
	OOVRate []float64 `json:"oov_rate"`
	// EmptyTexts counts the texts with an empty feature vector.
	EmptyTexts int `json:"empty_texts"`
	// Fallbacks counts the predictions tagged OtherTag by the threshold
	// fallback rather than by winning.
	Fallbacks int `json:"fallbacks"`
}

// NewBaseline predicts texts with c and records the baseline's signals;
// source names the texts. It returns nil when texts is empty.
//
// It runs the slow per-text inspection of TextStats and is meant for
// training time.
func NewBaseline(c *Classifier, texts []string, source string) *Baseline {
	if len(texts) == 0 {
		return nil
	}
	n := len(texts)
	b := &Baseline{Source: source, NumTexts: n, TagCounts: map[string]int{OtherTag: 0}}
	for _, cl := range c.classes {
		b.TagCounts[cl] = 0
	}
	conf, margin, tokens, oov := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	for i, p := range c.PredictBatch(texts) {
		b.TagCounts[p.Tag]++
		var fallback bool
		conf[i], margin[i], fallback = c.Signals(p)
		if fallback {
			b.Fallbacks++
		}
		st := c.TextStats(texts[i])
		tokens[i], oov[i] = float64(st.Tokens), st.OOVRate()
		if st.Features == 0 {
			b.EmptyTexts++
		}
	}
	b.Confidence, b.Margin, b.Tokens, b.OOVRate = sketch(conf), sketch(margin), sketch(tokens), sketch(oov)
	return b
}

// Signals returns what monitoring records of a prediction p of c: its
// confidence (the winning probability), its margin (the winning
// probability minus the runner-up's) and whether the threshold fallback,
// rather than the winning class, tagged it "other".
func (c *Classifier) Signals(p Prediction) (confidence, margin float64, fallback bool) {
	win, second := topTwo(p.Probabilities)
	fallback = p.Tag == OtherTag && c.classes[slices.Index(p.Probabilities, win)] != OtherTag
	return win, win - second, fallback
}

// topTwo returns the largest and the second largest of p (len(p) >= 2).
func topTwo(p []float64) (first, second float64) {
	first, second = math.Inf(-1), math.Inf(-1)
	for _, v := range p {
		if v > first {
			first, second = v, first
		} else if v > second {
			second = v
		}
	}
	return first, second
}

// sketch sorts x and, if it holds more than MaxBaselineValues values,
// keeps the order statistics of ranks round(i·(n-1)/(M-1)), i = 0..M-1.
func sketch(x []float64) []float64 {
	slices.Sort(x)
	if len(x) <= MaxBaselineValues {
		return x
	}
	out := make([]float64, MaxBaselineValues)
	n := len(x)
	for i := range out {
		out[i] = x[int(math.Round(float64(i)*float64(n-1)/float64(MaxBaselineValues-1)))]
	}
	return out
}

// TagShares returns the share of each predicted tag.
func (b *Baseline) TagShares() map[string]float64 {
	out := make(map[string]float64, len(b.TagCounts))
	for t, n := range b.TagCounts {
		out[t] = float64(n) / float64(b.NumTexts)
	}
	return out
}

// EmptyRate is the share of texts with an empty feature vector.
func (b *Baseline) EmptyRate() float64 { return float64(b.EmptyTexts) / float64(b.NumTexts) }

// FallbackRate is the share of predictions tagged by the fallback.
func (b *Baseline) FallbackRate() float64 { return float64(b.Fallbacks) / float64(b.NumTexts) }

// check validates a decoded baseline against the artifact's classes.
func (b *Baseline) check(classes []string) error {
	if len(b.Source) > maxTextBytes || !printable(b.Source) {
		return errors.New("source is not printable text of bounded length")
	}
	if b.NumTexts < 1 {
		return fmt.Errorf("%d texts", b.NumTexts)
	}
	if len(b.TagCounts) > len(classes)+1 {
		return fmt.Errorf("%d tags for %d classes", len(b.TagCounts), len(classes))
	}
	sum := 0
	for t, n := range b.TagCounts {
		if t != OtherTag && !slices.Contains(classes, t) {
			return fmt.Errorf("tag %q is not a class", truncate(t))
		}
		if n < 0 || n > b.NumTexts {
			return fmt.Errorf("tag count %d", n)
		}
		sum += n
	}
	if sum != b.NumTexts {
		return fmt.Errorf("tag counts sum to %d, not %d texts", sum, b.NumTexts)
	}
	want := min(b.NumTexts, MaxBaselineValues)
	for _, s := range []struct {
		name   string
		values []float64
		max    float64
	}{
		{"confidence", b.Confidence, 1}, {"margin", b.Margin, 1}, {"oov_rate", b.OOVRate, 1},
		{"tokens", b.Tokens, math.MaxInt32},
	} {
		if len(s.values) != want {
			return fmt.Errorf("%s has %d values, want %d", s.name, len(s.values), want)
		}
		for i, v := range s.values {
			if !(v >= 0 && v <= s.max) || i > 0 && v < s.values[i-1] {
				return fmt.Errorf("%s is not sorted in [0, %g]", s.name, s.max)
			}
		}
	}
	if b.EmptyTexts < 0 || b.EmptyTexts > b.NumTexts || b.Fallbacks < 0 || b.Fallbacks > b.NumTexts {
		return fmt.Errorf("%d empty texts and %d fallbacks of %d", b.EmptyTexts, b.Fallbacks, b.NumTexts)
	}
	return nil
}
