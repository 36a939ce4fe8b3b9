package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

// loadSpec loads openapi.yaml, the contract, from the repository root.
// loadSpec returns openapi.yaml as loaded from the file, once per test
// binary (parsing it is a few hundred milliseconds under the race
// detector); it is shared, and only read, as a server's validator reads
// its own.
func loadSpec(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := sharedSpec()
	require.NoError(t, err)
	return doc
}

var sharedSpec = sync.OnceValues(func() (*openapi3.T, error) {
	return openapi3.NewLoader().LoadFromFile("../openapi.yaml")
})

func TestSpecIsValid(t *testing.T) {
	t.Parallel()
	// A copy of its own: validating a document may change it.
	doc, err := openapi3.NewLoader().LoadFromFile("../openapi.yaml")
	require.NoError(t, err)
	require.NoError(t, doc.Validate(context.Background(), openapi3.EnableExamplesValidation()))
}

func TestEmbeddedSpecMatchesFile(t *testing.T) {
	t.Parallel()
	embedded, err := gen.GetSpec()
	require.NoError(t, err)
	want, err := json.Marshal(loadSpec(t))
	require.NoError(t, err)
	got, err := json.Marshal(embedded)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got), "gen/ is stale: run make generate")
}

// contractCase is one request whose response must match the spec's
// description of operation op at status.
type contractCase struct {
	name     string
	op       string // operationId whose responses describe this one
	req      request
	status   int
	notReady bool // serve without a model
	failing  bool // every routed request panics just before its handler (failEveryRequest)
	// databaseDown closes the registry's database before the request, as
	// when it stops answering (a registry server only).
	databaseDown bool
	check        func(*testing.T, map[string]any)

	// With registry, the server has a registry holding the committed model
	// as version 1, and a user for each role; caller names whose key the
	// request carries.
	registry     bool
	caller       string
	requireAuth  bool
	prepare      func(*testing.T, testRegistry)
	smallUploads bool // a server that takes uploads of at most 1 KiB
}

// serverKind is what a case needs of its server: cases that change
// nothing and need the same kind share one server.
type serverKind struct{ registry, requireAuth, smallUploads, notReady, failing, databaseDown bool }

// withRequireAuth returns tc run on a server started with --require-auth.
func (tc contractCase) withRequireAuth() contractCase {
	tc.requireAuth = true
	return tc
}

// withCheck returns tc with check run on its answer.
func (tc contractCase) withCheck(check func(*testing.T, map[string]any)) contractCase {
	tc.check = check
	return tc
}

func (tc contractCase) serverKind() serverKind {
	return serverKind{tc.registry, tc.requireAuth, tc.smallUploads, tc.notReady, tc.failing, tc.databaseDown}
}

// changesNothing reports whether tc leaves its server as it found it, so
// that other cases can use the same server at the same time: it prepares
// nothing, and its request reads or is refused (a failing server refuses
// everything).
func (tc contractCase) changesNothing() bool {
	if tc.prepare != nil {
		return false
	}
	return tc.req.method == "GET" || tc.req.method == "HEAD" || tc.status >= 400
}

// sharedServer is a server the cases that change nothing use together,
// with its users' keys.
type sharedServer struct {
	server *Server
	keys   apiKeys
}

// sharedServers builds one server of each kind that two or more cases that
// change nothing need: a server costs far more to build than a request.
// They live until every case has run.
func sharedServers(t *testing.T, cases []contractCase) map[serverKind]sharedServer {
	need := map[serverKind]int{}
	for _, tc := range cases {
		if tc.changesNothing() {
			need[tc.serverKind()]++
		}
	}
	out := map[serverKind]sharedServer{}
	for kind, n := range need {
		if n < 2 {
			continue
		}
		var sh sharedServer
		if kind.registry {
			var reg testRegistry
			sh.server, reg, sh.keys = newRegistryServer(t, kind.requireAuth, func(c *testConfig) {
				if kind.smallUploads {
					c.MaxUploadBytes = 1 << 10
				}
				c.notServing = kind.notReady
			})
			if kind.databaseDown {
				require.NoError(t, reg.SQLStore.Close())
			}
		} else {
			sh.server = newTestServer(t, !kind.notReady)
		}
		if kind.failing {
			failEveryRequest(sh.server)
		}
		out[kind] = sh
	}
	return out
}

// failEveryRequest makes every routed request panic just before its
// handler, to exercise the 500 path of every operation.
func failEveryRequest(s *Server) {
	s.echo.Use(func(echo.HandlerFunc) echo.HandlerFunc {
		return func(echo.Context) error { panic("database on fire: secret detail") }
	})
}

const jsonCT = "application/json"

func contractCases() []contractCase {
	predictBody := `{"texts":[{"text":"Transfer learning with transformers for text classification."},{"text":"Object detection with CNNs"}]}`
	return []contractCase{
		{name: "health", op: "healthCheck", req: request{method: "GET", path: "/"}, status: 200,
			check: func(t *testing.T, body map[string]any) {
				data := body["data"].(map[string]any)
				assert.Equal(t, fakeRunID, data["run_id"])
				assert.GreaterOrEqual(t, data["uptime_seconds"], 0.0)
			}},
		{name: "health wrong method", op: "healthCheck", req: request{method: "DELETE", path: "/"}, status: 405},
		{name: "health failure", op: "healthCheck", req: request{method: "GET", path: "/"}, status: 500, failing: true},
		{name: "health not ready", op: "healthCheck", req: request{method: "GET", path: "/"}, status: 503, notReady: true},

		{name: "live", op: "liveness", req: request{method: "GET", path: "/health/live"}, status: 200,
			check: func(t *testing.T, body map[string]any) {
				assert.Equal(t, "alive", body["data"].(map[string]any)["status"])
			}},
		{name: "live without a model", op: "liveness", req: request{method: "GET", path: "/health/live"}, status: 200, notReady: true},
		{name: "live wrong method", op: "liveness", req: request{method: "POST", path: "/health/live"}, status: 405},
		{name: "live failure", op: "liveness", req: request{method: "GET", path: "/health/live"}, status: 500, failing: true},
		{name: "ready", op: "readiness", req: request{method: "GET", path: "/health/ready"}, status: 200,
			check: func(t *testing.T, body map[string]any) {
				assert.Equal(t, "ready", body["data"].(map[string]any)["status"])
			}},
		{name: "ready wrong method", op: "readiness", req: request{method: "PUT", path: "/health/ready"}, status: 405},
		{name: "ready failure", op: "readiness", req: request{method: "GET", path: "/health/ready"}, status: 500, failing: true},
		{name: "ready without a model", op: "readiness", req: request{method: "GET", path: "/health/ready"}, status: 503, notReady: true},

		{name: "metrics", op: "getMetrics", req: request{method: "GET", path: "/metrics"}, status: 200},
		{name: "metrics wrong method", op: "getMetrics", req: request{method: "POST", path: "/metrics"}, status: 405},
		{name: "metrics failure", op: "getMetrics", req: request{method: "GET", path: "/metrics"}, status: 500, failing: true},

		{name: "performance all", op: "getPerformance", req: request{method: "GET", path: "/performance"}, status: 200,
			check: func(t *testing.T, body map[string]any) {
				perf := body["data"].(map[string]any)["performance"].(map[string]any)
				assert.ElementsMatch(t, []string{"overall", "class", "slices"}, keys(perf))
				assert.Equal(t, 0.85, perf["overall"].(map[string]any)["f1"])
			}},
		{name: "performance overall", op: "getPerformance", req: request{method: "GET", path: "/performance?filter=overall"}, status: 200,
			check: func(t *testing.T, body map[string]any) {
				assert.Equal(t, []string{"overall"}, keys(body["data"].(map[string]any)["performance"].(map[string]any)))
			}},
		{name: "performance class", op: "getPerformance", req: request{method: "GET", path: "/performance?filter=class"}, status: 200,
			check: func(t *testing.T, body map[string]any) {
				perf := body["data"].(map[string]any)["performance"].(map[string]any)
				assert.Equal(t, []string{"class"}, keys(perf))
				assert.ElementsMatch(t, []string{"computer-vision", "other"}, keys(perf["class"].(map[string]any)))
			}},
		{name: "performance slices", op: "getPerformance", req: request{method: "GET", path: "/performance?filter=slices"}, status: 200,
			check: func(t *testing.T, body map[string]any) {
				assert.Equal(t, []string{"slices"}, keys(body["data"].(map[string]any)["performance"].(map[string]any)))
			}},
		{name: "performance unknown filter", op: "getPerformance", req: request{method: "GET", path: "/performance?filter=everything"}, status: 422,
			check: expectProblem("query.filter", "enum", "overall, class, slices")},
		{name: "performance wrong method", op: "getPerformance", req: request{method: "POST", path: "/performance"}, status: 405},
		{name: "performance failure", op: "getPerformance", req: request{method: "GET", path: "/performance"}, status: 500, failing: true},
		{name: "performance not ready", op: "getPerformance", req: request{method: "GET", path: "/performance"}, status: 503, notReady: true},

		{name: "args", op: "getArgs", req: request{method: "GET", path: "/args"}, status: 200,
			check: func(t *testing.T, body map[string]any) {
				args := body["data"].(map[string]any)["args"].(map[string]any)
				assert.Equal(t, 0.1, args["learning_rate"])
				assert.Equal(t, false, args["stem"])
			}},
		{name: "args wrong method", op: "getArgs", req: request{method: "PUT", path: "/args"}, status: 405},
		{name: "args failure", op: "getArgs", req: request{method: "GET", path: "/args"}, status: 500, failing: true},
		{name: "args not ready", op: "getArgs", req: request{method: "GET", path: "/args"}, status: 503, notReady: true},

		{name: "arg", op: "getArg", req: request{method: "GET", path: "/args/learning_rate"}, status: 200,
			check: func(t *testing.T, body map[string]any) {
				assert.Equal(t, map[string]any{"learning_rate": 0.1}, body["data"])
			}},
		{name: "arg unknown", op: "getArg", req: request{method: "GET", path: "/args/no_such_arg"}, status: 404,
			check: expectProblem("path.arg", "not_found", "no_such_arg")},
		{name: "arg name too long", op: "getArg", req: request{method: "GET", path: "/args/" + strings.Repeat("a", 65)}, status: 422,
			check: expectProblem("path.arg", "too_long", "64")},
		{name: "arg wrong method", op: "getArg", req: request{method: "POST", path: "/args/alpha"}, status: 405},
		{name: "arg failure", op: "getArg", req: request{method: "GET", path: "/args/alpha"}, status: 500, failing: true},
		{name: "arg not ready", op: "getArg", req: request{method: "GET", path: "/args/alpha"}, status: 503, notReady: true},

		{name: "predict", op: "predict", req: request{method: "POST", path: "/predict", body: predictBody, contentType: jsonCT}, status: 200,
			check: func(t *testing.T, body map[string]any) {
				data := body["data"].(map[string]any)
				assert.Equal(t, fakeRunID, data["run_id"])
				preds := data["predictions"].([]any)
				require.Len(t, preds, 2)
				first, second := preds[0].(map[string]any), preds[1].(map[string]any)
				assert.Equal(t, "Transfer learning with transformers for text classification.", first["input_text"])
				assert.Equal(t, "natural-language-processing", first["predicted_tag"])
				assert.Equal(t, "computer-vision", second["predicted_tag"])
				assert.ElementsMatch(t, fakeClasses, keys(first["predicted_probabilities"].(map[string]any)))
			}},
		{name: "predict malformed JSON", op: "predict", req: request{method: "POST", path: "/predict", body: `{"texts": [`, contentType: jsonCT}, status: 400,
			check: expectProblem("body", "json_invalid", "JSON")},
		{name: "predict wrong method", op: "predict", req: request{method: "GET", path: "/predict"}, status: 405},
		{name: "predict body too large", op: "predict", req: request{method: "POST", path: "/predict",
			body: `{"texts":[{"text":"` + strings.Repeat("a", DefaultMaxBodyBytes) + `"}]}`, contentType: jsonCT}, status: 413,
			check: expectProblem("body", "body_too_large", "larger than")},
		{name: "predict wrong content type", op: "predict", req: request{method: "POST", path: "/predict", body: predictBody, contentType: "text/plain"}, status: 415,
			check: expectProblem("header.Content-Type", "unsupported_media_type", "application/json")},
		{name: "predict missing text", op: "predict", req: request{method: "POST", path: "/predict", body: `{"texts":[{}]}`, contentType: jsonCT}, status: 422,
			check: expectProblem("body.texts.0.text", "missing", "required")},
		{name: "predict failure", op: "predict", req: request{method: "POST", path: "/predict", body: predictBody, contentType: jsonCT}, status: 500, failing: true},
		{name: "predict not ready", op: "predict", req: request{method: "POST", path: "/predict", body: predictBody, contentType: jsonCT}, status: 503, notReady: true},
	}
}

// TestContract checks every documented response of every operation: each
// case's response must match the spec, and every status the spec documents
// for an operation must have a case.
func TestContract(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	routes := specRoutes(doc)
	covered := map[string]map[int]bool{}

	var mu sync.Mutex
	t.Run("cases", func(t *testing.T) {
		cases := append(append(contractCases(), registryContractCases(t, doc)...), oipContractCases()...)
		cases = append(cases, feedbackContractCases()...)
		shared := sharedServers(t, cases)
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				route, ok := routes[tc.op]
				require.True(t, ok, "no operation %q in the spec", tc.op)
				var s *Server
				req := tc.req
				sh, isShared := shared[tc.serverKind()]
				isShared = isShared && tc.changesNothing()
				if isShared {
					s = sh.server
					req = req.withHeader(sh.keys.as(tc.caller))
				} else if tc.registry {
					var reg testRegistry
					var k apiKeys
					s, reg, k = newRegistryServer(t, tc.requireAuth, func(c *testConfig) {
						if tc.smallUploads {
							c.MaxUploadBytes = 1 << 10
						}
						c.notServing = tc.notReady // as before the first model loads
					})
					if tc.prepare != nil {
						tc.prepare(t, reg)
					}
					if tc.databaseDown {
						require.NoError(t, reg.SQLStore.Close())
					}
					req = req.withHeader(k.as(tc.caller))
				} else {
					s = newTestServer(t, !tc.notReady)
				}
				if tc.failing && !isShared {
					failEveryRequest(s)
				}
				rec := do(s, req)
				require.Equal(t, tc.status, rec.Code, "body: %s", rec.Body.String())
				body := validateResponse(t, route, tc.req, rec.Code, rec.Header(), rec.Body.Bytes())
				if tc.check != nil {
					tc.check(t, body)
				}
				mu.Lock()
				defer mu.Unlock()
				if covered[tc.op] == nil {
					covered[tc.op] = map[int]bool{}
				}
				covered[tc.op][tc.status] = true
			})
		}
	})

	for op, route := range routes {
		for code := range route.Operation.Responses.Map() {
			status, err := strconv.Atoi(code)
			require.NoError(t, err, "operation %s documents a non-numeric status %q", op, code)
			assert.True(t, covered[op][status], "operation %s documents status %d but no contract case produces it", op, status)
		}
	}
}

// specRoutes indexes the spec's operations by operationId.
func specRoutes(doc *openapi3.T) map[string]*routers.Route {
	out := map[string]*routers.Route{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[op.OperationID] = &routers.Route{Spec: doc, Path: path, PathItem: item, Method: method, Operation: op}
		}
	}
	return out
}

// validateResponse checks a response against route's description of status
// with kin-openapi, checks the envelope against the request, and returns
// the decoded body.
func validateResponse(t *testing.T, route *routers.Route, r request, status int, header http.Header, body []byte) map[string]any {
	t.Helper()
	req, err := http.NewRequest(route.Method, "http://localhost"+r.path, nil)
	require.NoError(t, err)
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, Route: route},
		Status:                 status,
		Header:                 header,
		Body:                   io.NopCloser(bytes.NewReader(body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	require.NoError(t, openapi3filter.ValidateResponse(context.Background(), input), "response %d of %s: %s", status, route.Operation.OperationID, body)
	if !strings.HasPrefix(header.Get(echo.HeaderContentType), echo.MIMEApplicationJSON) {
		return nil // GET /metrics: the schema is all there is to check
	}
	if isOIPPath(r.path) {
		return checkOIPBody(t, status, header, body) // the protocol's shapes, no envelope
	}
	return checkEnvelope(t, r, status, header, body)
}

// checkEnvelope checks the fields every response has and returns the body.
func checkEnvelope(t *testing.T, r request, status int, header http.Header, body []byte) map[string]any {
	t.Helper()
	var got map[string]any
	require.NoError(t, json.Unmarshal(body, &got), "body is not JSON: %s", body)
	assert.Equal(t, float64(status), got["status-code"])
	assert.Equal(t, http.StatusText(status), got["message"])
	assert.Equal(t, r.method, got["method"])
	assert.True(t, strings.HasSuffix(got["url"].(string), r.path), "url %q does not end with %q", got["url"], r.path)
	assert.NotEmpty(t, header.Get(echo.HeaderXRequestID))
	if status >= 400 {
		assert.NotContains(t, string(body), "secret detail", "an internal error leaked to the client")
		assert.NotContains(t, string(body), "goroutine", "a stack trace leaked to the client")
	}
	if status == http.StatusMethodNotAllowed {
		assert.NotEmpty(t, header.Get(echo.HeaderAllow))
	}
	return got
}

// validateErrorBody checks a response that belongs to no operation (an
// unknown route) against the spec's ErrorEnvelope schema.
func validateErrorBody(t *testing.T, doc *openapi3.T, body []byte) {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	schema := doc.Components.Schemas["ErrorEnvelope"].Value
	require.NoError(t, schema.VisitJSON(v), "body: %s", body)
}

// expectProblem checks that an error body names a problem at location
// (dot-separated) of type typ whose message contains msg.
func expectProblem(location, typ, msg string) func(*testing.T, map[string]any) {
	return func(t *testing.T, body map[string]any) {
		t.Helper()
		var seen []string
		for _, p := range body["data"].(map[string]any)["errors"].([]any) {
			p := p.(map[string]any)
			var loc []string
			for _, l := range p["location"].([]any) {
				loc = append(loc, l.(string))
			}
			got := fmt.Sprintf("%s/%s/%s", strings.Join(loc, "."), p["type"], p["message"])
			if strings.Join(loc, ".") == location && p["type"] == typ && strings.Contains(p["message"].(string), msg) {
				return
			}
			seen = append(seen, got)
		}
		t.Errorf("no problem at %s of type %s mentioning %q; got %v", location, typ, msg, seen)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// registryContractCases covers the operations that need a key: a 401, a
// 405 and a 500 for each, derived from its sample request, then the cases
// particular to each.
func registryContractCases(t *testing.T, doc *openapi3.T) []contractCase {
	explainBody := `{"texts":[{"text":"Transfer learning with transformers for text classification."},{"text":"YOLO"}],"explain":{"features":3}}`
	v1, v2 := artifacts(t)
	samples := sampleRequests(v2)
	var cases []contractCase
	for op, r := range samples {
		down := expectProblem("", typeNotReady, "database does not answer")
		if strings.HasPrefix(op, "oip") {
			down = expectOIPError("database does not answer")
		}
		cases = append(cases,
			contractCase{name: op + " without a key", op: op, req: r, status: 401, registry: true, caller: "anonymous", requireAuth: true},
			contractCase{name: op + " failure", op: op, req: r, status: 500, registry: true, caller: "admin", failing: true},
			contractCase{name: op + " database down", op: op, req: r, status: 503, registry: true, caller: "admin", databaseDown: true, check: down},
			contractCase{name: op + " wrong method", op: op, req: request{method: otherMethod(doc, r.path), path: r.path}, status: 405, registry: true, caller: "admin"},
		)
	}
	reg := func(name, op string, r request, status int, caller string) contractCase {
		return contractCase{name: name, op: op, req: r, status: status, registry: true, caller: caller}
	}
	uploadV2 := func(t *testing.T, r testRegistry) {
		_, _, err := r.Upload(context.Background(), "tagifai", 2, v2, "test")
		require.NoError(t, err)
	}
	big := `{"version":1,"pad":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`
	octet := "application/octet-stream"
	post := func(path, body, ct string) request {
		return request{method: "POST", path: path, body: body, contentType: ct}
	}
	put := func(path, body, ct string) request {
		return request{method: "PUT", path: path, body: body, contentType: ct}
	}
	get := func(path string) request { return request{method: "GET", path: path} }
	del := func(path string) request { return request{method: "DELETE", path: path} }
	const serving, versioned = "/models/tagifai/serving-version", "/models/tagifai/versions/1/predictions"

	prepared := func(op string) func(*testing.T, testRegistry) {
		return func(t *testing.T, r testRegistry) { prepareSample(t, r, op, v2) }
	}
	for i := range cases {
		cases[i].prepare = prepared(cases[i].op)
	}
	const jobs = "/batch-jobs"
	csvBody := "id,text\n6,YOLO for object detection\n7,BERT for named entity recognition\n"
	cases = append(cases,
		reg("batch job", "createBatchJob", samples["createBatchJob"], 202, "predictor"),
		reg("batch job from CSV", "createBatchJob", post(jobs, csvBody, "text/csv"), 202, "predictor"),
		reg("batch job, malformed", "createBatchJob", post(jobs, `{"items":[`, jsonCT), 400, "predictor"),
		reg("batch job as a viewer", "createBatchJob", samples["createBatchJob"], 403, "viewer").withRequireAuth(), // without it, anyone may
		reg("batch job, unknown version", "createBatchJob", post(jobs, `{"items":[{"id":"1","text":"x"}],"version":9}`, jsonCT), 404, "predictor").
			withCheck(expectProblem("body.version", "not_found", "9")),
		contractCase{name: "batch job, CSV too large", op: "createBatchJob", req: post(jobs, "id,text\n1,"+strings.Repeat("x", 2<<10)+"\n", "text/csv"),
			status: 413, registry: true, caller: "predictor", smallUploads: true},
		contractCase{name: "batch job, key used for another request", op: "createBatchJob", status: 409, registry: true, caller: "predictor",
			req: samples["createBatchJob"].withHeader(http.Header{"Idempotency-Key": {"contract-key"}}),
			prepare: func(t *testing.T, r testRegistry) {
				_, _, err := r.CreateJob(context.Background(), registry.Job{ID: "00000000000000cc", Model: DefaultModelName, Version: 1,
					Status: registry.JobQueued, Total: 1, CreatedBy: "predictor-user", CreatedAt: time.Now(), IdempotencyKey: "contract-key", RequestSHA256: "other"},
					[]registry.Item{{ID: "1", Text: "x"}}, enqueueNothing)
				require.NoError(t, err)
			},
			check: func(t *testing.T, body map[string]any) {
				problem := body["data"].(map[string]any)["errors"].([]any)[0].(map[string]any)
				assert.Equal(t, []any{"header", "Idempotency-Key"}, problem["location"])
				assert.Contains(t, problem["message"], "00000000000000cc")
			}},
		reg("batch job as text", "createBatchJob", post(jobs, "6,x", "text/plain"), 415, "predictor"),
		reg("batch job, no items", "createBatchJob", post(jobs, `{"items":[]}`, jsonCT), 422, "predictor"),
		reg("batch job, CSV without ids", "createBatchJob", post(jobs, "text\nYOLO\n", "text/csv"), 422, "predictor"),
		contractCase{name: "batch job before a model loads", op: "createBatchJob", req: samples["createBatchJob"], status: 503, registry: true, caller: "predictor", notReady: true},
		contractCase{name: "get batch job", op: "getBatchJob", req: samples["getBatchJob"], status: 200, registry: true, caller: "predictor", prepare: prepared("getBatchJob")},
		contractCase{name: "get batch job that two replicas run", op: "getBatchJob", req: get(jobs + "/00000000000000aa"), status: 200, registry: true, caller: "predictor",
			prepare: func(t *testing.T, r testRegistry) {
				ctx := context.Background()
				now := time.Now()
				_, _, err := r.CreateJob(ctx, registry.Job{ID: "00000000000000aa", Model: DefaultModelName, Version: 1,
					Status: registry.JobQueued, Total: 3, CreatedBy: "test", CreatedAt: now},
					[]registry.Item{{ID: "1", Text: "x"}, {ID: "2", Text: "y"}, {ID: "3", Text: "z"}}, enqueueNothing)
				require.NoError(t, err)
				for i, replica := range []string{"replica-x", "replica-y"} {
					_, err = r.SaveChunk(ctx, "00000000000000aa", registry.Chunk{Replica: replica, First: i, Items: 1, At: now}, withinNothing)
					require.NoError(t, err)
				}
			},
			check: func(t *testing.T, body map[string]any) {
				data := body["data"].(map[string]any)
				assert.Equal(t, "running", data["status"])
				assert.Equal(t, 2.0, data["done"])
				assert.Equal(t, []any{map[string]any{"replica": "replica-x", "items": 1.0}, map[string]any{"replica": "replica-y", "items": 1.0}}, data["replicas"])
			}},
		reg("get batch job as a viewer", "getBatchJob", samples["getBatchJob"], 403, "viewer").withRequireAuth(), // without it, anyone may
		reg("get unknown batch job", "getBatchJob", get(jobs+"/ffffffffffffffff"), 404, "predictor"),
		reg("get batch job, bad id", "getBatchJob", get(jobs+"/not-an-id"), 422, "predictor"),
		contractCase{name: "list batch jobs", op: "listBatchJobs", req: samples["listBatchJobs"], status: 200, registry: true, caller: "predictor", prepare: prepared("listBatchJobs"),
			check: func(t *testing.T, body map[string]any) {
				data := body["data"].(map[string]any)
				jobs := data["jobs"].([]any)
				require.Len(t, jobs, 1)
				assert.Equal(t, sampleJobID, jobs[0].(map[string]any)["id"])
				assert.NotContains(t, data, "next_cursor", "the only job")
			}},
		reg("list batch jobs as a viewer", "listBatchJobs", samples["listBatchJobs"], 403, "viewer").withRequireAuth(), // without it, anyone may
		reg("list batch jobs, unknown status", "listBatchJobs", get(jobs+"?status=paused"), 422, "predictor"),
		reg("list batch jobs, limit 101", "listBatchJobs", get(jobs+"?limit=101"), 422, "predictor"),
		reg("list batch jobs, made-up cursor", "listBatchJobs", get(jobs+"?cursor=x"), 422, "predictor"),
		reg("list batch jobs, cursor out of range", "listBatchJobs", get(jobs+"?cursor=9999999999999999999-0123456789abcdef"), 422, "predictor"),
		contractCase{name: "delete batch job", op: "deleteBatchJob", req: samples["deleteBatchJob"], status: 200, registry: true, caller: "predictor", prepare: prepared("deleteBatchJob"),
			check: func(t *testing.T, body map[string]any) {
				data := body["data"].(map[string]any)
				assert.Equal(t, sampleJobID, data["id"])
				assert.Equal(t, "succeeded", data["status"], "the job as it was")
			}},
		reg("delete batch job as a viewer", "deleteBatchJob", samples["deleteBatchJob"], 403, "viewer").withRequireAuth(), // without it, anyone may
		reg("delete unknown batch job", "deleteBatchJob", request{method: "DELETE", path: jobs + "/ffffffffffffffff"}, 404, "predictor"),
		reg("delete batch job, bad id", "deleteBatchJob", request{method: "DELETE", path: jobs + "/not-an-id"}, 422, "predictor"),
		contractCase{name: "batch predictions", op: "listBatchJobPredictions", req: samples["listBatchJobPredictions"], status: 200, registry: true, caller: "predictor", prepare: prepared("listBatchJobPredictions")},
		reg("batch predictions as a viewer", "listBatchJobPredictions", samples["listBatchJobPredictions"], 403, "viewer").withRequireAuth(), // without it, anyone may
		reg("batch predictions of unknown job", "listBatchJobPredictions", get(jobs+"/ffffffffffffffff/predictions"), 404, "predictor"),
		reg("batch predictions, limit 0", "listBatchJobPredictions", get(jobs+"/ffffffffffffffff/predictions?limit=0"), 422, "predictor"),
		contractCase{name: "stored prediction", op: "getStoredPrediction", req: samples["getStoredPrediction"], status: 200, registry: true, caller: "predictor", prepare: prepared("getStoredPrediction")},
		reg("stored prediction as a viewer", "getStoredPrediction", samples["getStoredPrediction"], 403, "viewer").withRequireAuth(), // without it, anyone may
		reg("no stored prediction", "getStoredPrediction", get("/predictions/never-seen"), 404, "predictor"),
		reg("stored prediction, id too long", "getStoredPrediction", get("/predictions/"+strings.Repeat("x", 129)), 422, "predictor"),
		contractCase{name: "stored prediction before a model loads", op: "getStoredPrediction", req: samples["getStoredPrediction"], status: 503, registry: true, caller: "predictor", notReady: true},
	)
	cases = append(cases,
		reg("predict with a viewer key", "predict", samples["predict"], 403, "viewer").withRequireAuth(), // without it, anyone may
		reg("list models", "listModels", samples["listModels"], 200, "viewer"),
		reg("get model", "getModel", samples["getModel"], 200, "viewer"),
		reg("get unknown model", "getModel", get("/models/nope"), 404, "viewer"),
		reg("get model with a bad name", "getModel", get("/models/Not_A_Name"), 422, "viewer"),
		reg("list versions", "listVersions", samples["listVersions"], 200, "viewer"),
		reg("list versions of unknown model", "listVersions", get("/models/nope/versions"), 404, "viewer"),
		reg("list versions with a bad name", "listVersions", get("/models/-x/versions"), 422, "viewer"),
		reg("get version", "getVersion", samples["getVersion"], 200, "viewer"),
		reg("get unknown version", "getVersion", get("/models/tagifai/versions/9"), 404, "viewer"),
		reg("get version not a number", "getVersion", get("/models/tagifai/versions/latest"), 422, "viewer"),
		reg("upload", "uploadVersion", samples["uploadVersion"], 201, "admin"),
		reg("upload the same bytes again", "uploadVersion", put("/models/tagifai/versions/1", string(v1), octet), 200, "admin"),
		reg("upload as a predictor", "uploadVersion", samples["uploadVersion"], 403, "predictor"),
		reg("upload other bytes", "uploadVersion", put("/models/tagifai/versions/1", string(v2), octet), 409, "admin"),
		contractCase{name: "upload, stale If-Match", op: "uploadVersion", req: samples["uploadVersion"].withHeader(http.Header{"If-Match": {`"99999"`}}), status: 412, registry: true, caller: "admin",
			check: expectProblem("header.If-Match", "precondition_failed", "changed since it was read")},
		contractCase{name: "upload a new model with If-Match", op: "uploadVersion", req: put("/models/other/versions/1", string(v1), octet).withHeader(http.Header{"If-Match": {`"1"`}}), status: 412, registry: true, caller: "admin",
			check: expectProblem("header.If-Match", "precondition_failed", "does not exist yet")},
		reg("upload JSON", "uploadVersion", put("/models/tagifai/versions/2", `{}`, jsonCT), 415, "admin"),
		reg("upload garbage", "uploadVersion", put("/models/tagifai/versions/2", "garbage", octet), 422, "admin"),
		contractCase{name: "upload too large", op: "uploadVersion", req: samples["uploadVersion"], status: 413, registry: true, caller: "admin", smallUploads: true},
		contractCase{name: "delete", op: "deleteVersion", req: samples["deleteVersion"], status: 200, registry: true, caller: "admin", prepare: uploadV2},
		contractCase{name: "delete as a viewer", op: "deleteVersion", req: samples["deleteVersion"], status: 403, registry: true, caller: "viewer", prepare: uploadV2},
		reg("delete unknown version", "deleteVersion", del("/models/tagifai/versions/9"), 404, "admin"),
		reg("delete the serving version", "deleteVersion", del("/models/tagifai/versions/1"), 409, "admin"),
		reg("delete version zero", "deleteVersion", del("/models/tagifai/versions/0"), 422, "admin"),
		reg("serve", "setServingVersion", samples["setServingVersion"], 200, "admin"),
		reg("serve as a predictor", "setServingVersion", samples["setServingVersion"], 403, "predictor"),
		reg("serve malformed JSON", "setServingVersion", put(serving, `{"version":`, jsonCT), 400, "admin"),
		reg("serve unknown version", "setServingVersion", put(serving, `{"version":9}`, jsonCT), 404, "admin"),
		reg("serve a huge body", "setServingVersion", put(serving, big, jsonCT), 413, "admin"),
		reg("serve as text", "setServingVersion", put(serving, `{"version":1}`, "text/plain"), 415, "admin"),
		reg("serve version zero", "setServingVersion", put(serving, `{"version":0}`, jsonCT), 422, "admin"),
		reg("predict with version", "predictWithVersion", samples["predictWithVersion"], 200, "predictor"),
		reg("predict with version as a viewer", "predictWithVersion", samples["predictWithVersion"], 403, "viewer").withRequireAuth(), // without it, anyone may
		reg("predict with version, malformed", "predictWithVersion", post(versioned, `{`, jsonCT), 400, "predictor"),
		reg("predict with unknown version", "predictWithVersion", post("/models/tagifai/versions/9/predictions", samples["predict"].body, jsonCT), 404, "predictor"),
		reg("predict with version, huge", "predictWithVersion", post(versioned, big, jsonCT), 413, "predictor"),
		reg("predict with version, as text", "predictWithVersion", post(versioned, "hi", "text/plain"), 415, "predictor"),
		reg("predict with version, no texts", "predictWithVersion", post(versioned, `{"texts":[]}`, jsonCT), 422, "predictor"),
		withCheck(reg("predict, not explained", "predict", samples["predict"], 200, "predictor"), func(t *testing.T, body map[string]any) {
			for _, p := range body["data"].(map[string]any)["predictions"].([]any) {
				assert.NotContains(t, p.(map[string]any), "explanation", "no explanation unless asked")
			}
		}),
		withCheck(reg("predict, explained", "predict", post("/predict", explainBody, jsonCT), 200, "predictor"), checkExplained),
		withCheck(reg("predict with version, explained", "predictWithVersion", post(versioned, explainBody, jsonCT), 200, "predictor"), checkExplained),
		withCheck(reg("predict, explained by default", "predict", post("/predict", `{"texts":[{"text":"Transfer learning with transformers for text classification."}],"explain":{}}`, jsonCT), 200, "predictor"),
			func(t *testing.T, body map[string]any) {
				p := body["data"].(map[string]any)["predictions"].([]any)[0].(map[string]any)
				assert.Len(t, p["explanation"].(map[string]any)["features"], DefaultExplainFeatures, "explain: {} shows the default number of features")
			}),
		withCheck(reg("predict, explain too many features", "predict", post("/predict", `{"texts":[{"text":"x"}],"explain":{"features":51}}`, jsonCT), 422, "predictor"),
			expectProblem("body.explain.features", "invalid", "at most 50")),
		withCheck(reg("predict with version, explain an unknown option", "predictWithVersion", post(versioned, `{"texts":[{"text":"x"}],"explain":{"why":true}}`, jsonCT), 422, "predictor"),
			expectProblem("body.explain.why", "extra_field", "unknown field")),
		withCheck(reg("performance with a confusion matrix", "getPerformance", get("/performance"), 200, "viewer"), checkConfusionMatrix("data")),
		withCheck(reg("version with a confusion matrix", "getVersion", get("/models/tagifai/versions/1"), 200, "viewer"), checkConfusionMatrix("data")),
		reg("list users", "listUsers", samples["listUsers"], 200, "admin"),
		reg("list users as a predictor", "listUsers", samples["listUsers"], 403, "predictor"),
		reg("create user", "createUser", samples["createUser"], 201, "admin"),
		reg("create user as a viewer", "createUser", samples["createUser"], 403, "viewer"),
		reg("create user, malformed", "createUser", post("/users", `{"name":`, jsonCT), 400, "admin"),
		reg("create user who exists", "createUser", post("/users", `{"name":"admin-user","role":"viewer"}`, jsonCT), 409, "admin").
			withCheck(expectProblem("body.name", "conflict", "admin-user")),
		reg("create user, huge", "createUser", post("/users", big, jsonCT), 413, "admin"),
		reg("create user as form", "createUser", post("/users", "name=x", "application/x-www-form-urlencoded"), 415, "admin"),
		reg("create user with no such role", "createUser", post("/users", `{"name":"x","role":"king"}`, jsonCT), 422, "admin"),
		reg("create user with a reserved name", "createUser", post("/users", `{"name":"guard","role":"admin"}`, jsonCT), 422, "admin"),
		reg("revoke user", "revokeUser", samples["revokeUser"], 200, "admin"),
		reg("revoke user as a predictor", "revokeUser", samples["revokeUser"], 403, "predictor"),
		reg("revoke unknown user", "revokeUser", del("/users/nobody"), 404, "admin"),
		reg("revoke user with a bad name", "revokeUser", del("/users/No!"), 422, "admin"),
	)
	cases = append(cases, rolloutContractCases(samples, v2)...)
	return cases
}

// rolloutContractCases cover rollouts, conditional changes and the audit
// trail.
func rolloutContractCases(samples map[string]request, v2 []byte) []contractCase {
	const rollout = "/models/tagifai/rollout"
	withV2 := func(t *testing.T, r testRegistry) {
		_, _, err := r.Upload(context.Background(), "tagifai", 2, v2, "test")
		require.NoError(t, err)
	}
	running := func(t *testing.T, r testRegistry) { prepareSample(t, r, "getRollout", v2) }
	// withThird: a rollout of version 2 runs beside version 1, and a
	// version 3 exists.
	withThird := func(t *testing.T, r testRegistry) {
		running(t, r)
		art, err := model.Decode(bytes.NewReader(v2))
		require.NoError(t, err)
		art.RunID = "third-run"
		var buf bytes.Buffer
		require.NoError(t, model.Encode(&buf, art))
		_, _, err = r.Upload(context.Background(), "tagifai", 3, buf.Bytes(), "test")
		require.NoError(t, err)
	}
	c := func(name, op string, req request, status int, caller string, prepare func(*testing.T, testRegistry), check func(*testing.T, map[string]any)) contractCase {
		return contractCase{name: name, op: op, req: req, status: status, registry: true, caller: caller, prepare: prepare, check: check}
	}
	put := func(path, body string, h ...string) request {
		r := request{method: "PUT", path: path, body: body, contentType: jsonCT, header: http.Header{}}
		for i := 0; i+1 < len(h); i += 2 {
			r.header.Set(h[i], h[i+1])
		}
		return r
	}
	stale := []string{"If-Match", `"1"`}
	return []contractCase{
		c("get rollout", "getRollout", samples["getRollout"], 200, "viewer", running, func(t *testing.T, body map[string]any) {
			data := body["data"].(map[string]any)
			assert.Equal(t, "active", data["status"])
			assert.EqualValues(t, 2, data["candidate"])
			assert.EqualValues(t, 1, data["serving_version"])
		}),
		c("get rollout of a model that never had one", "getRollout", samples["getRollout"], 404, "viewer", nil, expectProblem("path", "not_found", "has no rollout")),
		c("get rollout, bad model name", "getRollout", request{method: "GET", path: "/models/No!/rollout"}, 422, "viewer", nil, nil),

		c("start rollout", "startRollout", samples["startRollout"], 200, "admin", withV2, func(t *testing.T, body map[string]any) {
			data := body["data"].(map[string]any)
			assert.Equal(t, "shadow", data["mode"])
			assert.Equal(t, "admin-user", data["started_by"])
			assert.Equal(t, "replica", data["stats"].(map[string]any)["scope"])
		}),
		c("start rollout as a predictor", "startRollout", samples["startRollout"], 403, "predictor", withV2, nil),
		c("start rollout, malformed", "startRollout", put(rollout, `{"candidate":`), 400, "admin", withV2, nil),
		c("start rollout of a missing candidate", "startRollout", put(rollout, `{"candidate":9,"mode":"shadow"}`), 404, "admin", nil,
			expectProblem("body.candidate", "not_found", "has no version 9")),
		c("start rollout of an unknown model", "startRollout", put("/models/nope/rollout", `{"candidate":2,"mode":"shadow"}`), 404, "admin", nil,
			expectProblem("path", "not_found", "no model named")),
		c("start a second rollout", "startRollout", put(rollout, `{"candidate":3,"mode":"canary","percent":5}`), 409, "admin", withThird,
			expectProblem("path", "conflict", "a rollout of version 2 of tagifai runs")),
		c("start rollout, stale If-Match", "startRollout", put(rollout, `{"candidate":2,"mode":"shadow"}`, stale...), 412, "admin", withV2,
			expectProblem("header.If-Match", "precondition_failed", "changed since it was read")),
		c("start rollout, huge", "startRollout", put(rollout, `{"candidate":2,"mode":"shadow","pad":"`+strings.Repeat("x", DefaultMaxBodyBytes)+`"}`), 413, "admin", withV2, nil),
		c("start rollout as text", "startRollout", request{method: "PUT", path: rollout, body: `{"candidate":2,"mode":"shadow"}`, contentType: "text/plain"}, 415, "admin", withV2, nil),
		c("start rollout, percent over 100", "startRollout", put(rollout, `{"candidate":2,"mode":"canary","percent":101}`), 422, "admin", withV2,
			expectProblem("body.percent", "invalid", "100")),
		c("start rollout, negative percent", "startRollout", put(rollout, `{"candidate":2,"mode":"canary","percent":-1}`), 422, "admin", withV2, nil),
		c("start canary without a percent", "startRollout", put(rollout, `{"candidate":2,"mode":"canary"}`), 422, "admin", withV2,
			expectProblem("body.percent", "missing", "percent of callers")),
		c("start rollout of the serving version", "startRollout", put(rollout, `{"candidate":1,"mode":"shadow"}`), 422, "admin", withV2,
			expectProblem("body", "invalid", "already serves")),
		c("start rollout, unknown mode", "startRollout", put(rollout, `{"candidate":2,"mode":"blue-green","percent":5}`), 422, "admin", withV2, nil),
		c("start rollout with an agreement guard on a canary", "startRollout", put(rollout, `{"candidate":2,"mode":"canary","percent":5,"guard":{"min_agreement":0.9}}`), 422, "admin", withV2,
			expectProblem("body.guard", "invalid", "live F1")),
		c("start rollout with a live-F1 guard on a shadow", "startRollout", put(rollout, `{"candidate":2,"mode":"shadow","guard":{"min_live_f1":0.8}}`), 422, "admin", withV2,
			expectProblem("body.guard", "invalid", "no feedback reaches it")),
		c("start canary with a guard without min_live_f1", "startRollout", put(rollout, `{"candidate":2,"mode":"canary","percent":5,"guard":{"min_labels":10}}`), 422, "admin", withV2,
			expectProblem("body.guard.min_live_f1", "missing", "least live F1")),
		c("start shadow with a guard without min_agreement", "startRollout", put(rollout, `{"candidate":2,"mode":"shadow","guard":{"min_samples":10}}`), 422, "admin", withV2,
			expectProblem("body.guard.min_agreement", "missing", "least agreement")),
		c("start rollout, live F1 over 1", "startRollout", put(rollout, `{"candidate":2,"mode":"canary","percent":5,"guard":{"min_live_f1":1.5}}`), 422, "admin", withV2, nil),
		c("start a canary with a live-F1 guard", "startRollout", put(rollout, `{"candidate":2,"mode":"canary","percent":5,"guard":{"min_live_f1":0.8}}`), 200, "admin", withV2, func(t *testing.T, body map[string]any) {
			assert.Equal(t, map[string]any{"min_live_f1": 0.8, "min_labels": float64(50)}, body["data"].(map[string]any)["guard"])
		}),

		c("abort rollout", "abortRollout", samples["abortRollout"], 200, "admin", running, func(t *testing.T, body map[string]any) {
			data := body["data"].(map[string]any)
			assert.Equal(t, "aborted", data["status"])
			assert.Equal(t, "aborted by admin-user", data["reason"])
			assert.Contains(t, data, "ended_at")
		}),
		c("abort rollout as a viewer", "abortRollout", samples["abortRollout"], 403, "viewer", running, nil),
		c("abort when none runs", "abortRollout", samples["abortRollout"], 404, "admin", nil, nil),
		c("abort rollout, stale If-Match", "abortRollout", request{method: "DELETE", path: rollout, header: http.Header{"If-Match": {`"1"`}}}, 412, "admin", running, nil),
		c("abort rollout, bad model name", "abortRollout", request{method: "DELETE", path: "/models/No!/rollout"}, 422, "admin", nil, nil),

		c("serve another version during a rollout", "setServingVersion", put("/models/tagifai/serving-version", `{"version":1}`), 200, "admin", running, nil),
		c("serve, stale If-Match", "setServingVersion", put("/models/tagifai/serving-version", `{"version":2}`, stale...), 412, "admin", withV2,
			expectProblem("header.If-Match", "precondition_failed", "read it again")),
		c("serve a third version during a rollout", "setServingVersion", put("/models/tagifai/serving-version", `{"version":3}`), 409, "admin", withThird,
			expectProblem("path", "conflict", "promote it (serve version 2) or abort it")),
		c("delete version, stale If-Match", "deleteVersion", request{method: "DELETE", path: "/models/tagifai/versions/2", header: http.Header{"If-Match": {`"1", W/"2"`}}}, 412, "admin", withV2, nil),
		c("delete the candidate of a rollout", "deleteVersion", request{method: "DELETE", path: "/models/tagifai/versions/2"}, 409, "admin", running,
			expectProblem("path", "conflict", "candidate of the running rollout")),

		c("audit events", "listAuditEvents", samples["listAuditEvents"], 200, "admin", withV2, func(t *testing.T, body map[string]any) {
			data := body["data"].(map[string]any)
			events := data["events"].([]any)
			require.Len(t, events, 2)
			first := events[0].(map[string]any)
			assert.Equal(t, "version.upload", first["action"])
			assert.Equal(t, "models/tagifai/versions/2", first["resource"])
			assert.Equal(t, "cli", first["user"])
			assert.Contains(t, data, "next_cursor")
		}),
		c("audit events as a predictor", "listAuditEvents", samples["listAuditEvents"], 403, "predictor", nil, nil),
		c("audit events, limit 501", "listAuditEvents", request{method: "GET", path: "/audit-events?limit=501"}, 422, "admin", nil, nil),
		c("audit events, a cursor of letters", "listAuditEvents", request{method: "GET", path: "/audit-events?cursor=abc"}, 422, "admin", nil, nil),
		c("audit events, a wildcard resource", "listAuditEvents", request{method: "GET", path: "/audit-events?resource=models/%25"}, 422, "admin", nil, nil),
	}
}

// otherMethod returns a method that path does not take.
func otherMethod(doc *openapi3.T, path string) string {
	item := findPathItem(doc, path)
	for _, m := range []string{"PATCH", "DELETE", "PUT", "POST", "GET"} {
		if item != nil && item.GetOperation(m) == nil {
			return m
		}
	}
	panic("server: no free method on " + path)
}

// findPathItem returns the spec's path item whose template matches path.
func findPathItem(doc *openapi3.T, path string) *openapi3.PathItem {
	path, _, _ = strings.Cut(path, "?")
	parts := strings.Split(path, "/")
	for tmpl, item := range doc.Paths.Map() {
		tparts := strings.Split(tmpl, "/")
		if len(tparts) != len(parts) {
			continue
		}
		match := true
		for i := range parts {
			if !strings.HasPrefix(tparts[i], "{") && tparts[i] != parts[i] {
				match = false
				break
			}
		}
		if match {
			return item
		}
	}
	return nil
}

func withCheck(c contractCase, check func(*testing.T, map[string]any)) contractCase {
	c.check = check
	return c
}

// checkExplained checks the explanations of explainBody's predictions by
// the committed model: three features each, in descending order of
// contribution, with spans that point at the text's words.
func checkExplained(t *testing.T, body map[string]any) {
	preds := body["data"].(map[string]any)["predictions"].([]any)
	require.Len(t, preds, 2)
	first := preds[0].(map[string]any)
	ex, ok := first["explanation"].(map[string]any)
	require.True(t, ok, "an explanation when asked: %v", first)
	assert.Equal(t, first["predicted_tag"], ex["class"])
	features := ex["features"].([]any)
	require.Len(t, features, 3)
	text := []rune(first["input_text"].(string))
	last := math.Inf(1)
	for _, f := range features {
		f := f.(map[string]any)
		c := f["contribution"].(float64)
		assert.LessOrEqual(t, c, last)
		last = c
		assert.InDelta(t, f["value"].(float64)*f["weight"].(float64), c, 1e-12)
		spans := f["spans"].([]any)
		require.NotEmpty(t, spans, f)
		sp := spans[0].([]any)
		word := strings.ToLower(string(text[int(sp[0].(float64)):int(sp[1].(float64))]))
		if f["kind"] == "word" {
			assert.True(t, strings.HasPrefix(word, f["feature"].(string)), "%v at %q", f, word)
		}
	}
	assert.Contains(t, preds[1].(map[string]any), "explanation")
}

// checkConfusionMatrix checks the confusion matrix of the performance
// report at path in the body: one row and one column per label, and as
// many examples as the report counts.
func checkConfusionMatrix(path ...string) func(*testing.T, map[string]any) {
	return func(t *testing.T, body map[string]any) {
		obj := body
		for _, p := range path {
			obj = obj[p].(map[string]any)
		}
		perf := obj["performance"].(map[string]any)
		cm, ok := perf["confusion_matrix"].(map[string]any)
		require.True(t, ok, "a confusion matrix in %v", keys(perf))
		labels, rows := cm["labels"].([]any), cm["matrix"].([]any)
		require.Len(t, rows, len(labels))
		total := 0.0
		for _, r := range rows {
			require.Len(t, r.([]any), len(labels))
			for _, n := range r.([]any) {
				total += n.(float64)
			}
		}
		assert.Equal(t, perf["overall"].(map[string]any)["num_samples"], total)
	}
}
