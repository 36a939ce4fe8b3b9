package model

// Feature is one feature present in a text's TF-IDF vector.
type Feature struct {
	// Index is the feature's index in the vocabulary, in
	// [0, Classifier.NumFeatures()).
	Index int
	// Value is its TF-IDF value x_j, exactly as the prediction uses it:
	// the class scores are z_k = b_k + sum_j x_j·w_jk.
	Value float64
}

// AppendFeatures appends the features present in text's vector to dst and
// returns it: the vector Predict computes, cleaned and weighted the same
// way, in the order the features first occur (char n-grams, then word
// n-grams). With a dst of enough capacity it allocates nothing.
func (c *Classifier) AppendFeatures(dst []Feature, text string) []Feature {
	s := c.getScratch()
	s.text = AppendClean(s.text[:0], text, c.clean)
	c.vec.vectorize(s.text, s.vec)
	for n, t := range s.vec.touched {
		dst = append(dst, Feature{Index: int(t.idx), Value: s.vec.values[n]})
	}
	c.putScratch(s)
	return dst
}

// Kinds of feature, as FeatureKind names them.
const (
	kindCharNgram = "char_ngram"
	kindWord      = "word"
)

// FeatureKind returns the kind of feature i: "char_ngram" for a char_wb
// n-gram (letters of one cleaned word, padded with a space at each end),
// "word" for a word n-gram (words of the cleaned text joined by one
// space). It panics when i is not in [0, NumFeatures()).
func (c *Classifier) FeatureKind(i int) string {
	if i < 0 || i >= c.vec.numFeatures() {
		panic("model: feature index out of range")
	}
	if i < c.vec.numChar {
		return kindCharNgram
	}
	return kindWord
}

// FeatureTerms returns, for each index of indices, the n-gram of that
// feature as it occurs in text, spelled as scikit-learn's
// get_feature_names_out spells it (a char n-gram with its padding spaces,
// " tra"; a word n-gram as its words joined by one space, "transform"),
// or "" when the feature does not occur in text (or is out of range).
//
// The artifact stores the vocabulary as hashes, not strings, so a feature's
// term is known only from a text that holds it; FeatureTerms walks the
// text's n-grams once, on a slower path than prediction's, which is meant
// for the few features an explanation shows.
func (c *Classifier) FeatureTerms(text string, indices []int) []string {
	terms := make([]string, len(indices))
	want := make(map[int32][]int, len(indices)) // feature -> positions in indices
	for n, i := range indices {
		if i >= 0 && i < c.vec.numFeatures() {
			want[int32(i)] = append(want[int32(i)], n)
		}
	}
	cleaned := AppendClean(nil, text, c.clean)
	c.vec.cfg.eachTerm(cleaned, func(h uint64, term []byte) {
		if len(want) == 0 {
			return
		}
		i, ok := c.vec.index.lookup(h)
		if !ok {
			return
		}
		if at, ok := want[i]; ok {
			for _, n := range at {
				terms[n] = string(term)
			}
			delete(want, i)
		}
	})
	return terms
}

// eachTerm calls fn with the hash and the bytes of every n-gram of the
// cleaned text, in the order extract hashes them. It builds each n-gram and
// hashes it whole, independently of extract's incremental hashing, so that
// the two can be checked against each other.
func (cfg *featureConfig) eachTerm(text []byte, fn func(h uint64, term []byte)) {
	padded := make([]byte, 0, len(text)+2)
	padded = append(padded, ' ')
	for _, c := range text {
		padded = append(padded, lowerASCII(c))
	}
	padded = append(padded, ' ')
	// words are the [start, end) offsets in padded of the text's words.
	var words [][2]int
	for start := 1; start < len(padded)-1; {
		if padded[start] == ' ' {
			start++
			continue
		}
		end := start
		for padded[end] != ' ' {
			end++
		}
		words = append(words, [2]int{start, end})
		start = end
	}
	if cfg.charMax > 0 {
		minN := cfg.minChar()
		for _, w := range words {
			word := padded[w[0]-1 : w[1]+1]
			if len(word) < minN {
				fn(charNgramHash(string(word)), word)
				continue
			}
			for i := 0; i+minN <= len(word); i++ {
				for n := minN; n <= cfg.charMax && i+n <= len(word); n++ {
					fn(charNgramHash(string(word[i:i+n])), word[i:i+n])
				}
			}
		}
	}
	if cfg.wordMax > 0 {
		var tokens [][]byte
		for _, w := range words {
			if w[1]-w[0] >= 2 {
				tokens = append(tokens, padded[w[0]:w[1]])
			}
		}
		var term []byte
		for t := range tokens {
			for n := 1; n <= min(cfg.wordMax, maxWordNgram) && n <= t+1; n++ {
				term = term[:0]
				for j, tok := range tokens[t+1-n : t+1] {
					if j > 0 {
						term = append(term, ' ')
					}
					term = append(term, tok...)
				}
				fn(wordNgramHash(string(term)), term)
			}
		}
	}
}
