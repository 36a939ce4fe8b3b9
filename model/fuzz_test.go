package model

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fuzz targets below check documented properties of Clean, ParseCSV and
// Decode on generated inputs. Run one for a while with, for example:
//
//	go test ./model -run '^$' -fuzz '^FuzzDecode$' -fuzztime 60s
//
// Inputs that once failed are kept in testdata/fuzz/<target>/ and run as
// regression cases by a plain `go test`.

// fuzzTexts are project texts of the kind the model sees, with the things
// Clean has rules for: links, stop words, punctuation, case, non-ASCII.
var fuzzTexts = []string{
	"Transfer learning with transformers for text classification.",
	"Comparison between YOLO and RCNN on real world videos Bringing theory to experiment is cool.",
	"Show, Infer & Tell: Contextual Inference for Creative Captioning",
	"Awesome Graph Classification https://github.com/benedekrozemberczki/awesome-graph-classification (a collection)",
	"MLOps: deploy models with Kubernetes; monitor drift -- with Prometheus & Grafana!!!",
	"Über Bilderkennung: Segmentierung mit U-Net (深度学习, 画像認識) 🚀 don't won't isn't",
	"HTTPS://EXAMPLE.COM/a_b snake_case_words CamelCaseWords l33t 3D-CNNs",
	"  \t\n leading and trailing white space \r\n",
	"",
}

// fuzzCleanAlphabet is what Clean's output may hold: ASCII letters and digits
// in words separated by single spaces.
var fuzzCleanAlphabet = regexp.MustCompile(`^([A-Za-z0-9]+( [A-Za-z0-9]+)*)?$`)

func FuzzClean(f *testing.F) {
	for i, t := range fuzzTexts {
		f.Add(t, i%2 == 0, i%3 == 0, i%2 == 1)
	}
	f.Add("running runner runs ran easily fairly", true, true, true)

	f.Fuzz(func(t *testing.T, text string, lower, stem, stopwords bool) {
		opts := CleanOptions{Lower: lower, Stem: stem, Stopwords: stopwords}
		got := Clean(text, opts)
		require.Regexp(t, fuzzCleanAlphabet, got, "Clean(%q, %+v)", text, opts)
		if lower {
			assert.Equal(t, strings.ToLower(got), got, "Clean(%q, %+v) is not lower case", text, opts)
		}
		// AppendClean appends and leaves what is there alone.
		prefix := []byte("prefix|")
		assert.Equal(t, "prefix|"+got, string(AppendClean(prefix, text, opts)))
		// Without stop words and stemming, cleaning is a projection: a clean
		// text is its own cleaning. (Removing stop words is not: "a_b"
		// becomes "a b", where "a" is a stop word.)
		if !stem && !stopwords {
			assert.Equal(t, got, Clean(got, opts), "Clean is not idempotent on %q", text)
		}
	})
}

// fuzzFixtureCSV is the head of testdata/train.csv, which is from dataset.csv.
func fuzzFixtureCSV(f *testing.F) []byte {
	data, err := os.ReadFile("testdata/train.csv")
	require.NoError(f, err)
	return data
}

// fuzzTagPattern is a well-formed tag, as ReadCSV documents it.
var fuzzTagPattern = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func FuzzParseCSV(f *testing.F) {
	data := fuzzFixtureCSV(f)
	f.Add(data)
	lines := bytes.SplitAfter(data, []byte("\n"))
	f.Add(bytes.Join(lines[:min(4, len(lines))], nil))
	f.Add([]byte("\ufeffid,created_on,title,description,tag\n1,2020-02-20,\"A, quoted\ntitle\",desc,mlops\n"))
	f.Add([]byte("tag,description,title,id\nnatural-language-processing,BERT,Transformers,7\n"))
	f.Add([]byte("id,title,description,tag\n1,,,mlops\n"))
	f.Add([]byte("id,title,description,tag\n1,t,d,Not-A-Tag\n"))
	f.Add([]byte("id,title,description,tag\n1,t,d\n"))
	f.Add([]byte("id,title,description,tag\n1,\"unterminated,d,mlops\n"))
	f.Add([]byte(""))

	f.Fuzz(func(t *testing.T, data []byte) {
		examples, err := ParseCSV(bytes.NewReader(data), "fuzz.csv")
		if err != nil {
			assert.True(t, strings.HasPrefix(err.Error(), "model: fuzz.csv: "), "error %q does not name the file", err)
			return
		}
		last := 1 // the header
		for i, ex := range examples {
			assert.Greater(t, ex.Line, last, "example %d: lines must increase after the header", i)
			last = ex.Line
			assert.Regexp(t, fuzzTagPattern, ex.Tag, "example %d", i)
			assert.NotEmpty(t, strings.TrimSpace(ex.Text), "example %d: empty text accepted", i)
		}
	})
}

// fuzzArtifact trains a small classifier on the fixture, so that the
// encoded seed is a few kilobytes and the fuzzer mutates it quickly.
func fuzzArtifact(f *testing.F) *Artifact {
	examples, err := ReadCSV("testdata/train.csv")
	require.NoError(f, err)
	args := DefaultArgs()
	args.MinFreq = 5
	args.NgramMinRange, args.NgramMaxRange = 2, 3
	args.NumEpochs = 2
	res, err := Train(context.Background(), examples, args, 1, nil)
	require.NoError(f, err)
	return &Artifact{
		RunID: "fuzz", CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Args: args, Classifier: res.Classifier,
		Performance: Evaluate(res.Classifier, examples[:10]),
		Baseline:    NewBaseline(res.Classifier, Texts(examples[:10]), "holdout"),
	}
}

func fuzzEncode(t testing.TB, a *Artifact) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Encode(&buf, a))
	return buf.Bytes()
}

// fuzzCheckDecoded checks what Decode promises of an artifact it accepts: it
// predicts without failing, with one finite probability in [0, 1] per
// class, and it encodes to bytes that decode to an artifact that encodes to
// the same bytes.
func fuzzCheckDecoded(t *testing.T, a *Artifact) {
	t.Helper()
	c := a.Classifier
	require.NotNil(t, c)
	classes := c.Classes()
	require.GreaterOrEqual(t, len(classes), 2)
	for _, p := range c.PredictBatch(fuzzTexts) {
		require.Len(t, p.Probabilities, len(classes))
		for _, v := range p.Probabilities {
			require.False(t, math.IsNaN(v) || v < 0 || v > 1, "probability %v in %v", v, p.Probabilities)
		}
		assert.True(t, p.Tag == "other" || slices.Contains(classes, p.Tag), "tag %q of %v", p.Tag, classes)
	}
	once := fuzzEncode(t, a)
	again, err := Decode(bytes.NewReader(once))
	require.NoError(t, err, "an artifact Decode accepted does not decode after Encode")
	assert.Equal(t, once, fuzzEncode(t, again), "Encode(Decode(Encode(a))) differs from Encode(a)")
}

// FuzzDecode fuzzes whole artifact files: the header and the checksum stand
// in the way of the payload, which FuzzDecodePayload reaches.
func FuzzDecode(f *testing.F) {
	good := fuzzEncode(f, fuzzArtifact(f))
	f.Add(good)
	f.Add(good[:headerSize])
	f.Add(good[:len(good)-1])
	f.Add(append(slices.Clone(good), 0))
	f.Add([]byte(artifactMagic))
	f.Add([]byte("PK\x03\x04 not an artifact"))

	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := Decode(bytes.NewReader(data))
		b, errBytes := DecodeBytes(data)
		if err != nil {
			require.Error(t, errBytes, "DecodeBytes accepts what Decode refuses: %v", err)
			assert.Equal(t, err.Error(), errBytes.Error(), "DecodeBytes and Decode disagree")
		} else {
			require.NoError(t, errBytes, "DecodeBytes refuses what Decode accepts")
			assert.Equal(t, fuzzEncode(t, a), fuzzEncode(t, b), "DecodeBytes and Decode decode differently")
		}
		if err != nil {
			assert.True(t, errors.Is(err, ErrNotArtifact) || errors.Is(err, ErrTruncated) ||
				errors.Is(err, ErrCorrupted) || errors.Is(err, ErrNewerVersion), "error %v wraps none of Decode's errors", err)
			return
		}
		fuzzCheckDecoded(t, a)
	})
}

// fuzzWithHeader frames payload as an artifact file with a correct checksum.
func fuzzWithHeader(payload []byte) []byte {
	sum := sha256.Sum256(payload)
	out := make([]byte, 0, headerSize+len(payload))
	out = append(out, artifactMagic...)
	out = binary.LittleEndian.AppendUint32(out, FormatVersion)
	out = binary.LittleEndian.AppendUint64(out, uint64(len(payload)))
	out = append(out, sum[:]...)
	return append(out, payload...)
}

// FuzzDecodePayload fuzzes the payload behind a valid header and checksum:
// the metadata JSON and the arrays, as a file corrupted before its checksum
// was computed (or written by a buggy encoder) would hold them.
func FuzzDecodePayload(f *testing.F) {
	good := fuzzEncode(f, fuzzArtifact(f))
	payload := good[headerSize:]
	f.Add(payload)
	m := binary.LittleEndian.Uint32(payload)
	f.Add(payload[:4+m])                                // metadata without arrays
	f.Add(append(slices.Clone(payload[:4+m]), 0, 0, 0)) // arrays of the wrong size
	f.Add([]byte{0, 0, 0, 0})
	f.Add(binary.LittleEndian.AppendUint32(nil, 1<<31))

	f.Fuzz(func(t *testing.T, payload []byte) {
		if len(payload) > MaxPayloadBytes {
			return
		}
		a, err := Decode(bytes.NewReader(fuzzWithHeader(payload)))
		if err != nil {
			assert.ErrorIs(t, err, ErrCorrupted)
			return
		}
		fuzzCheckDecoded(t, a)
	})
}
