package model

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// CleanOptions are the settings of Clean. The zero value keeps case, keeps
// stop words and does not stem.
type CleanOptions struct {
	// Lower lower-cases the text before anything else.
	Lower bool `json:"lower"`
	// Stem replaces every word by its Porter stem (see Stem).
	Stem bool `json:"stem"`
	// Stopwords removes NLTK's 179 English stop words (see Stopwords).
	Stopwords bool `json:"stopwords"`
}

// DefaultCleanOptions are the lesson's settings: lower-case, remove stop
// words, do not stem.
var DefaultCleanOptions = CleanOptions{Lower: true, Stem: false, Stopwords: true}

// Clean returns text cleaned as the lesson's clean_text did, in one pass:
//
//   - links are removed: "http://" or "https://" (in any case) at the start
//     of a word, up to the next white space;
//   - with opts.Lower, the text is lower-cased;
//   - with opts.Stopwords, every stop word is removed as a whole word, where
//     words are maximal runs of letters, digits and underscores as Python's
//     \b...\b matched them, together with the white space that follows it;
//   - every run of characters other than ASCII letters and digits
//     (punctuation, white space, underscores, non-ASCII letters) becomes one
//     space, and the result has no leading or trailing space;
//   - with opts.Stem, every remaining word is replaced by its Porter stem.
//
// The result therefore holds only ASCII letters, digits and single spaces.
//
// It differs from the lesson in one deliberate way: the lesson removed
// "http\S+" after punctuation had become spaces, so it removed the word
// "https" and kept "github com user repo" (and any word starting with
// "http"); Clean removes the whole link.
func Clean(text string, opts CleanOptions) string {
	var buf [256]byte
	out := AppendClean(buf[:0], text, opts)
	return string(out)
}

// AppendClean appends Clean(text, opts) to dst and returns the extended
// buffer. It allocates nothing when dst has room.
func AppendClean(dst []byte, text string, opts CleanOptions) []byte {
	start := len(dst)
	wordStart := -1 // start in dst of the word being written, or -1
	endWord := func() {
		if wordStart < 0 {
			return
		}
		if opts.Stem {
			// The word is lower-cased already when opts.Lower is set.
			dst = stemInPlace(dst, wordStart)
		}
		wordStart = -1
	}
	i := 0
	for i < len(text) {
		// Each iteration starts at a separator or at the first character of
		// a word, where a link may start.
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
		// pure: the run is ASCII letters and digits only, the common case,
		// which is copied in one piece.
		size, pure := 1, true
		if c := text[i]; c < utf8.RuneSelf {
			pure = isASCIIAlnum(c)
			if !pure && c != '_' {
				// A separator: punctuation or white space.
				endWord()
				i++
				continue
			}
		} else {
			r, n := utf8.DecodeRuneInString(text[i:])
			if !isWordRune(r) {
				endWord()
				i += n
				continue
			}
			size, pure = n, false
		}
		// A maximal run of word characters: text[i:j].
		j := i + size
		for j < len(text) {
			c := text[j]
			if c < utf8.RuneSelf {
				if isASCIIAlnum(c) {
					j++
					continue
				}
				if c != '_' {
					break
				}
				pure = false
				j++
				continue
			}
			r, n := utf8.DecodeRuneInString(text[j:])
			if !isWordRune(r) {
				break
			}
			pure = false
			j += n
		}
		if opts.Stopwords && isStopword(text[i:j], opts.Lower) {
			endWord()
			i = j
			continue
		}
		if pure && wordStart < 0 {
			// The word is the whole run; a separator follows it.
			if len(dst) > start {
				dst = append(dst, ' ')
			}
			wordStart = len(dst)
			dst = append(dst, text[i:j]...)
			if opts.Lower {
				for k := wordStart; k < len(dst); k++ {
					dst[k] = lowerASCII(dst[k])
				}
			}
			endWord()
			i = j
			continue
		}
		for k := i; k < j; k++ {
			c := text[k]
			if !isASCIIAlnum(c) {
				// '_' and the bytes of non-ASCII letters separate words.
				endWord()
				continue
			}
			if opts.Lower && 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if wordStart < 0 {
				if len(dst) > start {
					dst = append(dst, ' ')
				}
				wordStart = len(dst)
			}
			dst = append(dst, c)
		}
		i = j
	}
	endWord()
	return dst
}

func decodeRune(s string) (rune, int) {
	if s[0] < utf8.RuneSelf {
		return rune(s[0]), 1
	}
	return utf8.DecodeRuneInString(s)
}

// isWordRune reports whether r is matched by Python's \w in a str pattern.
func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return isASCIIAlnum(byte(r)) || r == '_'
	}
	return unicode.IsLetter(r) || unicode.IsNumber(r)
}

func isASCIIAlnum(c byte) bool { return asciiAlnum[c] }

var asciiAlnum = func() (t [256]bool) {
	for c := range t {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
	}
	return t
}()

// isLink reports whether s starts with "http://" or "https://", ignoring
// case.
func isLink(s string) bool {
	if len(s) < 7 || s[0]|0x20 != 'h' {
		return false
	}
	if len(s) >= 8 && strings.EqualFold(s[:8], "https://") {
		return true
	}
	return strings.EqualFold(s[:7], "http://")
}

// isStopword reports whether the word w, lower-cased first when lower is
// set, is one of Stopwords.
func isStopword(w string, lower bool) bool {
	if len(w) > maxStopwordLen {
		return false
	}
	var buf [maxStopwordLen]byte
	h := uint32(fnvOffset32)
	for k := 0; k < len(w); k++ {
		c := w[k]
		if c >= utf8.RuneSelf {
			return false
		}
		if lower && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[k] = c
		h = (h ^ uint32(c)) * fnvPrime32
	}
	word := buf[:len(w)]
	for s := h & (len32(stopwordTable) - 1); ; s = (s + 1) & (len32(stopwordTable) - 1) {
		e := stopwordTable[s]
		if e == "" {
			return false
		}
		if e == string(word) { // compared in place, not copied
			return true
		}
	}
}

// FNV-1a 32-bit parameters.
const (
	fnvOffset32 = 2166136261
	fnvPrime32  = 16777619
)

func len32[T any](s []T) uint32 { return uint32(len(s)) }

// Stopwords are NLTK's 179 English stop words, in NLTK's order.
//
// The lesson removed them with the pattern \b(i|me|...)\b\s*, whose
// alternatives are tried in this order, so "don" always matched before
// "don't"; the forms with an apostrophe therefore never matched as a whole
// and are removed as their two halves ("don" and "t"), which are both stop
// words. Clean behaves the same.
var Stopwords = []string{
	"i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "you're",
	"you've", "you'll", "you'd", "your", "yours", "yourself", "yourselves", "he", "him", "his",
	"himself", "she", "she's", "her", "hers", "herself", "it", "it's", "its", "itself",
	"they", "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this",
	"that", "that'll", "these", "those", "am", "is", "are", "was", "were", "be",
	"been", "being", "have", "has", "had", "having", "do", "does", "did", "doing",
	"a", "an", "the", "and", "but", "if", "or", "because", "as", "until",
	"while", "of", "at", "by", "for", "with", "about", "against", "between", "into",
	"through", "during", "before", "after", "above", "below", "to", "from", "up", "down",
	"in", "out", "on", "off", "over", "under", "again", "further", "then", "once",
	"here", "there", "when", "where", "why", "how", "all", "any", "both", "each",
	"few", "more", "most", "other", "some", "such", "no", "nor", "not", "only",
	"own", "same", "so", "than", "too", "very", "s", "t", "can", "will",
	"just", "don", "don't", "should", "should've", "now", "d", "ll", "m", "o",
	"re", "ve", "y", "ain", "aren", "aren't", "couldn", "couldn't", "didn", "didn't",
	"doesn", "doesn't", "hadn", "hadn't", "hasn", "hasn't", "haven", "haven't", "isn", "isn't",
	"ma", "mightn", "mightn't", "mustn", "mustn't", "needn", "needn't", "shan", "shan't", "shouldn",
	"shouldn't", "wasn", "wasn't", "weren", "weren't", "won", "won't", "wouldn", "wouldn't",
}

const maxStopwordLen = 16

// stopwordTable is the set of Stopwords without an apostrophe: an
// open-addressing hash table (FNV-1a 32, linear probing, a quarter full)
// that answers a lookup in a few byte comparisons.
var stopwordTable = func() []string {
	table := make([]string, 1024)
	for _, w := range Stopwords {
		if strings.Contains(w, "'") {
			continue
		}
		h := uint32(fnvOffset32)
		for k := 0; k < len(w); k++ {
			h = (h ^ uint32(w[k])) * fnvPrime32
		}
		s := h & (len32(table) - 1)
		for table[s] != "" {
			s = (s + 1) & (len32(table) - 1)
		}
		table[s] = w
	}
	return table
}()
