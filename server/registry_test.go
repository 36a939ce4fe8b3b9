package server

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/batch"
	"github.com/tagifai/tagifai/feedback"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// committedArtifact is the model in artifacts/, which every registry test
// imports as version 1.
const committedArtifactDir = "../artifacts"

// artifacts returns the committed artifact's bytes and those of a second,
// different but valid artifact: the same model under another run id.
func artifacts(t testing.TB) (v1, v2 []byte) {
	t.Helper()
	v1, err := os.ReadFile(filepath.Join(committedArtifactDir, model.ArtifactFile))
	require.NoError(t, err)
	art, err := model.Decode(bytes.NewReader(v1))
	require.NoError(t, err)
	art.RunID = "second-run"
	var buf bytes.Buffer
	require.NoError(t, model.Encode(&buf, art))
	require.NotEqual(t, v1, buf.Bytes())
	return v1, buf.Bytes()
}

// apiKeys are the API keys of a registry test server, by who holds them.
type apiKeys map[string]string

// The callers of the role matrix, from none to most privileged.
var callers = []string{"anonymous", "garbage", "revoked", "viewer", "predictor", "admin"}

// newRegistryServer returns a server whose registry holds the committed
// model as version 1 (serving) and a user for each role.
func newRegistryServer(t testing.TB, requireAuth bool, configure ...func(*testConfig)) (*Server, testRegistry, apiKeys) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(testWriter{t}, nil))
	dir := t.TempDir()
	template, k := registryTemplate(t)
	require.NoError(t, copyTemplate(dir, template))
	store, err := registry.OpenSQLite(ctx, filepath.Join(dir, "registry.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	reg, err := registry.New(store, filepath.Join(dir, "artifacts"), log)
	require.NoError(t, err)

	tc := testConfig{Config: Config{Logger: log, RequireAuth: requireAuth}, registryDir: dir}
	for _, c := range configure {
		c(&tc)
	}
	s := wireServer(t, store, reg, true, tc)
	if !tc.notServing {
		require.NoError(t, s.serving.LoadServing(ctx))
	}
	return s, testRegistry{store, reg}, k
}

// template is a registry built once for the whole test binary, which each
// registry test copies: the committed model as version 1 (serving) and a
// user for each role. Building it costs a few synchronous writes each test
// would otherwise repeat.
var template struct {
	once sync.Once
	dir  string
	keys apiKeys
	err  error
}

// registryTemplate returns the template's directory, to copy and never to
// change, and its users' keys.
func registryTemplate(t testing.TB) (string, apiKeys) {
	t.Helper()
	template.once.Do(func() { template.dir, template.keys, template.err = buildTemplate() })
	require.NoError(t, template.err)
	out := apiKeys{}
	for who, key := range template.keys {
		out[who] = key
	}
	return template.dir, out
}

func buildTemplate() (dir string, k apiKeys, err error) {
	ctx := context.Background()
	dir, err = os.MkdirTemp("", "tagifai-registry-template-")
	if err != nil {
		return "", nil, err
	}
	store, err := registry.OpenSQLite(ctx, filepath.Join(dir, "registry.db"))
	if err != nil {
		return "", nil, err
	}
	defer store.Close()
	reg, err := registry.New(store, filepath.Join(dir, "artifacts"), slog.New(slog.DiscardHandler))
	if err != nil {
		return "", nil, err
	}
	if imported, err := reg.ImportIfEmpty(ctx, DefaultModelName, committedArtifactDir, "test"); err != nil || !imported {
		return "", nil, fmt.Errorf("import: %v (imported %v)", err, imported)
	}
	// Its file, read and checked here: test registries link it.
	_, v1, err := reg.ReadArtifact(ctx, DefaultModelName, 1)
	if err != nil {
		return "", nil, err
	}
	file, err := os.Stat(filepath.Join(dir, "artifacts", DefaultModelName, "1.tagifai"))
	if err != nil {
		return "", nil, err
	}
	templateFiles.Store(v1.Checksum, file)
	k = apiKeys{"garbage": "tgf_not-a-real-key"}
	for _, role := range []registry.Role{registry.RoleViewer, registry.RolePredictor, registry.RoleAdmin} {
		_, key, err := reg.CreateUser(ctx, string(role)+"-user", role)
		if err != nil {
			return "", nil, err
		}
		k[string(role)] = key
	}
	_, key, err := reg.CreateUser(ctx, "former", registry.RoleAdmin)
	if err != nil {
		return "", nil, err
	}
	if _, err := store.RevokeUser(ctx, "former"); err != nil {
		return "", nil, err
	}
	k["revoked"] = key
	// The batch queue's tables too: migrating them for every test server
	// is most of what a server costs to start under the race detector.
	if err := batch.Migrate(ctx, store, slog.New(slog.DiscardHandler)); err != nil {
		return "", nil, err
	}
	// The key of prediction ids, which the first server would make.
	if _, err := store.SigningKey(ctx, predictionIDKey, feedback.NewKey()); err != nil {
		return "", nil, err
	}
	return dir, k, store.Close()
}

// testRegistry is a test's registry: its database and its files.
type testRegistry struct {
	*registry.SQLStore
	*registry.Registry
}

// workBatchJobs runs the batch queue of s, a server of newRegistryServer,
// until the test ends. Servers take jobs without it, but only a test that
// needs them worked runs it: a queue polls its database, which costs tests
// that make many servers.
func workBatchJobs(t testing.TB, s *Server) {
	t.Helper()
	q, ok := s.batch.(*batch.Queue)
	require.True(t, ok, "the server has a batch queue")
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- q.Run(ctx) }()
	t.Cleanup(func() {
		stop()
		assert.NoError(t, <-done)
	})
}

// putVersion uploads data as version of the default model through s,
// with the credentials in header, and requires 201.
func putVersion(t *testing.T, s http.Handler, header http.Header, version int, data []byte) {
	t.Helper()
	r := doResult(s, request{method: "PUT", path: fmt.Sprintf("/models/tagifai/versions/%d", version), body: string(data),
		contentType: "application/octet-stream", header: header})
	require.Equal(t, http.StatusCreated, r.status, r.body)
}

// serveVersion makes version of the default model serve through s, with
// the credentials in header, and requires 200.
func serveVersion(t *testing.T, s http.Handler, header http.Header, version int) {
	t.Helper()
	r := doResult(s, request{method: "PUT", path: "/models/tagifai/serving-version", body: fmt.Sprintf(`{"version":%d}`, version),
		contentType: jsonCT, header: header})
	require.Equal(t, http.StatusOK, r.status, r.body)
}

// as returns a header that authenticates as caller.
func (k apiKeys) as(caller string) http.Header {
	h := http.Header{}
	if key, ok := k[caller]; ok {
		h.Set("Authorization", "Bearer "+key)
	}
	return h
}

// sampleRequests holds, for each operation that needs a key, a request
// that succeeds with enough privilege on a fresh registry server.
func sampleRequests(v2 []byte) map[string]request {
	predict := `{"texts":[{"text":"Transfer learning with transformers for text classification."}]}`
	return map[string]request{
		"predict":            {method: "POST", path: "/predict", body: predict, contentType: jsonCT},
		"listModels":         {method: "GET", path: "/models"},
		"getModel":           {method: "GET", path: "/models/tagifai"},
		"listVersions":       {method: "GET", path: "/models/tagifai/versions"},
		"getVersion":         {method: "GET", path: "/models/tagifai/versions/1"},
		"uploadVersion":      {method: "PUT", path: "/models/tagifai/versions/2", body: string(v2), contentType: "application/octet-stream"},
		"deleteVersion":      {method: "DELETE", path: "/models/tagifai/versions/2"},
		"setServingVersion":  {method: "PUT", path: "/models/tagifai/serving-version", body: `{"version":1}`, contentType: jsonCT},
		"predictWithVersion": {method: "POST", path: "/models/tagifai/versions/1/predictions", body: predict, contentType: jsonCT},
		"listUsers":          {method: "GET", path: "/users"},
		"createUser":         {method: "POST", path: "/users", body: `{"name":"ci-bot","role":"predictor"}`, contentType: jsonCT},
		"revokeUser":         {method: "DELETE", path: "/users/viewer-user"},

		"createBatchJob":          {method: "POST", path: "/batch-jobs", body: `{"items":[{"id":"6","text":"YOLO for object detection"}]}`, contentType: jsonCT},
		"getBatchJob":             {method: "GET", path: "/batch-jobs/" + sampleJobID},
		"listBatchJobs":           {method: "GET", path: "/batch-jobs?status=succeeded&limit=1"},
		"deleteBatchJob":          {method: "DELETE", path: "/batch-jobs/" + sampleJobID},
		"listBatchJobPredictions": {method: "GET", path: "/batch-jobs/" + sampleJobID + "/predictions?limit=1"},
		"getStoredPrediction":     {method: "GET", path: "/predictions/" + sampleItemID},

		"sendFeedback":    {method: "POST", path: "/feedback", body: `{"items":[{"prediction_id":"not-an-id","tag":"mlops"}]}`, contentType: jsonCT},
		"getMonitoring":   {method: "GET", path: "/monitoring"},
		"oipInfer":        {method: "POST", path: "/v2/models/tagifai/infer", body: oipTextInput("[1]", `["YOLO for object detection"]`), contentType: jsonCT},
		"oipVersionInfer": {method: "POST", path: "/v2/models/tagifai/versions/1/infer", body: oipTextInput("[1]", `["YOLO for object detection"]`), contentType: jsonCT},

		"getRollout":      {method: "GET", path: "/models/tagifai/rollout"},
		"startRollout":    {method: "PUT", path: "/models/tagifai/rollout", body: `{"candidate":2,"mode":"shadow","percent":100,"guard":{"min_agreement":0.5}}`, contentType: jsonCT},
		"abortRollout":    {method: "DELETE", path: "/models/tagifai/rollout"},
		"listAuditEvents": {method: "GET", path: "/audit-events?resource=models/tagifai&limit=2"},
	}
}

// The job and the stored prediction that prepareSample makes.
const (
	sampleJobID  = "0123456789abcdef"
	sampleItemID = "item-6"
)

// prepareSample makes what op's sample request needs to succeed: a second
// version to delete, a finished job (unless there is one), a stored
// prediction.
func prepareSample(t testing.TB, reg testRegistry, op string, v2 []byte) {
	t.Helper()
	ctx := context.Background()
	switch op {
	case "deleteVersion", "startRollout":
		_, _, err := reg.Upload(ctx, DefaultModelName, 2, v2, "test")
		require.NoError(t, err)
	case "getRollout", "abortRollout":
		_, _, err := reg.Upload(ctx, DefaultModelName, 2, v2, "test")
		require.NoError(t, err)
		_, _, err = reg.SQLStore.StartRollout(ctx, registry.Rollout{Model: DefaultModelName, Candidate: 2, Mode: registry.ModeShadow, Percent: 100})
		require.NoError(t, err)
	case "getBatchJob", "listBatchJobs", "deleteBatchJob", "listBatchJobPredictions", "getStoredPrediction":
		if _, err := reg.Job(ctx, sampleJobID); err == nil {
			return // prepared already
		}
		now := time.Now().UTC()
		items := []registry.Item{{ID: sampleItemID, Text: "Transfer learning with transformers"}}
		// A job that a replica other than the test server's ran to its end.
		_, _, err := reg.CreateJob(ctx, registry.Job{ID: sampleJobID, Model: DefaultModelName, Version: 1,
			Status: registry.JobQueued, Total: 1, CreatedBy: "test", CreatedAt: now}, items, enqueueNothing)
		require.NoError(t, err)
		_, err = reg.SaveChunk(ctx, sampleJobID, registry.Chunk{Replica: "elsewhere", Items: 1, At: now, Predictions: []registry.StoredPrediction{{
			Model: DefaultModelName, Version: 1, ItemID: sampleItemID, TextSHA256: "00", Tag: "natural-language-processing",
			Probabilities: map[string]float64{"natural-language-processing": 0.9, "other": 0.1}, CreatedAt: now}}}, withinNothing)
		require.NoError(t, err)
	}
}

// enqueueNothing queues no work for a job stored by a test: another
// replica, in the test's story, runs it.
func enqueueNothing(context.Context, *sql.Tx, registry.Job) error { return nil }

// withinNothing adds nothing to a chunk's transaction.
func withinNothing(*sql.Tx) error { return nil }

// withHeader returns r with h added.
func (r request) withHeader(h http.Header) request {
	out := r
	out.header = http.Header{}
	for k, v := range r.header {
		out.header[k] = v
	}
	for k, v := range h {
		out.header[k] = v
	}
	return out
}

// TestRoleMatrix checks every cell of caller x operation, for every
// operation the spec marks with x-required-role, with and without
// --require-auth: 401 without a valid key, 403 with too low a role (but
// where anyone may call without --require-auth), and no refusal with
// enough privilege.
func TestRoleMatrix(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	_, v2 := artifacts(t)
	samples := sampleRequests(v2)
	rank := map[string]int{"viewer": 1, "predictor": 2, "admin": 3}

	var ops []*openapi3.Operation
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			if _, ok := op.Extensions[requiredRoleExtension]; ok {
				ops = append(ops, op)
			}
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].OperationID < ops[j].OperationID })
	require.NotEmpty(t, ops)

	for _, requireAuth := range []bool{false, true} {
		for _, op := range ops {
			need, err := requiredRole(op)
			require.NoError(t, err)
			sample, ok := samples[op.OperationID]
			require.True(t, ok, "operation %s needs a role but has no sample request", op.OperationID)
			t.Run(fmt.Sprintf("require-auth=%v/%s", requireAuth, op.OperationID), func(t *testing.T) {
				t.Parallel()
				// One server per operation: callers go from least to most
				// privileged, so only the last of them can change anything.
				s, reg, k := newRegistryServer(t, requireAuth)
				prepareSample(t, reg, op.OperationID, v2)
				for _, caller := range callers {
					t.Run(caller, func(t *testing.T) {
						if op.OperationID == "deleteBatchJob" {
							// Open to anonymous callers without --require-auth,
							// so not only the last caller may succeed.
							prepareSample(t, reg, op.OperationID, v2)
						}
						rec := do(s, sample.withHeader(k.as(caller)))
						var want int
						switch {
						case caller == "anonymous" && !requireAuth && optionalAuth[need]:
							want = 0 // open to anyone
						case rank[caller] > 0 && !requireAuth && optionalAuth[need]:
							want = 0 // open to any key: a lesser role is never worse than none
						case rank[caller] == 0:
							want = http.StatusUnauthorized
						case rank[caller] < rank[string(need)]:
							want = http.StatusForbidden
						}
						if want == 0 {
							assert.Less(t, rec.Code, 300, "body: %s", rec.Body)
							return
						}
						require.Equal(t, want, rec.Code, "body: %s", rec.Body)
						if want == http.StatusUnauthorized {
							assert.Equal(t, "Bearer", rec.Header().Get("WWW-Authenticate"))
						}
						for _, key := range k {
							assert.NotContains(t, rec.Body.String(), key, "a key was echoed")
						}
					})
				}
			})
		}
	}
}

// TestRegistryLifecycle walks through what an operator does: upload,
// upload again, conflicting upload, serve, roll back, delete.
func TestRegistryLifecycle(t *testing.T) {
	t.Parallel()
	s, _, k := newRegistryServer(t, false)
	v1, v2 := artifacts(t)
	admin := k.as("admin")
	upload := func(version int, body []byte) *requestResult {
		return doResult(s, request{method: "PUT", path: fmt.Sprintf("/models/tagifai/versions/%d", version), body: string(body),
			contentType: "application/octet-stream", header: admin})
	}

	r := upload(2, v2)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	assert.Equal(t, "admin-user", r.data()["uploaded_by"])
	assert.Equal(t, false, r.data()["serving"])
	assert.Equal(t, http.StatusOK, upload(2, v2).status, "the same bytes again are fine")
	r = upload(2, v1)
	assert.Equal(t, http.StatusConflict, r.status, "other bytes for an existing version conflict")
	assert.Equal(t, "conflict", r.problemType())

	predictText := `{"texts":[{"text":"Transfer learning with transformers for text classification."}]}`
	predict := func() map[string]any {
		r := doResult(s, request{method: "POST", path: "/predict", body: predictText, contentType: jsonCT})
		require.Equal(t, http.StatusOK, r.status, r.body)
		return r.data()
	}
	assert.Equal(t, 1.0, predict()["version"])

	r = doResult(s, request{method: "PUT", path: "/models/tagifai/serving-version", body: `{"version":2}`, contentType: jsonCT, header: admin})
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, 2.0, r.data()["serving_version"])
	got := predict()
	assert.Equal(t, 2.0, got["version"])
	assert.Equal(t, "second-run", got["run_id"])

	r = doResult(s, request{method: "DELETE", path: "/models/tagifai/versions/2", header: admin})
	assert.Equal(t, http.StatusConflict, r.status, "the serving version cannot be deleted")

	r = doResult(s, request{method: "PUT", path: "/models/tagifai/serving-version", body: `{"version":1}`, contentType: jsonCT, header: admin})
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, 1.0, predict()["version"], "rolled back")

	r = doResult(s, request{method: "DELETE", path: "/models/tagifai/versions/2", header: admin})
	require.Equal(t, http.StatusOK, r.status, r.body)
	r = doResult(s, request{method: "GET", path: "/models/tagifai/versions", header: admin})
	require.Equal(t, http.StatusOK, r.status)
	assert.Len(t, r.data()["versions"], 1)
}

func TestUploadRefusesBadArtifacts(t *testing.T) {
	t.Parallel()
	_, v2 := artifacts(t)
	tests := []struct {
		name string
		body []byte
	}{
		{"truncated", v2[:len(v2)/2]},
		{"one byte flipped", flipByte(v2, len(v2)/2)},
		{"not an artifact", []byte("hello, this is not a model")},
		{"valid checksum, n-gram bound -2^63", craftArtifact(t, v2, "char_ngram_min", int64(-1<<63))},
		{"valid checksum, 1 class", craftArtifact(t, v2, "classes", []string{"mlops"})},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, k := newRegistryServer(t, false)
			r := doResult(s, request{method: "PUT", path: "/models/tagifai/versions/2", body: string(tc.body),
				contentType: "application/octet-stream", header: k.as("admin")})
			require.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
			assert.Contains(t, r.problemMessage(), "not a valid model artifact")
			r = doResult(s, request{method: "GET", path: "/models/tagifai", header: k.as("admin")})
			assert.Equal(t, 1.0, r.data()["version_count"], "a refused upload changes nothing")
		})
	}
}

func flipByte(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0xff
	return out
}

// requestResult is a response, decoded.
type requestResult struct {
	status int
	body   string
	header http.Header
}

func doResult(s http.Handler, r request) *requestResult {
	rec := do(s, r)
	return &requestResult{status: rec.Code, body: rec.Body.String(), header: rec.Header()}
}

func (r *requestResult) decoded() map[string]any {
	var m map[string]any
	_ = json.Unmarshal([]byte(r.body), &m)
	return m
}

func (r *requestResult) data() map[string]any {
	d, _ := r.decoded()["data"].(map[string]any)
	return d
}

func (r *requestResult) problemType() string {
	errs, _ := r.data()["errors"].([]any)
	if len(errs) == 0 {
		return ""
	}
	return errs[0].(map[string]any)["type"].(string)
}

func (r *requestResult) problemMessage() string {
	errs, _ := r.data()["errors"].([]any)
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.(map[string]any)["message"].(string))
	}
	return strings.Join(msgs, "; ")
}

// TestReadinessNeedsDatabase: a server whose database stops answering is
// not ready, though its model is loaded; it stays alive.
func TestReadinessNeedsDatabase(t *testing.T) {
	t.Parallel()
	s, reg, _ := newRegistryServer(t, false)
	assert.Equal(t, http.StatusOK, do(s, request{method: "GET", path: "/health/ready"}).Code)
	require.NoError(t, reg.Close())
	r := doResult(s, request{method: "GET", path: "/health/ready"})
	assert.Equal(t, http.StatusServiceUnavailable, r.status)
	assert.Contains(t, r.problemMessage(), "database")
	assert.Equal(t, http.StatusOK, do(s, request{method: "GET", path: "/health/live"}).Code)
}

// unwritableStore is a store whose write check fails while broken is set.
type unwritableStore struct {
	*registry.SQLStore
	broken atomic.Bool
}

func (s *unwritableStore) CheckWritable(context.Context) error {
	if s.broken.Load() {
		return registry.ErrReadOnly
	}
	return nil
}

// TestReadinessNeedsWritableRegistry: a server whose registry cannot write
// is not ready, and is ready again once it can; it stays alive throughout.
func TestReadinessNeedsWritableRegistry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	sqlStore, err := registry.OpenSQLite(ctx, filepath.Join(dir, "registry.db"))
	require.NoError(t, err)
	t.Cleanup(func() { sqlStore.Close() })
	store := &unwritableStore{SQLStore: sqlStore}
	log := slog.New(slog.NewJSONHandler(testWriter{t}, nil))
	reg, err := registry.New(store, filepath.Join(dir, "artifacts"), log)
	require.NoError(t, err)
	_, err = reg.ImportIfEmpty(ctx, DefaultModelName, committedArtifactDir, "test")
	require.NoError(t, err)
	s := wireServer(t, store, reg, false, testConfig{Config: Config{Logger: log}})
	require.NoError(t, s.serving.LoadServing(ctx))

	ready := func() int { return do(s, request{method: "GET", path: "/health/ready"}).Code }
	require.Equal(t, http.StatusOK, ready())
	store.broken.Store(true)
	require.Eventually(t, func() bool { return ready() == http.StatusServiceUnavailable }, 10*time.Second, 50*time.Millisecond)
	r := doResult(s, request{method: "GET", path: "/health/ready"})
	assert.Contains(t, r.problemMessage(), "cannot be written")
	assert.Equal(t, http.StatusOK, do(s, request{method: "GET", path: "/health/live"}).Code)
	store.broken.Store(false)
	require.Eventually(t, func() bool { return ready() == http.StatusOK }, 10*time.Second, 50*time.Millisecond)
}

// TestReservedUserNames: POST /users refuses the names the audit trail
// records for changes no user made (audit F7: an admin named guard made
// their aborts read as the automatic guard's), at body.name, in any case.
func TestReservedUserNames(t *testing.T) {
	t.Parallel()
	s, _, keys := newRegistryServer(t, true)
	for _, tc := range []struct {
		name   string
		status int
		typ    string
	}{
		{"guard", http.StatusUnprocessableEntity, typeInvalid},
		{"anonymous", http.StatusUnprocessableEntity, typeInvalid},
		{"cli", http.StatusUnprocessableEntity, typeInvalid},
		{"tagifai-serve", http.StatusUnprocessableEntity, typeInvalid},
		{"tagifai-batch", http.StatusUnprocessableEntity, typeInvalid},
		{"GUARD", http.StatusUnprocessableEntity, typePattern}, // not a user name at all
		{"guardian", http.StatusCreated, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := doResult(s, request{method: "POST", path: "/users", contentType: jsonCT, header: keys.as("admin"),
				body: fmt.Sprintf(`{"name":%q,"role":"admin"}`, tc.name)})
			require.Equal(t, tc.status, r.status, r.body)
			if tc.status != http.StatusCreated {
				assert.Equal(t, tc.typ, r.problemType())
				assert.Equal(t, []string{"body.name"}, r.problemLocations())
			}
		})
	}
}
