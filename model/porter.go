package model

import "strings"

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
	s := word
	if lower {
		s = strings.ToLower(word)
	}
	if irregular, ok := porterIrregular[word]; ok {
		return irregular
	}
	if len(word) <= 2 {
		return s
	}
	s = porterStep1a(s)
	s = porterStep1b(s)
	s = porterStep1c(s)
	s = porterStep2(s)
	s = porterStep3(s)
	s = porterStep4(s)
	s = porterStep5a(s)
	s = porterStep5b(s)
	return s
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

func isConsonant(w string, i int) bool {
	switch w[i] {
	case 'a', 'e', 'i', 'o', 'u':
		return false
	case 'y':
		return i == 0 || !isConsonant(w, i-1)
	}
	return true
}

// measure is Porter's m: the number of vowel-consonant sequences in
// [C](VC){m}[V].
func measure(w string) int {
	m := 0
	for i := 1; i < len(w); i++ {
		if isConsonant(w, i) && !isConsonant(w, i-1) {
			m++
		}
	}
	return m
}

func containsVowel(w string) bool {
	for i := range len(w) {
		if !isConsonant(w, i) {
			return true
		}
	}
	return false
}

func endsDoubleConsonant(w string) bool {
	n := len(w)
	return n >= 2 && w[n-1] == w[n-2] && isConsonant(w, n-1)
}

// endsCVC is Porter's *o, with NLTK's extension to two-letter stems.
func endsCVC(w string) bool {
	n := len(w)
	if n >= 3 && isConsonant(w, n-3) && !isConsonant(w, n-2) && isConsonant(w, n-1) &&
		w[n-1] != 'w' && w[n-1] != 'x' && w[n-1] != 'y' {
		return true
	}
	return n == 2 && !isConsonant(w, 0) && isConsonant(w, 1)
}

// porterRule replaces suffix by repl when the stem before it satisfies
// cond (nil: always).
type porterRule struct {
	suffix, repl string
	cond         func(stem string) bool
}

func positiveMeasure(stem string) bool { return measure(stem) > 0 }
func measureAbove1(stem string) bool   { return measure(stem) > 1 }

// applyRules applies the first rule whose suffix matches; a matching rule
// whose condition fails ends the step with w unchanged.
func applyRules(w string, rules []porterRule) string {
	for _, r := range rules {
		if strings.HasSuffix(w, r.suffix) {
			stem := w[:len(w)-len(r.suffix)]
			if r.cond == nil || r.cond(stem) {
				return stem + r.repl
			}
			return w
		}
	}
	return w
}

func porterStep1a(w string) string {
	if len(w) == 4 && strings.HasSuffix(w, "ies") {
		return w[:1] + "ie"
	}
	return applyRules(w, []porterRule{{"sses", "ss", nil}, {"ies", "i", nil}, {"ss", "ss", nil}, {"s", "", nil}})
}

func porterStep1b(w string) string {
	if strings.HasSuffix(w, "ied") {
		if len(w) == 4 {
			return w[:1] + "ie"
		}
		return w[:len(w)-3] + "i"
	}
	if strings.HasSuffix(w, "eed") {
		if stem := w[:len(w)-3]; measure(stem) > 0 {
			return stem + "ee"
		}
		return w
	}
	var stem string
	switch {
	case strings.HasSuffix(w, "ed") && containsVowel(w[:len(w)-2]):
		stem = w[:len(w)-2]
	case strings.HasSuffix(w, "ing") && containsVowel(w[:len(w)-3]):
		stem = w[:len(w)-3]
	default:
		return w
	}
	for _, suffix := range []string{"at", "bl", "iz"} {
		if strings.HasSuffix(stem, suffix) {
			return stem + "e"
		}
	}
	if endsDoubleConsonant(stem) {
		if last := stem[len(stem)-1]; last != 'l' && last != 's' && last != 'z' {
			return stem[:len(stem)-1]
		}
		return stem
	}
	if measure(stem) == 1 && endsCVC(stem) {
		return stem + "e"
	}
	return stem
}

func porterStep1c(w string) string {
	if strings.HasSuffix(w, "y") {
		if stem := w[:len(w)-1]; len(stem) > 1 && isConsonant(stem, len(stem)-1) {
			return stem + "i"
		}
	}
	return w
}

var porterStep2Rules = []porterRule{
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
	{"logi", "log", func(stem string) bool { return measure(stem+"l") > 0 }},
}

func porterStep2(w string) string {
	if strings.HasSuffix(w, "alli") && positiveMeasure(w[:len(w)-4]) {
		return porterStep2(w[:len(w)-4] + "al")
	}
	return applyRules(w, porterStep2Rules)
}

var porterStep3Rules = []porterRule{
	{"icate", "ic", positiveMeasure},
	{"ative", "", positiveMeasure},
	{"alize", "al", positiveMeasure},
	{"iciti", "ic", positiveMeasure},
	{"ical", "ic", positiveMeasure},
	{"ful", "", positiveMeasure},
	{"ness", "", positiveMeasure},
}

func porterStep3(w string) string { return applyRules(w, porterStep3Rules) }

var porterStep4Rules = []porterRule{
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
	{"ion", "", func(stem string) bool {
		return measure(stem) > 1 && (stem[len(stem)-1] == 's' || stem[len(stem)-1] == 't')
	}},
	{"ou", "", measureAbove1},
	{"ism", "", measureAbove1},
	{"ate", "", measureAbove1},
	{"iti", "", measureAbove1},
	{"ous", "", measureAbove1},
	{"ive", "", measureAbove1},
	{"ize", "", measureAbove1},
}

func porterStep4(w string) string { return applyRules(w, porterStep4Rules) }

func porterStep5a(w string) string {
	if strings.HasSuffix(w, "e") {
		stem := w[:len(w)-1]
		if m := measure(stem); m > 1 || m == 1 && !endsCVC(stem) {
			return stem
		}
	}
	return w
}

func porterStep5b(w string) string {
	if strings.HasSuffix(w, "ll") && measure(w[:len(w)-1]) > 1 {
		return w[:len(w)-1]
	}
	return w
}
