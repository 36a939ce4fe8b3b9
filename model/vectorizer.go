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

// extraction holds the n-grams of one text; its buffers are reused from
// text to text.
type extraction struct {
	// padded is " " + the lower-cased text + " ": every padded word of
	// the char_wb analyzer, " w ", is a substring of it.
	padded []byte
	// hashes are the feature hashes of the n-grams, char n-grams first,
	// then word n-grams, each in the order of the text, repeats included.
	hashes []uint64
	// numChar is the number of char n-grams, the first of hashes.
	numChar int
	// words is the number of words of the text.
	words int
}

// extract fills e with the n-grams of the cleaned text, as scikit-learn's
// TfidfVectorizer with its default lowercase=True yields them:
//
//   - analyzer="char_wb", ngram_range=(charMin, charMax) (_char_wb_ngrams):
//     every white-space separated word w is padded to " w ", and for each
//     position in it, every substring of length charMin to charMax starting
//     there is an n-gram; a padded word shorter than charMin is one n-gram
//     as a whole;
//   - analyzer="word", ngram_range=(1, wordMax): the tokens are the words
//     of two or more characters (its token_pattern (?u)\b\w\w+\b), and an
//     n-gram is n consecutive tokens joined by one space, listed as the
//     tokens come, for n = 1 up to wordMax at each token.
//
// The hash of a char n-gram is FNV-1a 64 of its bytes, computed
// incrementally as the n-gram grows by one byte, so no n-gram is ever
// built as a string; a word n-gram's hash starts with wordMarker. Clean
// leaves only ASCII letters, digits and spaces, so bytes are characters.
func (cfg *featureConfig) extract(text []byte, e *extraction) {
	p := append(e.padded[:0], ' ')
	words := 0
	prev := byte(' ')
	for _, c := range text {
		if c != ' ' && prev == ' ' {
			words++
		}
		prev = c
		p = append(p, lowerASCII(c))
	}
	p = append(p, ' ')
	e.padded, e.words = p, words
	e.hashes = e.hashes[:0]
	if cfg.charMax > 0 && words > 0 {
		minN := cfg.minChar()
		e.hashes = slices.Grow(e.hashes, len(p)*max(cfg.charMax-minN+1, 1))
		e.extractChar(minN, cfg.charMax)
	}
	e.numChar = len(e.hashes)
	if cfg.wordMax > 0 && words > 0 {
		e.extractWord(cfg.wordMax)
	}
}

func (e *extraction) extractChar(minN, maxN int) {
	p, h := e.padded, e.hashes
	// p starts and ends with a space, so every word of the text is
	// p[start:end] with p[start-1] == p[end] == ' '.
	for start := 1; start < len(p)-1; {
		if p[start] == ' ' {
			start++
			continue
		}
		end := start + 1
		for p[end] != ' ' {
			end++
		}
		h = appendCharNgrams(h, p[start-1:end+1], minN, maxN) // the padded word
		start = end
	}
	e.hashes = h
}

// minChar is the shortest char n-gram: charMin, or 1 when charMin is
// below 1 (n-grams are never empty).
func (cfg *featureConfig) minChar() int { return max(cfg.charMin, 1) }

// appendCharNgrams appends the hashes of the char n-grams of the padded
// word w, for 1 <= minN.
func appendCharNgrams(h []uint64, w []byte, minN, maxN int) []uint64 {
	if len(w) < minN {
		return append(h, nonZero(fnvBytes(w)))
	}
	if minN > maxN { // an empty range: no other n-gram
		return h
	}
	for i := 0; i+minN <= len(w); i++ {
		// The n-grams starting at i: hash their common first minN-1 bytes
		// once, then one more byte per n-gram.
		x := uint64(fnvOffset64)
		for _, c := range w[i : i+minN-1] {
			x ^= uint64(c)
			x *= fnvPrime64
		}
		for _, c := range w[i+minN-1 : min(i+maxN, len(w))] {
			x ^= uint64(c)
			x *= fnvPrime64
			h = append(h, nonZero(x))
		}
	}
	return h
}

func (e *extraction) extractWord(maxN int) {
	p := e.padded
	// starts and ends hold the offsets of the last tokens, ring-buffered.
	var starts, ends [maxWordNgram]int
	maxN = min(maxN, len(starts))
	count := 0
	for pos := 1; pos < len(p)-1; {
		if p[pos] == ' ' {
			pos++
			continue
		}
		end := pos + 1
		for p[end] != ' ' {
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
			x := uint64(fnvOffset64)
			x ^= wordMarker
			x *= fnvPrime64
			for t := count - n; t < count; t++ {
				if t > count-n {
					x ^= ' '
					x *= fnvPrime64
				}
				for _, c := range p[starts[t%len(starts)]:ends[t%len(ends)]] {
					x ^= uint64(c)
					x *= fnvPrime64
				}
			}
			e.hashes = append(e.hashes, nonZero(x))
		}
	}
}

// maxWordNgram bounds the number of words of a word n-gram.
const maxWordNgram = 8

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

// hashIndex maps feature hashes to feature indices and their idf: an
// open-addressing hash table with linear probing, at most half full, so
// that a lookup touches one or two cache lines and allocates nothing, and a
// hit brings the idf with it.
type hashIndex struct {
	slots []hashSlot
	shift uint // 64 - log2(len(slots))
}

type hashSlot struct {
	key uint64 // 0: empty
	idx int32
	idf float32
}

// newHashIndex indexes keys; setIDF then stores the idf of each key.
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

// setIDF stores in each slot the idf of its feature, idf[idx].
func (x *hashIndex) setIDF(idf []float32) {
	for i := range x.slots {
		if s := &x.slots[i]; s.key != 0 {
			s.idf = idf[s.idx]
		}
	}
}

// fibonacci64 and fibonacci32 are 2^64/phi and 2^32/phi, rounded to odd.
const (
	fibonacci64 = 0x9E3779B97F4A7C15
	fibonacci32 = 0x9E3779B9
)

// slot is Fibonacci hashing of k: the top bits of k times 2^64/phi.
func (x *hashIndex) slot(k uint64) uint64 { return (k * fibonacci64) >> x.shift }

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
	var e extraction
	for _, text := range texts {
		clear(seen)
		cfg.extract(text, &e)
		for n, h := range e.hashes {
			if _, ok := seen[h]; !ok {
				seen[h] = struct{}{}
				if n < e.numChar {
					charDF[h]++
				} else {
					wordDF[h]++
				}
			}
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
	v.index.setIDF(v.idf)
	return v
}

// numFeatures returns the number of features.
func (v *vectorizer) numFeatures() int { return len(v.keys) }

// textCounts are what vectorize counts of a text, for Prediction's
// statistics.
type textCounts struct {
	words, ngrams, known, features int
}

// vectorScratch holds the buffers of one vectorisation; one goroutine uses
// it at a time.
type vectorScratch struct {
	extraction
	// seen maps the features of the current text to their entry in
	// touched: an open-addressing table with linear probing, sized to at
	// least twice the number of n-grams, so that it stays small (in the
	// first-level cache for a typical text) whatever the vocabulary size.
	// Its entries are cleared after each text.
	seen []seenSlot
	// touched are the features of the text, in order of first occurrence
	// (so that sums run in a deterministic order), with their idf and
	// count.
	touched []touchedFeature
	// values are the TF-IDF values of touched, aligned with it.
	values []float64
}

type touchedFeature struct {
	idx   int32
	idf   float32
	count uint32
	slot  uint32 // its slot in seen
}

type seenSlot struct {
	key      uint32 // 1 + the feature index; 0: empty
	position uint32 // its entry in touched
}

func newVectorScratch() *vectorScratch {
	return &vectorScratch{
		extraction: extraction{padded: make([]byte, 0, 256), hashes: make([]uint64, 0, 2048)},
		seen:       make([]seenSlot, 1024),
		touched:    make([]touchedFeature, 0, 512),
		values:     make([]float64, 0, 512),
	}
}

// maxRetained bounds the buffers a scratch keeps for the next text, so
// that one huge text does not pin its buffers in a pool for good.
const maxRetained = 1 << 16

func (s *vectorScratch) shrink() {
	if cap(s.padded) > maxRetained {
		s.padded = nil
	}
	if cap(s.hashes) > maxRetained {
		s.hashes = nil
	}
	if cap(s.touched) > maxRetained {
		s.touched, s.values = nil, nil
	}
	if len(s.seen) > 2*maxRetained {
		s.seen = nil
	}
}

// vectorize computes the TF-IDF vector of a cleaned text into s.touched and
// s.values, in order of first occurrence. Each block (char, word) is
// weighted and L2-normalised on its own, as the rows of scikit-learn's
// TfidfVectorizer(norm="l2") and then a FeatureUnion of the two would be:
//
//	x(t) = tf(t) * idf(t) / sqrt(sum over t' in the block of (tf(t') * idf(t'))^2)
//
// with tf(t) the count of t in the text, or 1 + ln(count) with sublinear tf;
// the word block is then multiplied by cfg.wordWeight. N-grams outside the
// vocabulary are ignored.
func (v *vectorizer) vectorize(text []byte, s *vectorScratch) textCounts {
	n := v.countFeatures(text, s)
	normChar, normWord := v.weigh(s)
	for i, t := range s.touched {
		if t.idx < int32(v.numChar) {
			s.values[i] *= normChar
		} else {
			s.values[i] *= normWord
		}
	}
	return n
}

// countFeatures extracts the n-grams of text and counts its features in
// s.touched.
func (v *vectorizer) countFeatures(text []byte, s *vectorScratch) textCounts {
	v.cfg.extract(text, &s.extraction)
	ngrams := len(s.hashes)
	known := v.count(s) // overwrites s.hashes
	return textCounts{words: s.words, ngrams: ngrams, known: known, features: len(s.touched)}
}

// count looks every n-gram of s.hashes up and counts the features found in
// s.touched; it returns the number of n-grams found. It works in two tight
// loops (few live variables, no spills): the lookups, which overwrite
// s.hashes with the features found, then the counting.
func (v *vectorizer) count(s *vectorScratch) int {
	found := v.lookupAll(s.hashes)
	bits := uint(6)
	for 1<<bits < 2*len(found) {
		bits++
	}
	if len(s.seen) < 1<<bits {
		s.seen = make([]seenSlot, 1<<bits)
	}
	seen := s.seen[:1<<bits]
	seenMask, seenShift := uint32(len(seen)-1), (32-bits)&31
	touched := slices.Grow(s.touched[:0], len(found))[:len(found)]
	distinct := 0
	for _, f := range found {
		key := uint32(f) + 1 // 1 + the feature index
		j := (key * fibonacci32) >> seenShift
		for {
			e := &seen[j&seenMask]
			if e.key == key {
				touched[e.position].count++
				break
			}
			if e.key == 0 {
				*e = seenSlot{key: key, position: uint32(distinct)}
				touched[distinct] = touchedFeature{idx: int32(uint32(f)), idf: math.Float32frombits(uint32(f >> 32)), count: 1, slot: j & seenMask}
				distinct++
				break
			}
			j++
		}
	}
	s.touched = touched[:distinct]
	return len(found)
}

// lookupAll looks every hash of hashes up and writes, in its place, the
// feature found (the index in the low 32 bits, the idf's bits in the high
// ones); it returns the prefix of hashes so overwritten.
func (v *vectorizer) lookupAll(hashes []uint64) []uint64 {
	slots, shift := v.index.slots, v.index.shift&63
	mask := uint64(len(slots) - 1)
	m := 0
	for _, k := range hashes {
		for i := (k * fibonacci64) >> shift; ; i++ {
			slot := &slots[i&mask]
			if slot.key == k {
				hashes[m] = uint64(uint32(slot.idx)) | uint64(math.Float32bits(slot.idf))<<32
				m++
				break
			}
			if slot.key == 0 {
				break
			}
		}
	}
	return hashes[:m]
}

// weigh writes the TF-IDF values of s.touched, before normalisation, to
// s.values, clears s.seen, and returns the factors that normalise the char
// block and the word block.
func (v *vectorizer) weigh(s *vectorScratch) (normChar, normWord float64) {
	seen, touched := s.seen, s.touched
	values := slices.Grow(s.values[:0], len(touched))[:len(touched)]
	numChar, sublinearTF := int32(v.numChar), v.cfg.sublinearTF
	var sumChar, sumWord float64
	for n := range touched {
		t := &touched[n]
		seen[t.slot] = seenSlot{}
		tf := float64(t.count)
		if sublinearTF {
			tf = sublinear(int(t.count))
		}
		x := tf * float64(t.idf)
		values[n] = x
		if t.idx < numChar {
			sumChar += x * x
		} else {
			sumWord += x * x
		}
	}
	s.values = values
	if sumChar > 0 {
		normChar = 1 / math.Sqrt(sumChar)
	}
	if sumWord > 0 {
		normWord = v.cfg.wordWeight / math.Sqrt(sumWord)
	}
	return normChar, normWord
}

// transform appends the TF-IDF vector of a cleaned text (see vectorize) to
// idx and val and returns them.
func (v *vectorizer) transform(text []byte, s *vectorScratch, idx []int32, val []float64) ([]int32, []float64) {
	v.vectorize(text, s)
	for n, t := range s.touched {
		idx = append(idx, t.idx)
		val = append(val, s.values[n])
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
func sublinear(count int) float64 {
	if count < len(logTable) {
		return logTable[count]
	}
	return 1 + math.Log(float64(count))
}
