package model

import (
	"math"
	"sync"
)

// Loss functions of the linear model (Args.Loss).
const (
	// LossLog is scikit-learn's SGDClassifier(loss="log_loss"): one binary
	// logistic regression per class (one-vs-rest), whose sigmoid outputs are
	// normalised to sum to 1 for probabilities.
	LossLog = "log_loss"
	// LossSoftmax is multinomial logistic regression: one softmax over the
	// classes, trained on the cross-entropy.
	LossSoftmax = "softmax"
	// LossModifiedHuber is scikit-learn's SGDClassifier(loss="modified_huber")
	// one-vs-rest: per class, with m = y·z, L = max(0, 1-m)² for m >= -1 and
	// -4m below; probabilities are (clip(z, -1, 1) + 1)/2 normalised to sum
	// to 1 (uniform when all are 0).
	LossModifiedHuber = "modified_huber"
)

// OtherTag is the tag of projects outside the accepted tags, and the
// fallback tag when the classifier is not confident enough.
const OtherTag = "other"

// Prediction is the classifier's answer for one text.
type Prediction struct {
	// Tag is the predicted tag after the threshold fallback: the class of
	// highest probability, or "other" when that probability is not above
	// Classifier.Threshold().
	Tag string
	// Probabilities holds one probability per class, aligned with
	// Classifier.Classes(); they sum to 1.
	Probabilities []float64

	// What the model saw of the text, for monitoring: the loop that builds
	// the features counts them, so they cost a few additions per text.

	// Tokens is the number of words of the cleaned text (links and stop
	// words removed, as the model sees it).
	Tokens int
	// NGrams is the number of n-gram occurrences of the text, char and
	// word, repeats included; KnownNGrams of them are in the vocabulary.
	NGrams, KnownNGrams int
	// Features is the number of distinct vocabulary features present: 0 is
	// an empty feature vector (see Empty).
	Features int
}

// TextStats returns the prediction's counts of its text.
func (p Prediction) TextStats() TextStats {
	return TextStats{Tokens: p.Tokens, NGrams: p.NGrams, KnownNGrams: p.KnownNGrams, Features: p.Features}
}

// OOVRate is the share of the text's n-gram occurrences absent from the
// vocabulary, 1 for a text without n-grams (see TextStats.OOVRate).
func (p Prediction) OOVRate() float64 { return p.TextStats().OOVRate() }

// Empty reports whether the text's feature vector was empty: none of its
// n-grams is in the vocabulary (or it has none), so the probabilities are
// the intercepts' alone.
func (p Prediction) Empty() bool { return p.Features == 0 }

// Classifier tags texts: it cleans a text, turns it into a TF-IDF vector
// and applies a linear model. It is immutable once built, and its methods
// are safe for concurrent use.
type Classifier struct {
	classes   []string
	threshold float64
	clean     CleanOptions
	loss      string
	vec       *vectorizer
	// weights holds the weight of feature j for class k at j*K+k
	// (feature-major, so that the K weights of a feature share a cache
	// line); bias the intercept of each class.
	weights []float32
	bias    []float32

	scratch *sync.Pool // of *predictScratch
}

type predictScratch struct {
	text   []byte
	vec    *vectorScratch
	scores []float64
}

func newClassifier(classes []string, clean CleanOptions, loss string, vec *vectorizer, weights, bias []float32, threshold float64) *Classifier {
	if len(weights) != vec.numFeatures()*len(classes) || len(bias) != len(classes) {
		panic("model: weights do not match the vocabulary and classes")
	}
	vec.index.setIDF(vec.idf) // the slots carry the idf for the prediction path
	c := &Classifier{
		classes: classes, threshold: threshold, clean: clean, loss: loss,
		vec: vec, weights: weights, bias: bias,
	}
	k := len(classes)
	c.scratch = &sync.Pool{New: func() any {
		return &predictScratch{
			text:   make([]byte, 0, 256),
			vec:    newVectorScratch(),
			scores: make([]float64, k),
		}
	}}
	return c
}

// Classes returns the class names in sorted order, the order of
// Prediction.Probabilities. The caller must not modify the slice.
func (c *Classifier) Classes() []string { return c.classes }

// Threshold returns the fallback threshold: a prediction whose winning
// probability is not above it is tagged "other". 0 means no fallback.
func (c *Classifier) Threshold() float64 { return c.threshold }

// CleanOptions returns how the classifier cleans text, which is how its
// training text was cleaned.
func (c *Classifier) CleanOptions() CleanOptions { return c.clean }

// NumFeatures returns the size of the vocabulary.
func (c *Classifier) NumFeatures() int { return c.vec.numFeatures() }

// WithThreshold returns a classifier that shares c's model but falls back
// to "other" with threshold t; t = 0 turns the fallback off.
func (c *Classifier) WithThreshold(t float64) *Classifier {
	cp := *c
	cp.threshold = t
	return &cp
}

// Predict tags text, which it cleans with Clean and the classifier's
// CleanOptions first.
func (c *Classifier) Predict(text string) Prediction {
	s := c.getScratch()
	probs := make([]float64, len(c.classes))
	win, n := c.predictInto(probs, text, s)
	c.putScratch(s)
	return c.prediction(win, probs, n)
}

// PredictBatch tags each text, in order; it is Predict on each text with
// one allocation for all the probabilities.
func (c *Classifier) PredictBatch(texts []string) []Prediction {
	out := make([]Prediction, len(texts))
	k := len(c.classes)
	probs := make([]float64, len(texts)*k)
	s := c.getScratch()
	for i, text := range texts {
		p := probs[i*k : (i+1)*k : (i+1)*k]
		win, n := c.predictInto(p, text, s)
		out[i] = c.prediction(win, p, n)
	}
	c.putScratch(s)
	return out
}

func (c *Classifier) getScratch() *predictScratch { return c.scratch.Get().(*predictScratch) }

func (c *Classifier) putScratch(s *predictScratch) {
	if cap(s.text) > maxRetained {
		s.text = nil
	}
	s.vec.shrink()
	c.scratch.Put(s)
}

func (c *Classifier) prediction(win int, probs []float64, n textCounts) Prediction {
	return Prediction{
		Tag: c.tag(win, probs[win]), Probabilities: probs,
		Tokens: n.words, NGrams: n.ngrams, KnownNGrams: n.known, Features: n.features,
	}
}

// tag applies the fallback: the winning class when its probability is above
// the threshold, else "other".
func (c *Classifier) tag(win int, p float64) string {
	if p > c.threshold {
		return c.classes[win]
	}
	return OtherTag
}

// predictInto writes the probabilities of text to dst and returns the index
// of the winning class (the first of highest probability) and what the
// vectorizer counted of the text.
func (c *Classifier) predictInto(dst []float64, text string, s *predictScratch) (int, textCounts) {
	s.text = AppendClean(s.text[:0], text, c.clean)
	n := c.vec.countFeatures(s.text, s.vec)
	normChar, normWord := c.vec.weigh(s.vec)
	c.normalisedScores(s.scores, s.vec.touched, s.vec.values, normChar, normWord)
	return probabilities(dst, s.scores, c.loss), n
}

// scores writes the decision function z_k = b_k + sum_j x_j w_jk to dst,
// for the features x and their values, adding the terms of each z_k in the
// order of x.
func (c *Classifier) scores(dst []float64, x []touchedFeature, values []float64) {
	c.normalisedScores(dst, x, values, 1, 1)
}

// normalisedScores is scores for values not yet normalised: the value of a
// char feature is values[n]·normChar, of a word feature values[n]·normWord,
// rounded as vectorize rounds it, so the scores are the same to the bit.
func (c *Classifier) normalisedScores(dst []float64, x []touchedFeature, values []float64, normChar, normWord float64) {
	k, numChar := len(c.classes), int32(c.vec.numChar)
	values = values[:len(x)]
	if k == 4 { // the lesson's four tags: the sums stay in registers
		z0, z1, z2, z3 := float64(c.bias[0]), float64(c.bias[1]), float64(c.bias[2]), float64(c.bias[3])
		for n, f := range x {
			v := values[n]
			if f.idx < numChar {
				v *= normChar
			} else {
				v *= normWord
			}
			j := int(f.idx) * 4
			w := c.weights[j : j+4 : j+4]
			z0 += v * float64(w[0])
			z1 += v * float64(w[1])
			z2 += v * float64(w[2])
			z3 += v * float64(w[3])
		}
		dst[0], dst[1], dst[2], dst[3] = z0, z1, z2, z3
		return
	}
	for i := range dst {
		dst[i] = float64(c.bias[i])
	}
	for n, f := range x {
		v := values[n]
		if f.idx < numChar {
			v *= normChar
		} else {
			v *= normWord
		}
		j := int(f.idx) * k
		w := c.weights[j : j+k]
		for i, wi := range w {
			dst[i] += v * float64(wi)
		}
	}
}

// probabilities turns the decision function z into probabilities in dst and
// returns the index of the largest.
//
// For LossSoftmax, p_k = exp(z_k - max z) / sum_i exp(z_i - max z). For
// LossLog, as scikit-learn's predict_proba for a one-vs-rest linear model,
// p_k = sigmoid(z_k) / sum_i sigmoid(z_i), with sigmoid(z) = 1/(1+exp(-z)).
func probabilities(dst, z []float64, loss string) int {
	win := 0
	for i := range z {
		// Finite weights can still sum to ±Inf; keep exp(z - max z) defined.
		z[i] = min(max(z[i], -math.MaxFloat64), math.MaxFloat64)
		if z[i] > z[win] {
			win = i
		}
	}
	sum := 0.0
	for i, zi := range z {
		var p float64
		switch loss {
		case LossSoftmax:
			p = math.Exp(zi - z[win])
		case LossModifiedHuber:
			p = (min(max(zi, -1), 1) + 1) / 2
		default:
			p = sigmoid(zi)
		}
		dst[i] = p
		sum += p
	}
	if sum == 0 { // every sigmoid underflowed: no class is likely
		for i := range dst {
			dst[i] = 1 / float64(len(dst))
		}
		return win
	}
	for i := range dst {
		dst[i] /= sum
	}
	return win
}

// sigmoid is 1/(1+exp(-z)), computed without overflow.
func sigmoid(z float64) float64 {
	if z >= 0 {
		return 1 / (1 + math.Exp(-z))
	}
	e := math.Exp(z)
	return e / (1 + e)
}
