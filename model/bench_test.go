package model

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// text120 is a typical input: 120 characters of title and description.
const text120 = "Transfer learning with BERT: fine-tuning pretrained transformers for the text classification of many new arXiv abstracts"

func init() {
	if len(text120) != 120 {
		panic("text120 must be 120 characters")
	}
}

// committedArtifacts is the directory of the committed model.
const committedArtifacts = "../artifacts"

func loadCommitted(tb testing.TB) *Artifact {
	tb.Helper()
	a, err := Load(committedArtifacts)
	if err != nil {
		tb.Fatalf("load the committed model: %v", err)
	}
	return a
}

func BenchmarkPredict(b *testing.B) {
	c := loadCommitted(b).Classifier
	b.ReportAllocs()
	for b.Loop() {
		c.Predict(text120)
	}
}

func BenchmarkPredictParallel(b *testing.B) {
	c := loadCommitted(b).Classifier
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Predict(text120)
		}
	})
}

func BenchmarkPredictBatch100(b *testing.B) {
	c := loadCommitted(b).Classifier
	texts := make([]string, 100)
	for i := range texts {
		texts[i] = text120
	}
	b.ReportAllocs()
	for b.Loop() {
		c.PredictBatch(texts)
	}
}

// BenchmarkPredictBatchGenerated predicts 100 different texts of the
// golden test's generator (empty to very long, links, non-ASCII) per op.
func BenchmarkPredictBatchGenerated(b *testing.B) {
	c := loadCommitted(b).Classifier
	texts := goldenTexts()[1:101]
	b.ReportAllocs()
	for b.Loop() {
		c.PredictBatch(texts)
	}
}

// BenchmarkAppendFeatures is the vector of an explanation, into a reused
// slice.
func BenchmarkAppendFeatures(b *testing.B) {
	c := loadCommitted(b).Classifier
	var feats []Feature
	b.ReportAllocs()
	for b.Loop() {
		feats = c.AppendFeatures(feats[:0], text120)
	}
}

func BenchmarkClean(b *testing.B) {
	buf := make([]byte, 0, 256)
	opts := DefaultArgs().cleanOptions()
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendClean(buf[:0], text120, opts)
	}
}

func BenchmarkLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		loadCommitted(b)
	}
}

// BenchmarkTrain trains DefaultArgs on dataset.csv, found at $TAGIFAI_DATA
// (a directory) or ../../shared/data; it skips when the data is absent.
func BenchmarkTrain(b *testing.B) {
	dir := os.Getenv("TAGIFAI_DATA")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "data")
	}
	examples, err := ReadCSV(filepath.Join(dir, "dataset.csv"))
	if err != nil {
		if strings.Contains(err.Error(), "no such file") {
			b.Skipf("no dataset: %v", err)
		}
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Train(context.Background(), examples, DefaultArgs(), 42, nil); err != nil {
			b.Fatal(err)
		}
	}
}
