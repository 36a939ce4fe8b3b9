package model

import (
	"strings"
	"unicode/utf8"
)

// Stem returns the Porter stem of word as NLTK's PorterStemmer computes it
// in its default NLTK_EXTENSIONS mode (nltk/stem/porter.py): M. F. Porter,
// "An algorithm for suffix stripping", Program 14(3), 1980, plus NLTK's
// irregular forms ("dying" -> "die"), its rule that words of one or two
// letters are left alone, and its changes to steps 1a, 1b, 1c and 2. With
// lower, word is lower-cased first (NLTK's to_lowercase).
//
// Only the letters a, e, i, o and u (and y after a consonant) are vowels;
// other bytes, upper-case letters included, count as consonants, as in
// NLTK.
func Stem(word string, lower bool) string {
	// NLTK looks the word up among the irregular forms before lower-casing.
	if irregular, ok := porterIrregular[word]; ok {
		return irregular
	}
	if lower {
		word = strings.ToLower(word)
	}
	if utf8.RuneCountInString(word) <= 2 {
		return word
	}
	return string(stemSteps([]byte(word), 0))
}

// stemInPlace replaces the word dst[start:], which is ASCII (as Clean's
// words are), by its stem, as Stem(word, false) would. Stems are never
// longer than their word, so it works in place and allocates nothing.
func stemInPlace(dst []byte, start int) []byte {
	if irregular, ok := irregularStem(dst[start:]); ok {
		return append(dst[:start], irregular...)
	}
	if len(dst)-start <= 2 { // the word is ASCII: bytes are letters
		return dst
	}
	return stemSteps(dst, start)
}

// stemSteps applies Porter's steps to the word dst[start:].
func stemSteps(dst []byte, start int) []byte {
	w := stemmer{b: dst[start:]}
	w.step1a()
	w.step1b()
	w.step1c()
	w.step2()
	w.step3()
	w.step4()
	w.step5a()
	w.step5b()
	return dst[:start+len(w.b)]
}

var porterIrregular = map[string]string{
	"sky": "sky", "skies": "sky",
	"dying": "die", "lying": "lie", "tying": "tie",
	"news":    "news",
	"innings": "inning", "inning": "inning",
	"outings": "outing", "outing": "outing",
	"cannings": "canning", "canning": "canning",
	"howe": "howe", "proceed": "proceed", "exceed": "exceed", "succeed": "succeed",
}

// irregularStem is porterIrregular[string(w)] without hashing: a switch on
// the string compiles to comparisons of lengths and bytes.
func irregularStem(w []byte) (string, bool) {
	switch string(w) {
	case "sky", "skies":
		return "sky", true
	case "dying":
		return "die", true
	case "lying":
		return "lie", true
	case "tying":
		return "tie", true
	case "news":
		return "news", true
	case "innings", "inning":
		return "inning", true
	case "outings", "outing":
		return "outing", true
	case "cannings", "canning":
		return "canning", true
	case "howe", "proceed", "exceed", "succeed":
		return string(w), true
	}
	return "", false
}

// stemmer holds the word being stemmed; every step shortens or rewrites
// b in place.
type stemmer struct{ b []byte }

func (w *stemmer) hasSuffix(s string) bool {
	// The last byte first: most suffixes differ there, without a call to
	// compare the rest.
	n := len(w.b)
	if len(s) == 0 {
		return true
	}
	return n >= len(s) && w.b[n-1] == s[len(s)-1] && string(w.b[n-len(s):]) == s
}

// replace replaces the last n bytes by repl (len(repl) <= n + 1 only when
// the caller knows there is room: stems never outgrow the word).
func (w *stemmer) replace(n int, repl string) {
	w.b = append(w.b[:len(w.b)-n], repl...)
}

// isVowelByte reports the letters that are vowels wherever they stand.
var isVowelByte = [256]bool{'a': true, 'e': true, 'i': true, 'o': true, 'u': true}

func isConsonant(w []byte, i int) bool {
	c := w[i]
	if isVowelByte[c] {
		return false
	}
	if c != 'y' {
		return true
	}
	// y is a consonant at the start and after a vowel.
	return i == 0 || !isConsonant(w, i-1)
}

// measure is Porter's m: the number of vowel-consonant sequences in
// [C](VC){m}[V].
func measure(w []byte) int {
	m := 0
	prevConsonant := true // a virtual consonant before w[0] counts for nothing
	for i, c := range w {
		consonant := !isVowelByte[c] && (c != 'y' || i == 0 || !prevConsonant)
		if consonant && !prevConsonant {
			m++
		}
		prevConsonant = consonant
	}
	return m
}

func containsVowel(w []byte) bool {
	for i := range w {
		if !isConsonant(w, i) {
			return true
		}
	}
	return false
}

func endsDoubleConsonant(w []byte) bool {
	n := len(w)
	return n >= 2 && w[n-1] == w[n-2] && isConsonant(w, n-1)
}

// endsCVC is Porter's *o, with NLTK's extension to two-letter stems.
func endsCVC(w []byte) bool {
	n := len(w)
	if n >= 3 && isConsonant(w, n-3) && !isConsonant(w, n-2) && isConsonant(w, n-1) &&
		w[n-1] != 'w' && w[n-1] != 'x' && w[n-1] != 'y' {
		return true
	}
	return n == 2 && !isConsonant(w, 0) && isConsonant(w, 1)
}

// porterRule replaces suffix by repl when the stem before it satisfies
// cond.
type porterRule struct {
	suffix, repl string
	cond         func(stem []byte) bool
}

func positiveMeasure(stem []byte) bool { return measure(stem) > 0 }
func measureAbove1(stem []byte) bool   { return measure(stem) > 1 }

// porterRules are the rules of one step, grouped by the last byte of their
// suffix (in their order within each group), so that a word is only
// compared with the suffixes that end as it does.
type porterRules [256][]porterRule

func groupRules(rules []porterRule) *porterRules {
	var g porterRules
	for _, r := range rules {
		last := r.suffix[len(r.suffix)-1]
		g[last] = append(g[last], r)
	}
	return &g
}

// applyRules applies the first rule whose suffix matches; a matching rule
// whose condition fails ends the step with the word unchanged.
func (w *stemmer) applyRules(rules *porterRules) {
	if len(w.b) == 0 {
		return
	}
	for _, r := range rules[w.b[len(w.b)-1]] {
		if w.hasSuffix(r.suffix) {
			if r.cond(w.b[:len(w.b)-len(r.suffix)]) {
				w.replace(len(r.suffix), r.repl)
			}
			return
		}
	}
}

func (w *stemmer) step1a() {
	switch {
	case len(w.b) == 4 && w.hasSuffix("ies"):
		w.replace(3, "ie")
	case w.hasSuffix("sses"):
		w.replace(4, "ss")
	case w.hasSuffix("ies"):
		w.replace(3, "i")
	case w.hasSuffix("ss"):
	case w.hasSuffix("s"):
		w.replace(1, "")
	}
}

func (w *stemmer) step1b() {
	if w.hasSuffix("ied") {
		if len(w.b) == 4 {
			w.replace(3, "ie")
		} else {
			w.replace(3, "i")
		}
		return
	}
	if w.hasSuffix("eed") {
		if measure(w.b[:len(w.b)-3]) > 0 {
			w.replace(3, "ee")
		}
		return
	}
	switch {
	case w.hasSuffix("ed") && containsVowel(w.b[:len(w.b)-2]):
		w.replace(2, "")
	case w.hasSuffix("ing") && containsVowel(w.b[:len(w.b)-3]):
		w.replace(3, "")
	default:
		return
	}
	switch {
	case w.hasSuffix("at"), w.hasSuffix("bl"), w.hasSuffix("iz"):
		w.replace(0, "e")
	case endsDoubleConsonant(w.b):
		if last := w.b[len(w.b)-1]; last != 'l' && last != 's' && last != 'z' {
			w.replace(1, "")
		}
	case measure(w.b) == 1 && endsCVC(w.b):
		w.replace(0, "e")
	}
}

func (w *stemmer) step1c() {
	if n := len(w.b); n > 2 && w.b[n-1] == 'y' && isConsonant(w.b, n-2) {
		w.b[n-1] = 'i'
	}
}

var porterStep2Rules = groupRules([]porterRule{
	{"ational", "ate", positiveMeasure},
	{"tional", "tion", positiveMeasure},
	{"enci", "ence", positiveMeasure},
	{"anci", "ance", positiveMeasure},
	{"izer", "ize", positiveMeasure},
	{"bli", "ble", positiveMeasure},
	{"alli", "al", positiveMeasure},
	{"entli", "ent", positiveMeasure},
	{"eli", "e", positiveMeasure},
	{"ousli", "ous", positiveMeasure},
	{"ization", "ize", positiveMeasure},
	{"ation", "ate", positiveMeasure},
	{"ator", "ate", positiveMeasure},
	{"alism", "al", positiveMeasure},
	{"iveness", "ive", positiveMeasure},
	{"fulness", "ful", positiveMeasure},
	{"ousness", "ous", positiveMeasure},
	{"aliti", "al", positiveMeasure},
	{"iviti", "ive", positiveMeasure},
	{"biliti", "ble", positiveMeasure},
	{"fulli", "ful", positiveMeasure},
	// NLTK keeps the "l" of "logi" with the stem it measures.
	{"logi", "log", func(stem []byte) bool { return measure(stem[:len(stem)+1]) > 0 }},
})

func (w *stemmer) step2() {
	if w.hasSuffix("alli") && positiveMeasure(w.b[:len(w.b)-4]) {
		w.replace(4, "al")
		w.step2()
		return
	}
	w.applyRules(porterStep2Rules)
}

var porterStep3Rules = groupRules([]porterRule{
	{"icate", "ic", positiveMeasure},
	{"ative", "", positiveMeasure},
	{"alize", "al", positiveMeasure},
	{"iciti", "ic", positiveMeasure},
	{"ical", "ic", positiveMeasure},
	{"ful", "", positiveMeasure},
	{"ness", "", positiveMeasure},
})

func (w *stemmer) step3() { w.applyRules(porterStep3Rules) }

var porterStep4Rules = groupRules([]porterRule{
	{"al", "", measureAbove1},
	{"ance", "", measureAbove1},
	{"ence", "", measureAbove1},
	{"er", "", measureAbove1},
	{"ic", "", measureAbove1},
	{"able", "", measureAbove1},
	{"ible", "", measureAbove1},
	{"ant", "", measureAbove1},
	{"ement", "", measureAbove1},
	{"ment", "", measureAbove1},
	{"ent", "", measureAbove1},
	{"ion", "", func(stem []byte) bool {
		return measure(stem) > 1 && (stem[len(stem)-1] == 's' || stem[len(stem)-1] == 't')
	}},
	{"ou", "", measureAbove1},
	{"ism", "", measureAbove1},
	{"ate", "", measureAbove1},
	{"iti", "", measureAbove1},
	{"ous", "", measureAbove1},
	{"ive", "", measureAbove1},
	{"ize", "", measureAbove1},
})

func (w *stemmer) step4() { w.applyRules(porterStep4Rules) }

func (w *stemmer) step5a() {
	if w.hasSuffix("e") {
		stem := w.b[:len(w.b)-1]
		if m := measure(stem); m > 1 || m == 1 && !endsCVC(stem) {
			w.replace(1, "")
		}
	}
}

func (w *stemmer) step5b() {
	if w.hasSuffix("ll") && measure(w.b[:len(w.b)-1]) > 1 {
		w.replace(1, "")
	}
}
