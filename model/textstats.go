package model

import (
	"strings"
)

// TextStats come from the prediction path, which counts them in the loop
// that builds the features (see Prediction). The rest of this file is the
// slow, allocation-happy path that names the n-grams of a text, for
// explanations (opt-in): it enumerates n-grams exactly as the vectorizer
// does (same padding, same hashes) but on its own.

// TextStats are the per-text signals monitoring compares with a baseline.
type TextStats struct {
	// Tokens is the number of words of the cleaned text (stop words and
	// links removed, as the model sees it).
	Tokens int
	// NGrams is the number of n-gram occurrences of the text, char and
	// word, repeats included; KnownNGrams of them are in the vocabulary.
	NGrams, KnownNGrams int
	// Features is the number of distinct vocabulary features present: 0 is
	// an empty feature vector, for which the prediction is the intercepts'.
	Features int
}

// OOVRate is the share of the text's n-gram occurrences absent from the
// vocabulary, 1 for a text without n-grams (nothing of it is known).
func (s TextStats) OOVRate() float64 {
	if s.NGrams == 0 {
		return 1
	}
	return float64(s.NGrams-s.KnownNGrams) / float64(s.NGrams)
}

// TextStats cleans text as Predict does and counts its words, n-grams,
// known n-grams and features: it is Predict(text).TextStats().
func (c *Classifier) TextStats(text string) TextStats { return c.Predict(text).TextStats() }

// ngram is one n-gram occurrence of a cleaned text split into words.
type ngram struct {
	hash uint64
	// word is true for a word n-gram of the words at the indices in
	// tokens, false for a char n-gram of the padded word
	// " words[tokens[0]] " at [off, off+n).
	word   bool
	tokens []int
	off, n int
}

// name returns the n-gram as scikit-learn's get_feature_names_out writes
// it: a char n-gram with its padding spaces, a word n-gram as its words
// joined by one space, lower-cased.
func (g ngram) name(words []string) string {
	if g.word {
		parts := make([]string, len(g.tokens))
		for i, t := range g.tokens {
			parts[i] = strings.ToLower(words[t])
		}
		return strings.Join(parts, " ")
	}
	padded := " " + strings.ToLower(words[g.tokens[0]]) + " "
	return padded[g.off : g.off+g.n]
}

// eachNgram calls fn with every n-gram occurrence of the cleaned text's
// words, in the vectorizer's order (char n-grams of each word, then word
// n-grams), with the hashes the vectorizer's extract computes.
func (v *vectorizer) eachNgram(words []string, fn func(ngram)) {
	minN, maxN := v.cfg.charMin, v.cfg.charMax
	if maxN > 0 {
		for wi, w := range words {
			at := []int{wi}
			padded := make([]byte, 0, len(w)+2)
			padded = append(padded, ' ')
			for i := 0; i < len(w); i++ {
				padded = append(padded, lowerASCII(w[i]))
			}
			padded = append(padded, ' ')
			if len(padded) < minN {
				fn(ngram{hash: nonZero(fnvBytes(padded)), tokens: at, off: 0, n: len(padded)})
				continue
			}
			for i := 0; i+minN <= len(padded); i++ {
				for n := minN; n <= maxN && i+n <= len(padded); n++ {
					fn(ngram{hash: nonZero(fnvBytes(padded[i : i+n])), tokens: at, off: i, n: n})
				}
			}
		}
	}
	maxW := min(v.cfg.wordMax, MaxWordNgram)
	if maxW == 0 {
		return
	}
	// Word n-grams are over the tokens, the words of two or more characters.
	var tokens []int // indices into words
	for wi, w := range words {
		if len(w) < 2 {
			continue
		}
		tokens = append(tokens, wi)
		for n := 1; n <= maxW && n <= len(tokens); n++ {
			g := ngram{word: true, tokens: tokens[len(tokens)-n:]}
			g.hash = wordNgramHash(g.name(words))
			fn(g)
		}
	}
}
