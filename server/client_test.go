package server

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
)

// serveOnLoopback runs s on a real listener on port 0 until the test ends
// and returns its base URL.
func serveOnLoopback(t *testing.T, s *Server) (url string, stop func() error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln, 5*time.Second) }()
	var once sync.Once
	var stopErr error
	stop = func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return "http://" + ln.Addr().String(), stop
}

// TestGeneratedClient drives every operation through the generated Go
// client against a real listener.
func TestGeneratedClient(t *testing.T) {
	t.Parallel()
	url, stop := serveOnLoopback(t, newTestServer(t, true))
	transport := &http.Transport{}
	c, err := gen.NewClientWithResponses(url, gen.WithHTTPClient(&http.Client{Transport: transport}))
	require.NoError(t, err)
	ctx := context.Background()

	health, err := c.HealthCheckWithResponse(ctx)
	require.NoError(t, err)
	require.NotNil(t, health.JSON200, "status %d: %s", health.StatusCode(), health.Body)
	assert.Equal(t, fakeRunID, health.JSON200.Data.RunId)
	assert.Equal(t, http.StatusOK, health.JSON200.StatusCode)

	filter := gen.Class
	perf, err := c.GetPerformanceWithResponse(ctx, &gen.GetPerformanceParams{Filter: &filter})
	require.NoError(t, err)
	require.NotNil(t, perf.JSON200, "status %d: %s", perf.StatusCode(), perf.Body)
	assert.Nil(t, perf.JSON200.Data.Performance.Overall)
	require.NotNil(t, perf.JSON200.Data.Performance.Class)
	assert.Equal(t, 4, (*perf.JSON200.Data.Performance.Class)["computer-vision"].NumSamples)

	args, err := c.GetArgsWithResponse(ctx)
	require.NoError(t, err)
	require.NotNil(t, args.JSON200)
	assert.Equal(t, 8.0, args.JSON200.Data.Args["ngram_max_range"])

	arg, err := c.GetArgWithResponse(ctx, "alpha")
	require.NoError(t, err)
	require.NotNil(t, arg.JSON200)
	assert.Equal(t, map[string]any{"alpha": 1e-4}, arg.JSON200.Data)

	missing, err := c.GetArgWithResponse(ctx, "nope")
	require.NoError(t, err)
	require.NotNil(t, missing.JSON404, "status %d: %s", missing.StatusCode(), missing.Body)
	assert.Equal(t, "not_found", missing.JSON404.Data.Errors[0].Type)

	pred, err := c.PredictWithResponse(ctx, gen.PredictRequest{Texts: []gen.TextInput{
		{Text: "Deploy models with Kubernetes"}, {Text: "BERT transformers for NER"},
	}})
	require.NoError(t, err)
	require.NotNil(t, pred.JSON200, "status %d: %s", pred.StatusCode(), pred.Body)
	require.Len(t, pred.JSON200.Data.Predictions, 2)
	assert.Equal(t, "mlops", pred.JSON200.Data.Predictions[0].PredictedTag)
	assert.Equal(t, "natural-language-processing", pred.JSON200.Data.Predictions[1].PredictedTag)
	assert.Equal(t, "BERT transformers for NER", pred.JSON200.Data.Predictions[1].InputText)
	assert.InDelta(t, 0.7, pred.JSON200.Data.Predictions[1].PredictedProbabilities["natural-language-processing"], 1e-12)

	invalid, err := c.PredictWithResponse(ctx, gen.PredictRequest{Texts: []gen.TextInput{}})
	require.NoError(t, err)
	require.NotNil(t, invalid.JSON422, "status %d: %s", invalid.StatusCode(), invalid.Body)
	assert.Equal(t, []string{"body", "texts"}, invalid.JSON422.Data.Errors[0].Location)

	transport.CloseIdleConnections() // done: a lame-duck server need not wait for it
	require.NoError(t, stop())
	_, err = c.HealthCheckWithResponse(ctx)
	assert.Error(t, err, "the server still answers after shutdown")
}

// blockingPredictor holds every prediction until release is closed.
type blockingPredictor struct {
	fakePredictor
	started chan struct{}
	release chan struct{}
}

func (b blockingPredictor) PredictBatch(texts []string) []model.Prediction {
	b.started <- struct{}{}
	<-b.release
	return b.fakePredictor.PredictBatch(texts)
}

// TestGracefulShutdown: a request in flight when shutdown starts finishes
// with its 200, and Serve returns nil once it has.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, false)
	bp := blockingPredictor{started: make(chan struct{}, 1), release: make(chan struct{})}
	s.serving.Set(fakeVersion(t, "slow", bp))
	url, stop := serveOnLoopback(t, s)

	type result struct {
		status int
		err    error
	}
	inflight := make(chan result, 1)
	go func() {
		res, err := http.Post(url+"/predict", jsonCT, strings.NewReader(`{"texts":[{"text":"a CNN"}]}`))
		if err != nil {
			inflight <- result{err: err}
			return
		}
		res.Body.Close()
		inflight <- result{status: res.StatusCode}
	}()
	<-bp.started

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	select {
	case err := <-stopped:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(bp.release)

	r := <-inflight
	require.NoError(t, r.err)
	assert.Equal(t, http.StatusOK, r.status)
	assert.NoError(t, <-stopped)
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, true)
	tests := []struct {
		name string
		sent string
		echo bool
	}{
		{name: "honoured", sent: "abc-123", echo: true},
		{name: "generated when absent", sent: "", echo: false},
		{name: "replaced when it has spaces", sent: "a b", echo: false},
		{name: "replaced when too long", sent: strings.Repeat("x", 129), echo: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.sent != "" {
				h.Set("X-Request-ID", tc.sent)
			}
			rec := do(s, request{method: "GET", path: "/", header: h})
			got := rec.Header().Get("X-Request-ID")
			if tc.echo {
				assert.Equal(t, tc.sent, got)
			} else {
				assert.NotEqual(t, tc.sent, got)
				assert.Len(t, got, 24)
			}
		})
	}
}

// panickingPredictor fails the way a bug in the model would.
type panickingPredictor struct{ fakePredictor }

func (panickingPredictor) PredictBatch([]string) []model.Prediction {
	panic("index out of range in the secret model internals")
}

func TestPredictorPanicIsA500(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, false)
	s.serving.Set(fakeVersion(t, "broken", panickingPredictor{}))

	rec := do(s, request{method: "POST", path: "/predict", body: `{"texts":[{"text":"x"}]}`, contentType: jsonCT})
	require.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.NotContains(t, rec.Body.String(), "secret")
	assert.Contains(t, rec.Body.String(), rec.Header().Get("X-Request-ID"), "the client is told which request to quote")

	rec = do(s, request{method: "GET", path: "/"})
	assert.Equal(t, http.StatusOK, rec.Code, "the server keeps serving after a panic")
}

func TestDocs(t *testing.T) {
	t.Parallel()
	yamlSpec := []byte("openapi: 3.0.3\n# as written\n")
	s := newTestServer(t, false, func(c *testConfig) { c.SpecYAML = yamlSpec })

	tests := []struct {
		path, contentType, contains string
	}{
		{"/docs", "text/html", "swagger-ui-bundle.js"},
		{"/redoc", "text/html", "redoc.standalone.js"},
		{"/docs/swagger-ui-bundle.js", "text/javascript", "SwaggerUIBundle"},
		{"/docs/swagger-ui.css", "text/css", ".swagger-ui"},
		{"/docs/swagger-init.js", "text/javascript", "openapi.json"},
		{"/docs/redoc.standalone.js", "text/javascript", "Redoc"},
		{"/docs/redoc-init.js", "text/javascript", "openapi.json"},
		{"/openapi.yaml", "application/yaml", "# as written"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			rec := do(s, request{method: "GET", path: tc.path})
			require.Equal(t, http.StatusOK, rec.Code)
			assert.Contains(t, rec.Header().Get("Content-Type"), tc.contentType)
			assert.Contains(t, rec.Body.String(), tc.contains)
			if strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
				assert.Contains(t, rec.Header().Get("Content-Security-Policy"), "default-src 'self'")
				assert.NotContains(t, rec.Body.String(), "https://", "the page must not load anything from outside")
			}
		})
	}

	t.Run("/openapi.json", func(t *testing.T) {
		rec := do(s, request{method: "GET", path: "/openapi.json"})
		require.Equal(t, http.StatusOK, rec.Code)
		doc, err := openapi3.NewLoader().LoadFromData(rec.Body.Bytes())
		require.NoError(t, err)
		want, err := json.Marshal(loadSpec(t))
		require.NoError(t, err)
		got, err := json.Marshal(doc)
		require.NoError(t, err)
		assert.JSONEq(t, string(want), string(got))
	})
}
