package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/batch"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
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

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range []string{template.dir, emptyTemplate.dir} {
		if dir != "" {
			os.RemoveAll(dir)
		}
	}
	os.Exit(code)
}

// testConfig is what a test may set of a server wired as main wires it.
type testConfig struct {
	Config
	// Serving holds the serving lifecycle's settings; Model, Store,
	// Artifacts, Observer and Logger are filled in.
	Serving serving.Config
	// BatchWorkers and ReplicaID are the batch runner's; default 1 and a
	// name of its own ("test-N"): replicas sharing a database have names
	// of their own, and a replica takes back, as it starts, the tasks that
	// its name left running.
	BatchWorkers int
	ReplicaID    string
	// notServing leaves a registry server serving nothing, as before its
	// first version loads.
	notServing bool
	// registryDir is the directory of a registry copied from the template
	// (copyTemplate), whose artifact files are the template's own.
	registryDir string
}

// replicaNames numbers the test servers' replica names.
var replicaNames atomic.Int64

// testStore is what a test server's parts need of the registry's
// database; *registry.SQLStore is one.
type testStore interface {
	Store
	serving.Store
	registry.BatchStore
}

// wireServer builds a server over store and reg as main does, with the
// serving lifecycle and the batch runner. With run, both run until the
// test ends, stopped as main stops them: the runner, then serving.
func wireServer(t testing.TB, store testStore, reg *registry.Registry, run bool, tc testConfig) *Server {
	t.Helper()
	if tc.Logger == nil {
		tc.Logger = slog.New(slog.NewJSONHandler(testWriter{t}, nil))
	}
	if tc.BatchWorkers == 0 {
		tc.BatchWorkers = 1
	}
	if tc.ReplicaID == "" {
		tc.ReplicaID = fmt.Sprintf("test-%d", replicaNames.Add(1))
	}
	metrics := NewMetrics()
	scfg := tc.Serving
	if scfg.Model == "" {
		scfg.Model = DefaultModelName
	}
	scfg.Store, scfg.Artifacts, scfg.Observer, scfg.Logger = store, decodeOnce{reg, store, tc.registryDir}, metrics.Serving(), tc.Logger
	mgr := serving.New(scfg)
	var sqlStore *registry.SQLStore
	switch st := store.(type) {
	case *registry.SQLStore:
		sqlStore = st
	case *unwritableStore:
		sqlStore = st.SQLStore
	default:
		t.Fatalf("wireServer: no SQL store in %T", store)
	}
	// The batch queue takes jobs; it works them only in the tests that
	// run it (workBatchJobs): a queue polls its database, which costs
	// tests that make many servers.
	queue, err := batch.NewQueue(context.Background(), batch.Config{Store: sqlStore, Observer: metrics.Batch(batch.Depth(sqlStore)), Jobs: store, Load: func(ctx context.Context, name string, version int) (batch.Classifier, error) {
		v, err := mgr.Named(ctx, name, version)
		if err != nil {
			return nil, err
		}
		return v.Predictor, nil
	}, Logger: tc.Logger, Workers: tc.BatchWorkers, Replica: tc.ReplicaID})
	require.NoError(t, err)
	cfg := tc.Config
	cfg.Store, cfg.Registry, cfg.Serving, cfg.Batch, cfg.Metrics = store, reg, mgr, queue, metrics
	s, err := New(cfg)
	require.NoError(t, err)
	if run {
		ctx, stop := context.WithCancel(context.Background())
		servingDone := make(chan error, 1)
		go func() { servingDone <- mgr.Run(ctx) }()
		t.Cleanup(func() {
			stop()
			require.NoError(t, <-servingDone)
		})
	}
	return s
}

// decodeOnce is a registry's Artifacts that decodes the bytes of each
// checksum once per test binary: the tests make hundreds of servers that
// load the same committed artifact, and decoding it is most of what a
// server costs to start under the race detector. The bytes are still read
// and checked for every load, as Open reads and checks them, except in a
// file that is the template's own (see copyTemplate): reading 0.9 MB into
// fresh memory was the largest part of what was left. Decoding is a
// function of the bytes, and a decoded artifact is only read.
type decodeOnce struct {
	*registry.Registry
	store interface {
		Version(ctx context.Context, name string, version int) (registry.Version, error)
	}
	dir string // the registry's directory when copied from the template
}

var decoded sync.Map // checksum -> *model.Artifact

func (a decodeOnce) Open(ctx context.Context, name string, version int) (*model.Artifact, registry.Version, error) {
	if art, v, ok := a.templates(ctx, name, version); ok {
		return art, v, nil
	}
	_, v, err := a.ReadArtifact(ctx, name, version)
	if err != nil {
		return nil, registry.Version{}, err
	}
	if art, ok := decoded.Load(v.Checksum); ok {
		return art.(*model.Artifact), v, nil
	}
	art, v, err := a.Registry.Open(ctx, name, version)
	if err == nil {
		decoded.Store(v.Checksum, art)
	}
	return art, v, err
}

// templates returns version of model name, decoded, when its file is the
// template's file of the checksum the database records (a hard link): its
// bytes are those the template checked when it was built, since a registry
// replaces an artifact file whole, never writes into one.
func (a decodeOnce) templates(ctx context.Context, name string, version int) (*model.Artifact, registry.Version, bool) {
	if a.dir == "" {
		return nil, registry.Version{}, false
	}
	v, err := a.store.Version(ctx, name, version)
	if err != nil {
		return nil, registry.Version{}, false
	}
	own, ok := templateFiles.Load(v.Checksum)
	art, cached := decoded.Load(v.Checksum)
	if !ok || !cached {
		return nil, registry.Version{}, false
	}
	fi, err := os.Stat(filepath.Join(a.dir, "artifacts", name, strconv.Itoa(version)+".tagifai"))
	if err != nil || !os.SameFile(fi, own.(os.FileInfo)) {
		return nil, registry.Version{}, false
	}
	return art.(*model.Artifact), v, true
}

// templateFiles holds the artifact files of the registry template, by the
// checksum of their bytes, checked when the template was built.
var templateFiles sync.Map // checksum -> os.FileInfo

// copyTemplate copies the registry template at src into dst, linking its
// artifact files instead of copying them (see decodeOnce.templates).
func copyTemplate(dst, src string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case strings.HasPrefix(rel, "artifacts"+string(filepath.Separator)):
			return os.Link(path, target)
		default:
			return copyFile(target, path)
		}
	})
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// openTestRegistry opens an empty SQLite registry in a temporary
// directory, closed when the test ends. It copies a registry migrated
// once per test binary: migrating costs far more than copying, above all
// under the race detector, and the package makes hundreds of registries.
func openTestRegistry(t testing.TB, log *slog.Logger) (*registry.SQLStore, *registry.Registry) {
	t.Helper()
	path := emptyDatabase(t)
	store, err := registry.OpenSQLite(context.Background(), path)
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	reg, err := registry.New(store, filepath.Join(filepath.Dir(path), "artifacts"), log)
	require.NoError(t, err)
	return store, reg
}

// emptyDatabase returns the path of a new empty SQLite registry database,
// in a temporary directory of its own: a copy of emptyTemplate.
func emptyDatabase(t testing.TB) string {
	t.Helper()
	emptyTemplate.once.Do(func() { emptyTemplate.dir, emptyTemplate.err = buildEmptyTemplate() })
	require.NoError(t, emptyTemplate.err)
	dir := t.TempDir()
	require.NoError(t, os.CopyFS(dir, os.DirFS(emptyTemplate.dir)))
	return filepath.Join(dir, "registry.db")
}

// emptyTemplate is an empty registry, its migrations and the batch
// queue's applied, built once for the test
// binary, which openTestRegistry copies and never changes.
var emptyTemplate struct {
	once sync.Once
	dir  string
	err  error
}

func buildEmptyTemplate() (string, error) {
	dir, err := os.MkdirTemp("", "tagifai-empty-registry-")
	if err != nil {
		return "", err
	}
	store, err := registry.OpenSQLite(context.Background(), filepath.Join(dir, "registry.db"))
	if err != nil {
		return "", err
	}
	if err := batch.Migrate(context.Background(), store, slog.New(slog.DiscardHandler)); err != nil {
		store.Close()
		return "", err
	}
	return dir, store.Close()
}

// fakeVersion is fakePredictor as version 1 of the default model.
func fakeVersion(t testing.TB, runID string, p serving.Predictor) *serving.Version {
	t.Helper()
	m, err := serving.NewVersion(serving.Info{Name: DefaultModelName, Version: 1, RunID: runID,
		Args: fakeArgs{Alpha: 1e-4, LearningRate: 0.1, NgramMaxRange: 8}, Performance: fakePerformance}, p)
	require.NoError(t, err)
	return m
}

// newTestServer returns a server over an empty registry serving
// fakePredictor, or nothing when ready is false. Its logs go to t.Log.
func newTestServer(t testing.TB, ready bool, configure ...func(*testConfig)) *Server {
	t.Helper()
	var tc testConfig
	tc.Logger = slog.New(slog.NewJSONHandler(testWriter{t}, nil))
	for _, c := range configure {
		c(&tc)
	}
	store, reg := openTestRegistry(t, tc.Logger)
	s := wireServer(t, store, reg, false, tc)
	if ready {
		s.serving.Set(fakeVersion(t, fakeRunID, fakePredictor{}))
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
