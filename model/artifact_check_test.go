package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recraft re-encodes the payload of an encoded artifact after edit changes
// its metadata and arrays, with a valid checksum: what a crafted upload
// holds.
func recraft(t *testing.T, data []byte, edit func(meta map[string]any, arrays []byte) []byte) []byte {
	t.Helper()
	payload := data[headerSize:]
	m := binary.LittleEndian.Uint32(payload)
	var meta map[string]any
	require.NoError(t, json.Unmarshal(payload[4:4+m], &meta))
	arrays := edit(meta, bytes.Clone(payload[4+m:]))
	js, err := json.Marshal(meta)
	require.NoError(t, err)
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(js)))
	out = append(out, js...)
	return fuzzWithHeader(append(out, arrays...))
}

// TestDecodeRefusesCraftedArtifacts: an artifact with a valid checksum but
// a field out of range or inconsistent is refused as corrupted, so that an
// upload is answered 422 and no prediction can run unbounded work (an
// n-gram bound of -2^63 used to spin a core for ever on every prediction).
func TestDecodeRefusesCraftedArtifacts(t *testing.T) {
	t.Parallel()
	data := encoded(t, fixtureArtifact(t))
	set := func(key string, v any) func(map[string]any, []byte) []byte {
		return func(meta map[string]any, arrays []byte) []byte { meta[key] = v; return arrays }
	}
	nFeatures := func(meta map[string]any) int { return int(meta["num_features"].(float64)) }
	nChar := func(meta map[string]any) int { return int(meta["num_char_features"].(float64)) }
	nClasses := func(meta map[string]any) int { return len(meta["classes"].([]any)) }
	putFloat := func(at func(meta map[string]any) int, v float32) func(map[string]any, []byte) []byte {
		return func(meta map[string]any, arrays []byte) []byte {
			binary.LittleEndian.PutUint32(arrays[at(meta):], math.Float32bits(v))
			return arrays
		}
	}
	idfAt := func(meta map[string]any) int { return 8 * nFeatures(meta) }
	weightAt := func(meta map[string]any) int { return 12 * nFeatures(meta) }
	biasAt := func(meta map[string]any) int { return 12*nFeatures(meta) + 4*nFeatures(meta)*nClasses(meta) }
	tests := []struct {
		name string
		edit func(map[string]any, []byte) []byte
		msg  string
	}{
		{"char n-gram min -2^63", set("char_ngram_min", math.MinInt64), "char n-gram range"},
		{"char n-gram min above max", set("char_ngram_min", 9), "char n-gram range"},
		{"char n-gram max huge", set("char_ngram_max", 1<<40), "char n-gram range"},
		{"char n-gram min 0", set("char_ngram_min", 0), "char n-gram range"},
		{"too many features", set("num_features", MaxFeatures+1), "features"},
		{"word n-gram max -1", set("word_ngram_max", -1), "word n-gram max"},
		{"word n-gram max 9", set("word_ngram_max", 9), "word n-gram max"},
		{"no word n-grams but word features", set("word_ngram_max", 0), "word features"},
		{"negative word weight", set("word_weight", -1), "word weight"},
		{"huge word weight", set("word_weight", 1e300), "word weight"},
		{"threshold above 1", set("threshold", 1.5), "threshold"},
		{"one class", set("classes", []string{"mlops"}), "1 classes"},
		{"too many classes", set("classes", func() []string {
			out := make([]string, MaxClasses+1)
			for i := range out {
				out[i] = "c" + string(rune('a'+i/26)) + string(rune('a'+i%26))
			}
			return out
		}()), "classes"},
		{"unsorted classes", set("classes", []string{"nlp", "cv", "other"}), "sorted"},
		{"repeated class", set("classes", []string{"cv", "cv", "other"}), "sorted"},
		{"class with a control character", set("classes", []string{"c\x00v", "nlp", "other"}), "not a tag"},
		{"class too long", set("classes", []string{string(bytes.Repeat([]byte("a"), MaxTagBytes+1)), "b", "c"}), "not a tag"},
		{"negative feature count", set("num_features", -1), "features"},
		{"feature count that overflows the array size", set("num_features", math.MaxInt64/4), "features"},
		{"more char features than features", func(meta map[string]any, a []byte) []byte {
			meta["num_char_features"] = nFeatures(meta) + 1
			return a
		}, "char features"},
		{"unknown loss", set("loss", "hinge"), "loss"},
		{"run id with a newline", set("run_id", "a\nb"), "run id"},
		{"F1 above 1", func(meta map[string]any, a []byte) []byte {
			meta["performance"].(map[string]any)["overall"].(map[string]any)["f1"] = 2
			return a
		}, "outside [0, 1]"},
		{"negative sample count", func(meta map[string]any, a []byte) []byte {
			meta["performance"].(map[string]any)["overall"].(map[string]any)["num_samples"] = -1
			return a
		}, "samples"},
		{"ragged confusion matrix", func(meta map[string]any, a []byte) []byte {
			cm := meta["performance"].(map[string]any)["confusion_matrix"].(map[string]any)
			cm["matrix"] = [][]int{{1}}
			return a
		}, "confusion matrix"},
		{"baseline tag counts not summing to the texts", func(meta map[string]any, a []byte) []byte {
			meta["baseline"].(map[string]any)["num_texts"] = 1_000_000
			return a
		}, "baseline"},
		{"baseline confidence unsorted", func(meta map[string]any, a []byte) []byte {
			c := meta["baseline"].(map[string]any)["confidence"].([]any)
			c[0] = 1.0
			return a
		}, "baseline: confidence"},
		{"NaN idf", putFloat(idfAt, float32(math.NaN())), "idf"},
		{"idf below 1", putFloat(idfAt, 0.5), "idf"},
		{"infinite weight", putFloat(weightAt, float32(math.Inf(1))), "non-finite"},
		{"NaN intercept", putFloat(biasAt, float32(math.NaN())), "non-finite"},
		{"zero feature hash", func(_ map[string]any, a []byte) []byte {
			binary.LittleEndian.PutUint64(a, 0)
			return a
		}, "hash is 0"},
		{"repeated feature hash", func(_ map[string]any, a []byte) []byte {
			copy(a[8:16], a[0:8])
			return a
		}, "sorted and distinct"},
		{"word feature with a char feature's hash", func(meta map[string]any, a []byte) []byte {
			copy(a[8*nChar(meta):], a[0:8])
			return a
		}, "hash of a char feature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			crafted := recraft(t, data, tt.edit)
			_, err := Decode(bytes.NewReader(crafted))
			require.ErrorIs(t, err, ErrCorrupted)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
	t.Run("word n-grams only", func(t *testing.T) {
		t.Parallel()
		args := fixtureArgs()
		args.NgramMaxRange, args.WordNgramMaxRange = 0, 2
		res := trainFixture(t, args, 1)
		got, err := Decode(bytes.NewReader(encoded(t, &Artifact{RunID: "words", Args: args, Classifier: res.Classifier})))
		require.NoError(t, err, "an artifact without char n-grams (and an unused min of %d) decodes", args.NgramMinRange)
		assert.Equal(t, res.Classifier.Predict("BERT for text"), got.Classifier.Predict("BERT for text"))
	})
	t.Run("unedited recraft decodes", func(t *testing.T) {
		_, err := Decode(bytes.NewReader(recraft(t, data, func(_ map[string]any, a []byte) []byte { return a })))
		require.NoError(t, err)
	})
}

// TestDecodeFormatVersion1: an artifact of format version 1 (before
// baselines and confusion matrices), kept as a fixture, still loads,
// predicts, and says that it has neither.
func TestDecodeFormatVersion1(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("testdata/format1.tagifai")
	require.NoError(t, err)
	a, err := Decode(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, 1, a.FormatVersion)
	assert.Nil(t, a.Baseline, "a version 1 artifact has no baseline")
	assert.Nil(t, a.Performance.ConfusionMatrix, "a version 1 artifact has no confusion matrix")
	assert.Greater(t, a.Performance.Overall.F1, 0.0)
	p := a.Classifier.Predict("Transfer learning with transformers for text classification.")
	assert.Equal(t, "natural-language-processing", p.Tag)
}
