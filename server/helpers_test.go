package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
)

// fakePredictor tags a text by keywords, so that tests know the answer:
// "transformer" -> natural-language-processing, "cnn" -> computer-vision,
// "deploy" -> mlops, anything else -> other.
type fakePredictor struct{}

var fakeClasses = []string{"computer-vision", "mlops", "natural-language-processing", "other"}

func (fakePredictor) Classes() []string { return fakeClasses }

func (fakePredictor) PredictBatch(texts []string) []model.Prediction {
	out := make([]model.Prediction, len(texts))
	for i, t := range texts {
		win := 3
		switch t = strings.ToLower(t); {
		case strings.Contains(t, "transformer"):
			win = 2
		case strings.Contains(t, "cnn"):
			win = 0
		case strings.Contains(t, "deploy"):
			win = 1
		}
		probs := []float64{0.1, 0.1, 0.1, 0.1}
		probs[win] = 0.7
		out[i] = model.Prediction{Tag: fakeClasses[win], Probabilities: probs}
	}
	return out
}

// fakeArgs stands in for model.Args.
type fakeArgs struct {
	Alpha         float64 `json:"alpha"`
	LearningRate  float64 `json:"learning_rate"`
	NgramMaxRange int     `json:"ngram_max_range"`
	Stem          bool    `json:"stem"`
}

var fakePerformance = model.Performance{
	Overall: model.Metrics{Precision: 0.9, Recall: 0.8, F1: 0.85, NumSamples: 10},
	Class: map[string]model.Metrics{
		"computer-vision": {Precision: 1, Recall: 0.5, F1: 2.0 / 3, NumSamples: 4},
		"other":           {Precision: 0.5, Recall: 1, F1: 2.0 / 3, NumSamples: 6},
	},
	Slices: map[string]model.Metrics{"short_text": {Precision: 1, Recall: 1, F1: 1, NumSamples: 2}},
}

const fakeRunID = "run-test-1"

// newTestServer returns a server serving fakePredictor, or none when ready
// is false. Its logs go to t.Log.
func newTestServer(t testing.TB, ready bool) *Server {
	t.Helper()
	s, err := New(Config{Logger: slog.New(slog.NewJSONHandler(testWriter{t}, nil))})
	require.NoError(t, err)
	if ready {
		m, err := NewServing(ModelInfo{Name: "tagifai", Version: 1, RunID: fakeRunID, Args: fakeArgs{Alpha: 1e-4, LearningRate: 0.1, NgramMaxRange: 8}, Performance: fakePerformance}, fakePredictor{})
		require.NoError(t, err)
		s.SetServing(m)
	}
	return s
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// request is one HTTP request to make in a test.
type request struct {
	method      string
	path        string
	body        string
	contentType string
	header      http.Header
}

// do sends r to h and returns the recorded response.
func do(h http.Handler, r request) *httptest.ResponseRecorder {
	var body io.Reader
	if r.body != "" {
		body = bytes.NewBufferString(r.body)
	}
	req := httptest.NewRequest(r.method, r.path, body)
	if r.contentType != "" {
		req.Header.Set("Content-Type", r.contentType)
	}
	for k, v := range r.header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
