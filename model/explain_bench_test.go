package model

import (
	"strings"
	"testing"
)

func BenchmarkExplain(b *testing.B) {
	c := loadCommitted(b).Classifier
	b.ReportAllocs()
	for b.Loop() {
		c.Explain(text120, 10)
	}
}

// BenchmarkExplainLong explains the longest text the API accepts (10,000
// characters), the worst case of an explained request.
func BenchmarkExplainLong(b *testing.B) {
	c := loadCommitted(b).Classifier
	text := strings.Repeat(text120+" ", 10_000/121)
	b.ReportAllocs()
	for b.Loop() {
		c.Explain(text, 10)
	}
}

func BenchmarkPredictLong(b *testing.B) {
	c := loadCommitted(b).Classifier
	text := strings.Repeat(text120+" ", 10_000/121)
	b.ReportAllocs()
	for b.Loop() {
		c.Predict(text)
	}
}

func BenchmarkTextStats(b *testing.B) {
	c := loadCommitted(b).Classifier
	b.ReportAllocs()
	for b.Loop() {
		c.TextStats(text120)
	}
}
