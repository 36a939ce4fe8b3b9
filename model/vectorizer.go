package model

import (
	"math"
	"slices"
)

// FNV-1a 64-bit parameters (Fowler, Noll, Vo).
const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

// wordMarker starts the hash of every word n-gram, so that a word n-gram
// and a char n-gram with the same letters are different features.
const wordMarker = 0x01

// hashBytes is FNV-1a 64 of b; a hash of 0 becomes 1 because 0 marks an
// empty slot in hashIndex.
func hashBytes(b string) uint64 {
	h := uint64(fnvOffset64)
	for i := 0; i < len(b); i++ {
		h ^= uint64(b[i])
		h *= fnvPrime64
	}
	return nonZero(h)
}

func nonZero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

// charNgramHash returns the feature hash of a char n-gram such as " ab"
// (as scikit-learn names it in get_feature_names_out).
func charNgramHash(ngram string) uint64 { return hashBytes(ngram) }

// wordNgramHash returns the feature hash of a word n-gram such as
// "neural network" (words joined by one space, as scikit-learn names it).
func wordNgramHash(ngram string) uint64 {
	return hashBytes(string(rune(wordMarker)) + ngram)
}

// featureConfig says which n-grams are features.
type featureConfig struct {
	charMin, charMax int  // char_wb n-gram lengths; charMax 0: none
	wordMax          int  // word n-grams of 1 to wordMax words; 0: none
	sublinearTF      bool // tf = 1 + ln(count) instead of count
	wordWeight       float64
}

// forEachCharNgram calls fn with the hash of every char_wb n-gram of the
// cleaned text, in order, repeated n-grams repeatedly, as scikit-learn's
// TfidfVectorizer(analyzer="char_wb", ngram_range=(min, max)) with its
// default lowercase=True yields them (_char_wb_ngrams): every
// white-space separated word w is padded to " w ", and for each n from min
// to max every substring of length n of the padded word is an n-gram; a
// padded word shorter than min is one n-gram as a whole.
//
// The hash of the n-gram at i of length n is FNV-1a 64 over its bytes,
// computed incrementally as n grows, so no n-gram is ever built as a
// string. Clean leaves only ASCII letters, digits and spaces, so bytes are
// characters.
func forEachCharNgram(text []byte, minN, maxN int, fn func(h uint64)) {
	var padded [64]byte
	for start := 0; start < len(text); {
		for start < len(text) && text[start] == ' ' {
			start++
		}
		end := start
		for end < len(text) && text[end] != ' ' {
			end++
		}
		if end == start {
			break
		}
		word := text[start:end]
		start = end
		var w []byte
		if len(word)+2 <= len(padded) {
			w = padded[:0]
		}
		w = append(w, ' ')
		for _, c := range word {
			w = append(w, lowerASCII(c))
		}
		w = append(w, ' ')
		if len(w) < minN {
			fn(nonZero(fnvBytes(w)))
			continue
		}
		for i := 0; i+minN <= len(w); i++ {
			h := uint64(fnvOffset64)
			for n := 1; n <= maxN && i+n <= len(w); n++ {
				h ^= uint64(w[i+n-1])
				h *= fnvPrime64
				if n >= minN {
					fn(nonZero(h))
				}
			}
		}
	}
}

func fnvBytes(b []byte) uint64 {
	h := uint64(fnvOffset64)
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime64
	}
	return h
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// forEachWordNgram calls fn with the hash of every word n-gram of the
// cleaned text, n from 1 to maxN, as scikit-learn's
// TfidfVectorizer(analyzer="word", ngram_range=(1, maxN)) yields them: the
// tokens are the words of two or more characters (its token_pattern
// (?u)\b\w\w+\b), lower-cased, and an n-gram is n consecutive tokens joined
// by one space.
func forEachWordNgram(text []byte, maxN int, fn func(h uint64)) {
	// starts holds the offsets of the last maxN tokens, ring-buffered.
	var starts, ends [8]int
	if maxN > len(starts) {
		maxN = len(starts)
	}
	count := 0
	for pos := 0; pos < len(text); {
		for pos < len(text) && text[pos] == ' ' {
			pos++
		}
		end := pos
		for end < len(text) && text[end] != ' ' {
			end++
		}
		if end-pos < 2 {
			pos = end
			continue
		}
		starts[count%len(starts)], ends[count%len(ends)] = pos, end
		count++
		pos = end
		// The n-grams ending with this token: n = 1 .. min(maxN, count).
		for n := 1; n <= maxN && n <= count; n++ {
			h := uint64(fnvOffset64)
			h ^= wordMarker
			h *= fnvPrime64
			for t := count - n; t < count; t++ {
				if t > count-n {
					h ^= ' '
					h *= fnvPrime64
				}
				for _, c := range text[starts[t%len(starts)]:ends[t%len(ends)]] {
					h ^= uint64(lowerASCII(c))
					h *= fnvPrime64
				}
			}
			fn(nonZero(h))
		}
	}
}

// hashIndex maps feature hashes to feature indices: an open-addressing
// hash table with linear probing, at most half full, so that a lookup
// touches one or two cache lines and allocates nothing.
type hashIndex struct {
	slots []hashSlot
	shift uint // 64 - log2(len(slots))
}

type hashSlot struct {
	key uint64 // 0: empty
	idx int32
}

func newHashIndex(keys []uint64) hashIndex {
	size := 16
	for size < 2*len(keys) {
		size *= 2
	}
	bits := 0
	for 1<<bits < size {
		bits++
	}
	x := hashIndex{slots: make([]hashSlot, size), shift: uint(64 - bits)}
	mask := uint64(size - 1)
	for i, k := range keys {
		for s := x.slot(k); ; s = (s + 1) & mask {
			if x.slots[s].key == 0 {
				x.slots[s] = hashSlot{key: k, idx: int32(i)}
				break
			}
		}
	}
	return x
}

// slot is Fibonacci hashing of k: the top bits of k times 2^64/phi.
func (x *hashIndex) slot(k uint64) uint64 { return (k * 0x9E3779B97F4A7C15) >> x.shift }

func (x *hashIndex) lookup(k uint64) (int32, bool) {
	mask := uint64(len(x.slots) - 1)
	for s := x.slot(k); ; s = (s + 1) & mask {
		slot := &x.slots[s]
		if slot.key == k {
			return slot.idx, true
		}
		if slot.key == 0 {
			return 0, false
		}
	}
}

// vectorizer turns cleaned text into TF-IDF vectors over a fixed
// vocabulary of hashed n-grams. Features [0, numChar) are char_wb n-grams,
// the rest word n-grams.
type vectorizer struct {
	cfg     featureConfig
	keys    []uint64  // feature hashes, by feature index
	idf     []float32 // inverse document frequency, by feature index
	numChar int
	index   hashIndex
}

// fitVectorizer learns the vocabulary and the idf from cleaned training
// texts, as scikit-learn's TfidfVectorizer.fit with smooth_idf=True and
// norm="l2" does:
//
//	idf(t) = ln((1 + n) / (1 + df(t))) + 1
//
// where n is the number of texts and df(t) the number of texts that hold
// the n-gram t. N-grams in fewer than minDF texts are dropped (sklearn's
// min_df as a count). Features are ordered by block (char, then word), then
// by hash, which fixes the layout of the weights for a given vocabulary.
func fitVectorizer(texts [][]byte, cfg featureConfig, minDF int) *vectorizer {
	charDF := map[uint64]int32{}
	wordDF := map[uint64]int32{}
	seen := map[uint64]struct{}{}
	for _, text := range texts {
		clear(seen)
		if cfg.charMax > 0 {
			forEachCharNgram(text, cfg.charMin, cfg.charMax, func(h uint64) {
				if _, ok := seen[h]; !ok {
					seen[h] = struct{}{}
					charDF[h]++
				}
			})
		}
		if cfg.wordMax > 0 {
			forEachWordNgram(text, cfg.wordMax, func(h uint64) {
				if _, ok := seen[h]; !ok {
					seen[h] = struct{}{}
					wordDF[h]++
				}
			})
		}
	}
	sorted := func(df map[uint64]int32) []uint64 {
		keys := make([]uint64, 0, len(df))
		for k, d := range df {
			if int(d) >= minDF {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		return keys
	}
	charKeys, wordKeys := sorted(charDF), sorted(wordDF)
	v := &vectorizer{cfg: cfg, numChar: len(charKeys)}
	v.keys = append(charKeys, wordKeys...)
	v.idf = make([]float32, len(v.keys))
	n := float64(len(texts))
	for i, k := range v.keys {
		df := charDF[k]
		if i >= v.numChar {
			df = wordDF[k]
		}
		v.idf[i] = float32(math.Log((1+n)/(1+float64(df))) + 1)
	}
	v.index = newHashIndex(v.keys)
	return v
}

// numFeatures returns the number of features.
func (v *vectorizer) numFeatures() int { return len(v.keys) }

// sparseScratch accumulates one sparse vector: dense holds the value of
// every feature touched so far, touched their indices in order of first
// touch (so that sums run in a deterministic order).
type sparseScratch struct {
	dense   []float64
	touched []int32
}

func (s *sparseScratch) add(i int32) {
	if s.dense[i] == 0 {
		s.touched = append(s.touched, i)
	}
	s.dense[i]++
}

// transform appends the TF-IDF vector of a cleaned text to idx and val and
// returns them; entries are in order of first occurrence. Each block
// (char, word) is weighted and L2-normalised on its own, as the rows of
// scikit-learn's TfidfVectorizer(norm="l2") and then a FeatureUnion of the
// two would be:
//
//	x(t) = tf(t) * idf(t) / sqrt(sum over t' in the block of (tf(t') * idf(t'))^2)
//
// with tf(t) the count of t in the text, or 1 + ln(count) with sublinear tf;
// the word block is then multiplied by cfg.wordWeight. N-grams outside the
// vocabulary are ignored. scratch.dense must be all zero on entry and is
// all zero again on return.
func (v *vectorizer) transform(text []byte, s *sparseScratch, idx []int32, val []float64) ([]int32, []float64) {
	s.touched = s.touched[:0]
	count := func(h uint64) {
		if i, ok := v.index.lookup(h); ok {
			s.add(i)
		}
	}
	if v.cfg.charMax > 0 {
		forEachCharNgram(text, v.cfg.charMin, v.cfg.charMax, count)
	}
	if v.cfg.wordMax > 0 {
		forEachWordNgram(text, v.cfg.wordMax, count)
	}
	var sumChar, sumWord float64
	for _, i := range s.touched {
		tf := s.dense[i]
		if v.cfg.sublinearTF {
			tf = sublinear(tf)
		}
		x := tf * float64(v.idf[i])
		s.dense[i] = x
		if int(i) < v.numChar {
			sumChar += x * x
		} else {
			sumWord += x * x
		}
	}
	normChar, normWord := 0.0, 0.0
	if sumChar > 0 {
		normChar = 1 / math.Sqrt(sumChar)
	}
	if sumWord > 0 {
		normWord = v.cfg.wordWeight / math.Sqrt(sumWord)
	}
	for _, i := range s.touched {
		x := s.dense[i]
		s.dense[i] = 0
		if int(i) < v.numChar {
			x *= normChar
		} else {
			x *= normWord
		}
		idx = append(idx, i)
		val = append(val, x)
	}
	return idx, val
}

// logTable holds 1 + ln(n) for small counts n.
var logTable = func() (t [64]float64) {
	for n := 1; n < len(t); n++ {
		t[n] = 1 + math.Log(float64(n))
	}
	return t
}()

// sublinear returns 1 + ln(count).
func sublinear(count float64) float64 {
	if n := int(count); n < len(logTable) && float64(n) == count {
		return logTable[n]
	}
	return 1 + math.Log(count)
}
