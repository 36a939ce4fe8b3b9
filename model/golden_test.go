package model

import (
	"bufio"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The golden test pins the committed model's predictions, so that work on
// the prediction path (cleaning, n-gram extraction, vocabulary lookup, the
// dot products) cannot change what the model answers. The golden file was
// made from artifacts/model.tagifai; rewrite it only when the committed
// model itself changes (retraining), with
//
//	go test ./model -run '^TestBulkGoldenPredictions$' -update-golden
//
// (with ../shared/data/holdout.csv present, so that the holdout part is
// written too).
var updateGolden = flag.Bool("update-golden", false, "rewrite testdata/golden_predictions.txt.gz from the committed model")

const (
	goldenFile = "testdata/golden_predictions.txt.gz"
	// goldenTolerance is how far a probability may move from the golden
	// value; the file holds probabilities rounded to 1e-7.
	goldenTolerance = 1e-6
	// goldenGenerated is the number of generated texts.
	goldenGenerated = 10_000
)

// goldenHoldoutCSV is the lesson's holdout set beside the checkout; the
// holdout part of the test runs when it is present.
var goldenHoldoutCSV = filepath.Join("..", "..", "shared", "data", "holdout.csv")

// goldenVocabulary are words of the kind project titles and descriptions
// hold, so that generated texts hit the model's vocabulary; goldenText mixes
// them with what Clean has rules for.
var goldenVocabulary = strings.Fields(`
	transformer transformers bert gpt language model models text classification
	sentiment analysis translation machine neural network networks deep learning
	image images object detection segmentation semantic instance pose estimation
	gan gans generative adversarial diffusion video videos tracking face recognition
	convolutional cnn cnns resnet yolo rcnn unet vision camera pixels depth 3d point
	cloud clouds graph graphs node embedding embeddings knowledge attention
	mlops deployment deploy serving production monitoring pipeline pipelines docker
	kubernetes kubeflow mlflow airflow feature store experiment tracking ci cd
	data dataset datasets training inference api fastapi flask streamlit dashboard
	reinforcement agent policy reward speech audio named entity ner question
	answering summarization tokenizer tokenization corpus word vectors word2vec
	glove fasttext lstm rnn recurrent seq2seq encoder decoder pretrained fine
	tuning finetuning transfer self supervised contrastive benchmark library
	framework pytorch tensorflow keras jax scikit learn sklearn python tutorial
	implementation paper arxiv state art accuracy efficient fast scalable simple
	running runner runs ran easily fairly generalization optimization optimizer
	hyperparameter hyperparameters search automated automl explainability
	interpretable fairness bias drift anomaly time series forecasting
	recommendation recommender retrieval search engine chatbot dialogue
	conversational captioning caption visual question vqa ocr document layout
	medical satellite autonomous driving lidar robotics robot control
`)

// goldenSeparators join the tokens of a generated text.
var goldenSeparators = []string{" ", " ", " ", " ", ", ", ": ", " - ", ". ", "_", "\n", "\t", " (", ") ", "!! ", "/", " & "}

// goldenOddTokens are tokens Clean treats specially: links, non-ASCII
// letters, apostrophes, symbols and digits.
var goldenOddTokens = []string{
	"https://github.com/user/repo", "HTTP://EXAMPLE.COM/A_B?x=1", "http://arxiv.org/abs/2001.08361",
	"Über", "Bilderkennung", "深度学习", "画像認識", "🚀", "naïve", "café", "don't", "won't", "isn't",
	"snake_case_words", "CamelCaseWords", "l33t", "3D-CNNs", "v2.0", "2020", "1e-3", "#hashtag",
	"@mention", "--", "...", "\u00a0", "\u2003", "x", "A", "I", "a",
}

// goldenText returns the i-th generated text, from r.
func goldenText(r *rand.Rand, i int) string {
	if i%50 == 0 { // edge cases, one in fifty
		switch (i / 50) % 8 {
		case 0:
			return ""
		case 1:
			return "the and of a to in is it that with for on as was"
		case 2:
			return "!!! ... --- ??? ,,, ;;;"
		case 3:
			return "a b c d e f g h x y z"
		case 4: // one very long word, longer than any scratch array
			return strings.Repeat(goldenVocabulary[r.IntN(len(goldenVocabulary))], 10+r.IntN(30))
		case 5: // a very long text
			var b strings.Builder
			for range 400 + r.IntN(600) {
				b.WriteString(goldenVocabulary[r.IntN(len(goldenVocabulary))])
				b.WriteString(" ")
			}
			return b.String()
		case 6:
			return strings.Repeat("深度学习 ", 1+r.IntN(20))
		default:
			return strings.ToUpper(goldenVocabulary[r.IntN(len(goldenVocabulary))])
		}
	}
	var b strings.Builder
	for j := range 2 + r.IntN(40) {
		if j > 0 {
			b.WriteString(goldenSeparators[r.IntN(len(goldenSeparators))])
		}
		var tok string
		switch x := r.IntN(100); {
		case x < 70:
			tok = goldenVocabulary[r.IntN(len(goldenVocabulary))]
			switch r.IntN(10) {
			case 0:
				tok = strings.ToUpper(tok)
			case 1, 2:
				tok = strings.ToUpper(tok[:1]) + tok[1:]
			}
		case x < 80:
			tok = Stopwords[r.IntN(len(Stopwords))]
		case x < 90:
			tok = goldenOddTokens[r.IntN(len(goldenOddTokens))]
		default: // random letters and digits
			n := 1 + r.IntN(14)
			buf := make([]byte, n)
			for k := range buf {
				buf[k] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[r.IntN(62)]
			}
			tok = string(buf)
		}
		b.WriteString(tok)
	}
	return b.String()
}

// goldenTexts returns the generated texts, the same on every run and
// platform (math/rand/v2's PCG is a specified algorithm).
func goldenTexts() []string {
	r := rand.New(rand.NewPCG(19, 2026))
	texts := make([]string, goldenGenerated)
	for i := range texts {
		texts[i] = goldenText(r, i)
	}
	return texts
}

// textsDigest identifies a list of texts, so that a changed generator or
// holdout file is reported as such rather than as changed predictions.
func textsDigest(texts []string) string {
	h := sha256.New()
	for _, t := range texts {
		io.WriteString(h, t)
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// goldenSection is one block of the golden file: the digest of its texts
// and one line per text.
type goldenSection struct {
	digest string
	lines  []goldenLine
}

type goldenLine struct {
	tag   string
	probs []float64
}

// The golden file is gzip-compressed text:
//
//	<section> <count> <sha256 of the texts, each followed by a NUL byte>
//	<tag> <p_1> ... <p_K>      (count lines, probabilities rounded to 1e-7)
//
// with section "generated" and, when the holdout file was present,
// "holdout".
func writeGolden(path string, c *Classifier, sections map[string][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(zw)
	for _, name := range []string{"generated", "holdout"} {
		texts, ok := sections[name]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "%s %d %s\n", name, len(texts), textsDigest(texts))
		for _, p := range c.PredictBatch(texts) {
			w.WriteString(p.Tag)
			for _, v := range p.Probabilities {
				s := strconv.FormatFloat(math.Round(v*1e7)/1e7, 'f', 7, 64)
				s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
				w.WriteString(" ")
				w.WriteString(s)
			}
			w.WriteString("\n")
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return f.Close()
}

func readGolden(path string) (map[string]goldenSection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	sc := bufio.NewScanner(zr)
	out := map[string]goldenSection{}
	for sc.Scan() {
		var name, digest string
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %s", &name, &n, &digest); err != nil {
			return nil, fmt.Errorf("section header %q: %w", sc.Text(), err)
		}
		s := goldenSection{digest: digest}
		for range n {
			if !sc.Scan() {
				return nil, fmt.Errorf("section %s: fewer than %d lines", name, n)
			}
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				return nil, fmt.Errorf("section %s: line %q", name, sc.Text())
			}
			line := goldenLine{tag: fields[0]}
			for _, fv := range fields[1:] {
				v, err := strconv.ParseFloat(fv, 64)
				if err != nil {
					return nil, fmt.Errorf("section %s: %w", name, err)
				}
				line.probs = append(line.probs, v)
			}
			s.lines = append(s.lines, line)
		}
		out[name] = s
	}
	return out, sc.Err()
}

// goldenHoldoutTexts returns the texts of the holdout file, or nil when it
// is absent.
func goldenHoldoutTexts(t *testing.T) []string {
	t.Helper()
	if _, err := os.Stat(goldenHoldoutCSV); err != nil {
		return nil
	}
	examples, err := ReadCSV(goldenHoldoutCSV)
	require.NoError(t, err)
	texts := make([]string, len(examples))
	for i, ex := range examples {
		texts[i] = ex.Text
	}
	return texts
}

// TestBulkGoldenPredictions checks that the committed model gives, on 10,000
// generated texts and on the holdout set (when ../shared/data/holdout.csv
// is present), the tags and probabilities (within 1e-6) recorded in
// testdata/golden_predictions.txt.gz, through Predict and PredictBatch.
func TestBulkGoldenPredictions(t *testing.T) {
	c := loadCommitted(t).Classifier
	sections := map[string][]string{"generated": goldenTexts()}
	if holdout := goldenHoldoutTexts(t); holdout != nil {
		sections["holdout"] = holdout
	}
	if *updateGolden {
		require.NoError(t, writeGolden(goldenFile, c, sections))
	}
	golden, err := readGolden(goldenFile)
	require.NoError(t, err)

	for _, name := range []string{"generated", "holdout"} {
		texts, ok := sections[name]
		if !ok {
			t.Logf("%s absent: the holdout part is not checked", goldenHoldoutCSV)
			continue
		}
		want, ok := golden[name]
		require.True(t, ok, "the golden file has no %s section", name)
		require.Equal(t, want.digest, textsDigest(texts), "the %s texts are not those the golden file was made from", name)
		require.Len(t, want.lines, len(texts))
		batch := c.PredictBatch(texts)
		mismatches := 0
		for i, text := range texts {
			for _, got := range []Prediction{c.Predict(text), batch[i]} {
				if !goldenMatches(got, want.lines[i]) {
					mismatches++
					if mismatches <= 10 {
						t.Errorf("%s text %d %q: got %s %v, want %s %v", name, i, text, got.Tag, got.Probabilities, want.lines[i].tag, want.lines[i].probs)
					}
				}
			}
		}
		assert.Zero(t, mismatches, "%s: predictions differ from the golden file", name)
	}
}

func goldenMatches(got Prediction, want goldenLine) bool {
	if got.Tag != want.tag || len(got.Probabilities) != len(want.probs) {
		return false
	}
	for k, p := range got.Probabilities {
		if math.Abs(p-want.probs[k]) > goldenTolerance {
			return false
		}
	}
	return true
}
