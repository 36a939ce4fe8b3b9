package server

import (
	"bufio"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The fuzz targets below send generated requests to a server that serves
// fakePredictor and check, for every input, that the server
//   - does not panic and does not answer 5xx,
//   - answers a status that openapi.yaml documents for the operation, with a
//     body that matches the operation's schema and the common envelope
//     (validateResponse), and
//   - answers the status that an independent reading of the schema predicts
//     (an oracle), so that a validator that lets bad input through, or turns
//     good input away, is caught too.
//
// Run one for a while with, for example:
//
//	go test ./server -run '^$' -fuzz '^FuzzPredictBody$' -fuzztime 60s
//
// Inputs that once failed are kept in testdata/fuzz/<target>/ and run as
// regression cases by a plain `go test`.

// fuzzServer returns a ready test server that logs nowhere: a fuzz run makes
// millions of requests, and logging each to the test's log would keep them
// all in memory.
func fuzzServer(f *testing.F) *Server {
	s := newTestServer(f, true)
	s.log = slog.New(slog.DiscardHandler)
	return s
}

// realTexts are project texts of the kind the model is trained on.
var realTexts = []string{
	"Transfer learning with transformers for text classification.",
	"Object detection with CNNs",
	"Fine-tuning BERT transformers for named entity recognition and sentiment analysis on customer reviews with PyTorch",
	"MLOps pipeline: deploy models with Kubernetes, monitor drift with Prometheus and Grafana.",
	"YOLOv5 real-time object detection on edge devices — 30 fps on a Jetson Nano 🚀",
	"Graph neural networks for molecule property prediction\n\nA survey of message passing.",
	"Über Bilderkennung: Segmentierung mit U-Net (深度学习, 画像認識)",
}

func predictBody(texts ...string) string {
	type text struct {
		Text string `json:"text"`
	}
	req := struct {
		Texts []text `json:"texts"`
	}{}
	for _, t := range texts {
		req.Texts = append(req.Texts, text{t})
	}
	b, err := json.Marshal(req)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// FuzzPredictBody fuzzes the body of POST /predict.
func FuzzPredictBody(f *testing.F) {
	for _, t := range realTexts {
		f.Add([]byte(predictBody(t)))
	}
	f.Add([]byte(predictBody(realTexts...)))
	f.Add([]byte(predictBody(strings.Repeat("a", 10_000))))
	f.Add([]byte(predictBody(strings.Repeat("é", 10_000))))
	f.Add([]byte(`{"texts":[{"text":"caf\u00e9 \ud83d\ude80 \ud800"}]}`))
	f.Add([]byte(`{"texts":[{"text":"\u00a0"}]}`))
	f.Add([]byte(`{"texts":[{"text":"a\tb\r\nc"}]}`))
	f.Add([]byte(`{"TEXTS":[{"Text":"a"}]}`))
	f.Add([]byte(`{"texts":[{"text":"a"}],"texts":[{"text":"b"},{"text":"c"}]}`))
	f.Add([]byte(` {"texts" : [ {"text" : "a"} ] } `))
	for _, tc := range hostileCases() {
		if tc.method == http.MethodPost && tc.path == "/predict" && tc.contentType == jsonCT && len(tc.body) < 4<<10 {
			f.Add(tc.body)
		}
	}

	s := fuzzServer(f)
	route := specRoutes(loadSpec(f))["predict"]
	require.NotNil(f, route)

	f.Fuzz(func(t *testing.T, body []byte) {
		r := request{method: http.MethodPost, path: "/predict", body: string(body), contentType: jsonCT}
		rec := do(s, r)
		require.Less(t, rec.Code, 500, "body: %.300s", rec.Body.Bytes())
		got := validateResponse(t, route, r, rec.Code, rec.Header(), rec.Body.Bytes())

		texts, want := predictOracle(body)
		require.Equal(t, want, rec.Code, "request: %q\nresponse: %.500s", body, rec.Body.Bytes())
		if want != http.StatusOK {
			return
		}
		preds, ok := got["data"].(map[string]any)["predictions"].([]any)
		require.True(t, ok, "no predictions in %.300s", rec.Body.Bytes())
		require.Len(t, preds, len(texts))
		for i, p := range preds {
			assert.Equal(t, texts[i], p.(map[string]any)["input_text"], "prediction %d", i)
		}
	})
}

// notSpace is the schema's pattern for a text: a character that is not
// white space as JavaScript's \s has it (ECMA-262's WhiteSpace and
// LineTerminator).
var notSpace = regexp.MustCompile(`[^\t\n\v\f\r \x{00A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}\x{FEFF}]`)

// predictOracle reads body as openapi.yaml and the README describe POST
// /predict, independently of the server's code: it returns the status the
// server must answer and, for 200, the texts to be tagged.
func predictOracle(body []byte) ([]string, int) {
	switch {
	case int64(len(body)) > DefaultMaxBodyBytes:
		return nil, http.StatusRequestEntityTooLarge
	case !utf8.Valid(body):
		return nil, http.StatusBadRequest
	case len(body) == 0:
		return nil, http.StatusUnprocessableEntity // the body is required
	case !json.Valid(body):
		return nil, http.StatusBadRequest
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, http.StatusBadRequest
	}
	obj, ok := v.(map[string]any)
	if !ok || len(obj) != 1 {
		return nil, http.StatusUnprocessableEntity
	}
	items, ok := obj["texts"].([]any)
	if !ok || len(items) < 1 || len(items) > 1000 {
		return nil, http.StatusUnprocessableEntity
	}
	texts := make([]string, len(items))
	for i, item := range items {
		o, ok := item.(map[string]any)
		if !ok || len(o) != 1 {
			return nil, http.StatusUnprocessableEntity
		}
		text, ok := o["text"].(string)
		if n := utf8.RuneCountInString(text); !ok || n < 1 || n > 10_000 || !notSpace.MatchString(text) {
			return nil, http.StatusUnprocessableEntity
		}
		if strings.IndexFunc(text, func(r rune) bool {
			return unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r'
		}) >= 0 {
			return nil, http.StatusUnprocessableEntity
		}
		texts[i] = text
	}
	return texts, http.StatusOK
}

// FuzzPerformanceQuery fuzzes the query string of GET /performance.
func FuzzPerformanceQuery(f *testing.F) {
	for _, q := range []string{
		"", "filter=overall", "filter=class", "filter=slices", "filter=OVERALL", "filter=", "filter",
		"filter=overall&filter=class", "filter=over%61ll", "filter=%ZZ", "filter=overall;x=1",
		"x=1", "filter=overall&x=1", "filter=%00", "filter=" + strings.Repeat("a", 300), "&&&=", "filter[]=class",
	} {
		f.Add(q)
	}

	s := fuzzServer(f)
	route := specRoutes(loadSpec(f))["getPerformance"]
	require.NotNil(f, route)

	f.Fuzz(func(t *testing.T, query string) {
		target := "/performance?" + query
		if !validRequestTarget(target) {
			return // net/http rejects the request line before the server sees it
		}
		r := request{method: http.MethodGet, path: target}
		rec := do(s, r)
		require.Less(t, rec.Code, 500, "body: %.300s", rec.Body.Bytes())

		// Go reads the query as the validator and the handler do; an
		// unparseable pair is dropped.
		u, err := url.ParseRequestURI(target)
		require.NoError(t, err)
		filters := u.Query()["filter"]
		require.Contains(t, []int{http.StatusOK, http.StatusUnprocessableEntity}, rec.Code)
		var got map[string]any
		if utf8.ValidString(query) {
			got = validateResponse(t, route, r, rec.Code, rec.Header(), rec.Body.Bytes())
		} else {
			// The envelope's url echoes the query, and JSON can carry it
			// only with U+FFFD in place of the invalid bytes (testdata seed
			// 3940e35d8f932097), so the envelope's url cannot end with the
			// query: check the rest.
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got), "body: %.300s", rec.Body.Bytes())
			assert.Equal(t, float64(rec.Code), got["status-code"])
		}
		parts := []string{"class", "overall", "slices"}
		switch {
		case len(filters) == 0:
			require.Equal(t, http.StatusOK, rec.Code, "query %q: %.300s", query, rec.Body.Bytes())
			assert.ElementsMatch(t, parts, keys(got["data"].(map[string]any)["performance"].(map[string]any)))
		case len(filters) == 1 && (filters[0] == "overall" || filters[0] == "class" || filters[0] == "slices"):
			require.Equal(t, http.StatusOK, rec.Code, "query %q: %.300s", query, rec.Body.Bytes())
			assert.Equal(t, []string{filters[0]}, keys(got["data"].(map[string]any)["performance"].(map[string]any)))
		default: // an unknown filter, or several
			require.Equal(t, http.StatusUnprocessableEntity, rec.Code, "query %q: %.300s", query, rec.Body.Bytes())
		}
	})
}

// FuzzArgPath fuzzes the {arg} path parameter of GET /args/{arg}.
func FuzzArgPath(f *testing.F) {
	for _, a := range []string{
		"alpha", "learning_rate", "ngram_max_range", "stem", "Alpha", "alpha ", "min_freq", "",
		"../args", "a/b", "%2e%2e", "\x00", "é", "🚀", strings.Repeat("a", 64), strings.Repeat("a", 65), "learning_rate?x=1", "alpha#x",
	} {
		f.Add(a)
	}

	s := fuzzServer(f)
	route := specRoutes(loadSpec(f))["getArg"]
	require.NotNil(f, route)
	known := map[string]bool{"alpha": true, "learning_rate": true, "ngram_max_range": true, "stem": true}

	f.Fuzz(func(t *testing.T, arg string) {
		target := "/args/" + url.PathEscape(arg)
		if !validRequestTarget(target) {
			return
		}
		r := request{method: http.MethodGet, path: target}
		rec := do(s, r)
		if arg == "" {
			// "/args/" is "/args" with a trailing slash.
			require.Equal(t, http.StatusMovedPermanently, rec.Code)
			require.Equal(t, "/args", rec.Header().Get("Location"))
			return
		}
		require.Less(t, rec.Code, 500, "body: %.300s", rec.Body.Bytes())
		validateResponse(t, route, r, rec.Code, rec.Header(), rec.Body.Bytes())
		require.Contains(t, []int{http.StatusOK, http.StatusNotFound, http.StatusUnprocessableEntity}, rec.Code)
		if known[arg] {
			require.Equal(t, http.StatusOK, rec.Code, "arg %q: %.300s", arg, rec.Body.Bytes())
		} else {
			require.NotEqual(t, http.StatusOK, rec.Code, "arg %q: %.300s", arg, rec.Body.Bytes())
		}
	})
}

// validRequestTarget reports whether target is a request target a client
// can send: net/http accepts it in a request line (httptest.NewRequest
// panics on the others) and it has no fragment (RFC 9112 section 3.2:
// clients do not send one, though net/http lets it through).
func validRequestTarget(target string) bool {
	if strings.ContainsRune(target, '#') {
		return false
	}
	_, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")))
	return err == nil
}
