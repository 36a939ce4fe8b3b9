package model

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"unicode/utf8"
)

// Bounds on what an artifact may hold. Decode refuses an artifact outside
// them, so that no artifact, even one with a valid checksum, can make a
// prediction do more work than these bounds allow: the work per text is
// linear in its length times (MaxCharNgram - min + 1) plus MaxWordNgram.
const (
	// MaxCharNgram bounds the length of char n-grams.
	MaxCharNgram = 32
	// MaxWordNgram bounds the length of word n-grams.
	MaxWordNgram = 8
	// MaxFeatures bounds the vocabulary, and so the memory of its index
	// (16 bytes a slot, at most half full: 128 MiB at most).
	MaxFeatures = 1 << 22
	// MaxClasses bounds the number of classes (they become metric labels).
	MaxClasses = 64
	// MaxTagBytes bounds the length of a class name.
	MaxTagBytes = 64
	// MaxMetadataBytes bounds the JSON metadata of an artifact.
	MaxMetadataBytes = 16 << 20
	// maxIDF bounds the idf of a feature: smooth idf is 1 + ln((1+n)/(1+df)),
	// at most 1 + ln(1+n), which exceeds 64 only beyond e^63 texts.
	maxIDF = 64
	// maxWordWeight bounds the scale of the word block.
	maxWordWeight = 1e6
	// maxReportEntries bounds the entries of each map of a performance
	// report and the labels of a confusion matrix.
	maxReportEntries = 256
	// maxTextBytes bounds free-text metadata such as the run id.
	maxTextBytes = 256
)

// checkMeta reports the first field of decoded metadata outside its range
// or inconsistent with another. It runs before any array is allocated.
func checkMeta(meta *artifactMeta) error {
	k, d, nChar := len(meta.Classes), meta.NumFeatures, meta.NumChar
	switch {
	case k < 2 || k > MaxClasses:
		return fmt.Errorf("metadata: %d classes, want 2 to %d", k, MaxClasses)
	case d < 1 || d > MaxFeatures:
		return fmt.Errorf("metadata: %d features, want 1 to %d", d, MaxFeatures)
	case nChar < 0 || nChar > d:
		return fmt.Errorf("metadata: %d char features of %d", nChar, d)
	}
	for i, c := range meta.Classes {
		if len(c) > MaxTagBytes || !validTag(c) {
			return fmt.Errorf("metadata: class %d %q is not a tag of at most %d lower-case letters, digits and dashes", i, truncate(c), MaxTagBytes)
		}
		if i > 0 && meta.Classes[i-1] >= c {
			return fmt.Errorf("metadata: classes are not sorted and distinct at %q", c)
		}
	}
	if meta.CharMax == 0 {
		// No char n-grams; the unused min is whatever training was given.
		if meta.CharMin < 0 || meta.CharMin > MaxCharNgram || nChar != 0 {
			return fmt.Errorf("metadata: no char n-grams (max 0) but min %d and %d char features", meta.CharMin, nChar)
		}
	} else if meta.CharMin < 1 || meta.CharMin > meta.CharMax || meta.CharMax > MaxCharNgram {
		return fmt.Errorf("metadata: char n-gram range (%d, %d), want 1 <= min <= max <= %d", meta.CharMin, meta.CharMax, MaxCharNgram)
	}
	if meta.WordMax < 0 || meta.WordMax > MaxWordNgram {
		return fmt.Errorf("metadata: word n-gram max %d, want 0 to %d", meta.WordMax, MaxWordNgram)
	}
	if meta.WordMax == 0 && nChar != d {
		return fmt.Errorf("metadata: no word n-grams but %d word features", d-nChar)
	}
	if !(meta.WordWeight >= 0 && meta.WordWeight <= maxWordWeight) {
		return fmt.Errorf("metadata: word weight %v, want 0 to %g", meta.WordWeight, float64(maxWordWeight))
	}
	if !(meta.Threshold >= 0 && meta.Threshold <= 1) {
		return fmt.Errorf("threshold %v outside [0, 1]", meta.Threshold)
	}
	switch meta.Loss {
	case LossLog, LossSoftmax, LossModifiedHuber:
	default:
		return fmt.Errorf("unknown loss %q", truncate(meta.Loss))
	}
	if len(meta.RunID) > maxTextBytes || !printable(meta.RunID) {
		return fmt.Errorf("metadata: run id is not printable text of at most %d bytes", maxTextBytes)
	}
	if err := checkArgs(&meta.Args); err != nil {
		return fmt.Errorf("metadata: args: %v", err)
	}
	if err := checkPerformance(&meta.Performance); err != nil {
		return fmt.Errorf("metadata: performance: %v", err)
	}
	if meta.Baseline != nil {
		if err := meta.Baseline.check(meta.Classes); err != nil {
			return fmt.Errorf("metadata: baseline: %v", err)
		}
	}
	return nil
}

// checkArgs bounds the args recorded in an artifact. They are reported,
// not used to predict, so they need only be finite and of bounded size.
func checkArgs(a *Args) error {
	if len(a.AcceptedTags) > maxReportEntries {
		return fmt.Errorf("%d accepted tags, want at most %d", len(a.AcceptedTags), maxReportEntries)
	}
	for _, t := range a.AcceptedTags {
		if len(t) > maxTextBytes || !printable(t) {
			return errors.New("an accepted tag is not printable text of bounded length")
		}
	}
	if len(a.Loss) > maxTextBytes || len(a.Schedule) > maxTextBytes || !printable(a.Loss) || !printable(a.Schedule) {
		return errors.New("loss or schedule is not printable text of bounded length")
	}
	return nil
}

// checkPerformance checks that a performance report holds metrics in
// [0, 1], non-negative counts, a bounded number of entries and a confusion
// matrix, if any, whose dimensions match its labels.
func checkPerformance(p *Performance) error {
	if err := checkMetrics("overall", p.Overall); err != nil {
		return err
	}
	for _, m := range []map[string]Metrics{p.Class, p.Slices} {
		if len(m) > maxReportEntries {
			return fmt.Errorf("%d entries, want at most %d", len(m), maxReportEntries)
		}
		for name, v := range m {
			if len(name) > maxTextBytes || !printable(name) {
				return errors.New("an entry's name is not printable text of bounded length")
			}
			if err := checkMetrics(name, v); err != nil {
				return err
			}
		}
	}
	if cm := p.ConfusionMatrix; cm != nil {
		if len(cm.Labels) == 0 || len(cm.Labels) > maxReportEntries || len(cm.Matrix) != len(cm.Labels) {
			return fmt.Errorf("confusion matrix of %d labels and %d rows", len(cm.Labels), len(cm.Matrix))
		}
		for i, row := range cm.Matrix {
			if len(row) != len(cm.Labels) {
				return fmt.Errorf("confusion matrix row %d has %d columns, want %d", i, len(row), len(cm.Labels))
			}
			for _, n := range row {
				if n < 0 {
					return fmt.Errorf("confusion matrix count %d", n)
				}
			}
		}
		for _, l := range cm.Labels {
			if len(l) > maxTextBytes || !printable(l) {
				return errors.New("a confusion matrix label is not printable text of bounded length")
			}
		}
	}
	return nil
}

func checkMetrics(name string, m Metrics) error {
	for _, v := range []float64{m.Precision, m.Recall, m.F1} {
		if !(v >= 0 && v <= 1) {
			return fmt.Errorf("%s: metric %v outside [0, 1]", truncate(name), v)
		}
	}
	if m.NumSamples < 0 {
		return fmt.Errorf("%s: %d samples", truncate(name), m.NumSamples)
	}
	return nil
}

// checkArrays checks the arrays of an artifact: feature hashes non-zero
// (0 marks an empty slot of the hash index), strictly increasing within
// each block and distinct across blocks, as fitVectorizer orders them;
// idf in [1, maxIDF] as smooth idf is; weights and intercepts finite.
func checkArrays(keys []uint64, numChar int, idf, weights, bias []float32) error {
	charKeys, wordKeys := keys[:numChar], keys[numChar:]
	for _, block := range [][]uint64{charKeys, wordKeys} {
		for i, key := range block {
			if key == 0 {
				return errors.New("a feature hash is 0")
			}
			if i > 0 && block[i-1] >= key {
				return errors.New("feature hashes are not sorted and distinct within their block")
			}
		}
	}
	for _, key := range wordKeys {
		if _, found := slices.BinarySearch(charKeys, key); found {
			return errors.New("a word feature has the hash of a char feature")
		}
	}
	for _, v := range idf {
		if !(v >= 1 && v <= maxIDF) {
			return fmt.Errorf("idf %v outside [1, %d]", v, maxIDF)
		}
	}
	for _, fs := range [][]float32{weights, bias} {
		for _, f := range fs {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return errors.New("non-finite weight or intercept")
			}
		}
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return false
		}
	}
	return true
}

// truncate shortens s for an error message.
func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
