package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry"
)

var (
	tinyOnce     sync.Once
	tinyArtifact []byte
	tinyErr      error
)

// trainedCandidate returns a second, different model: trained in the test
// on the small fixture texts of model/testdata, for few epochs, so that it
// disagrees with the committed model on some texts.
func trainedCandidate(t testing.TB) ([]byte, *model.Classifier) {
	t.Helper()
	tinyOnce.Do(func() {
		examples, err := model.ReadCSV("../model/testdata/train.csv")
		if err != nil {
			tinyErr = err
			return
		}
		args := model.DefaultArgs()
		args.MinFreq, args.NumEpochs = 5, 3
		res, err := model.Train(context.Background(), examples, args, 7, nil)
		if err != nil {
			tinyErr = err
			return
		}
		var buf bytes.Buffer
		tinyErr = model.Encode(&buf, &model.Artifact{RunID: "tiny-candidate", CreatedAt: time.Now().UTC(), Args: args, Classifier: res.Classifier})
		tinyArtifact = buf.Bytes()
	})
	require.NoError(t, tinyErr)
	art, err := model.Decode(bytes.NewReader(tinyArtifact))
	require.NoError(t, err)
	return tinyArtifact, art.Classifier
}

// fixtureTexts are texts to send: the fixture's, which the two versions
// tag differently now and then.
func fixtureTexts(t testing.TB) []string {
	t.Helper()
	examples, err := model.ReadCSV("../model/testdata/train.csv")
	require.NoError(t, err)
	return model.Texts(examples)
}

func committedClassifier(t testing.TB) *model.Classifier {
	t.Helper()
	v1, _ := artifacts(t)
	art, err := model.Decode(bytes.NewReader(v1))
	require.NoError(t, err)
	return art.Classifier
}

// rolloutServer is a registry server (version 1 serving) with the trained
// candidate uploaded as version 2.
func rolloutServer(t *testing.T) (*Server, apiKeys) {
	t.Helper()
	s, reg, k := newRegistryServer(t, false)
	cand, _ := trainedCandidate(t)
	_, _, err := reg.Upload(context.Background(), DefaultModelName, 2, cand, "test")
	require.NoError(t, err)
	return s, k
}

func startRollout(t *testing.T, s http.Handler, k apiKeys, body string) *requestResult {
	t.Helper()
	r := doResult(s, request{method: "PUT", path: "/models/tagifai/rollout", body: body, contentType: jsonCT, header: k.as("admin")})
	require.Equal(t, http.StatusOK, r.status, r.body)
	return r
}

func getRollout(t *testing.T, s http.Handler, k apiKeys) map[string]any {
	t.Helper()
	r := doResult(s, request{method: "GET", path: "/models/tagifai/rollout", header: k.as("viewer")})
	require.Equal(t, http.StatusOK, r.status, r.body)
	return r.data()
}

func textsBody(texts ...string) string {
	in := make([]map[string]string, len(texts))
	for i, t := range texts {
		in[i] = map[string]string{"text": t}
	}
	b, _ := json.Marshal(map[string]any{"texts": in})
	return string(b)
}

// TestShadowAgreement: a shadow of all traffic compares the candidate with
// the serving version on exactly the texts sent, and reports the agreement
// rate, the confusion and the tag counts that predicting the texts with
// both versions directly gives; every response is the serving version's.
// /v2 infer traffic is shadowed too.
func TestShadowAgreement(t *testing.T) {
	t.Parallel()
	s, k := rolloutServer(t)
	_, cand := trainedCandidate(t)
	serving := committedClassifier(t)
	texts := fixtureTexts(t)
	require.GreaterOrEqual(t, len(texts), 40)

	startRollout(t, s, k, `{"candidate":2,"mode":"shadow"}`)
	// One text per request, then the rest two at a time through /v2 infer.
	half := len(texts) / 2
	for _, text := range texts[:half] {
		r := doResult(s, request{method: "POST", path: "/predict", body: textsBody(text), contentType: jsonCT})
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.EqualValues(t, 1, r.data()["version"], "a shadow never answers")
	}
	for i := half; i < len(texts); i += 2 {
		batch := texts[i:min(i+2, len(texts))]
		quoted, _ := json.Marshal(batch)
		r := doResult(s, request{method: "POST", path: "/v2/models/tagifai/infer", contentType: jsonCT,
			body: oipTextInput(fmt.Sprintf("[%d]", len(batch)), string(quoted))})
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Contains(t, r.body, `"model_version":"1"`)
	}

	var stats map[string]any
	require.Eventually(t, func() bool {
		stats = getRollout(t, s, k)["stats"].(map[string]any)
		return stats["shadow"].(map[string]any)["compared"].(float64) == float64(len(texts))
	}, 10*time.Second, 5*time.Millisecond, "the candidate compares every text")

	// The direct comparison.
	sp, cp := serving.PredictBatch(texts), cand.PredictBatch(texts)
	agreed := 0
	servingTags, candTags := map[string]float64{}, map[string]float64{}
	for i := range texts {
		if sp[i].Tag == cp[i].Tag {
			agreed++
		}
		servingTags[sp[i].Tag]++
		candTags[cp[i].Tag]++
	}
	require.Less(t, agreed, len(texts), "the test needs versions that disagree somewhere")
	require.Greater(t, agreed, 0)

	shadow := stats["shadow"].(map[string]any)
	assert.InDelta(t, float64(agreed)/float64(len(texts)), shadow["agreement_rate"], 1e-12)
	assert.EqualValues(t, agreed, shadow["agreed"])
	assert.EqualValues(t, 0, shadow["dropped"])
	requests := half + (len(texts)-half+1)/2
	assert.EqualValues(t, requests, shadow["sampled"])
	labels := shadow["confusion"].(map[string]any)["labels"].([]any)
	matrix := shadow["confusion"].(map[string]any)["matrix"].([]any)
	idx := map[string]int{}
	for i, l := range labels {
		idx[l.(string)] = i
	}
	want := make([][]float64, len(labels))
	for i := range want {
		want[i] = make([]float64, len(labels))
	}
	for i := range texts {
		want[idx[sp[i].Tag]][idx[cp[i].Tag]]++
	}
	for i, row := range matrix {
		for j, n := range row.([]any) {
			assert.Equal(t, want[i][j], n, "confusion[%s][%s]", labels[i], labels[j])
		}
	}
	side := func(name string) map[string]any { return stats[name].(map[string]any) }
	assert.EqualValues(t, requests, side("serving")["requests"])
	assert.EqualValues(t, requests, side("candidate")["requests"])
	assert.EqualValues(t, len(texts), side("candidate")["predictions"])
	assert.Equal(t, map[string]any(toAny(servingTags)), side("serving")["tags"])
	assert.Equal(t, map[string]any(toAny(candTags)), side("candidate")["tags"])
	assert.EqualValues(t, 2, side("candidate")["version"])
	assert.Greater(t, side("candidate")["latency"].(map[string]any)["p99_ms"], 0.0)
	assert.Equal(t, "replica", stats["scope"])

	metrics := doResult(s, request{method: "GET", path: "/metrics"}).body
	assert.Contains(t, metrics, fmt.Sprintf(`tagifai_rollout_shadow_compared_total{model="tagifai"} %d`, len(texts)))
	assert.Contains(t, metrics, fmt.Sprintf(`tagifai_rollout_shadow_agreed_total{model="tagifai"} %d`, agreed))
	assert.Contains(t, metrics, fmt.Sprintf(`tagifai_rollout_requests_total{model="tagifai",role="shadow",version="2"} %d`, requests))
	assert.Contains(t, metrics, `tagifai_rollout_shadow_agreement{model="tagifai"}`)
}

func toAny(m map[string]float64) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestCanarySplit: a canary of 20% answers between 15% and 25% of 2,000
// distinct callers with the candidate, and every caller sees the same
// version on every request, by routing key, by API key, and on /v2 infer.
func TestCanarySplit(t *testing.T) {
	t.Parallel()
	s, k := rolloutServer(t)
	startRollout(t, s, k, `{"candidate":2,"mode":"canary","percent":20}`)

	const callers = 2000
	body := textsBody("Transfer learning with transformers for text classification.")
	first := make([]float64, callers)
	candidate := 0
	for i := range callers {
		r := doResult(s, request{method: "POST", path: "/predict", body: body, contentType: jsonCT,
			header: http.Header{"X-Routing-Key": {fmt.Sprintf("caller-%d", i)}}})
		require.Equal(t, http.StatusOK, r.status, r.body)
		first[i] = r.data()["version"].(float64)
		if first[i] == 2 {
			candidate++
		}
	}
	assert.GreaterOrEqual(t, candidate, callers*15/100, "candidate answered %d of %d callers", candidate, callers)
	assert.LessOrEqual(t, candidate, callers*25/100, "candidate answered %d of %d callers", candidate, callers)

	for i := 0; i < callers; i += 7 {
		key := fmt.Sprintf("caller-%d", i)
		r := doResult(s, request{method: "POST", path: "/predict", body: body, contentType: jsonCT, header: http.Header{"X-Routing-Key": {key}}})
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.Equal(t, first[i], r.data()["version"], "%s flipped versions", key)
		infer := doResult(s, request{method: "POST", path: "/v2/models/tagifai/infer", contentType: jsonCT,
			body: oipTextInput("[1]", `["YOLO"]`), header: http.Header{"X-Routing-Key": {key}}})
		require.Equal(t, http.StatusOK, infer.status, infer.body)
		assert.Contains(t, infer.body, fmt.Sprintf(`"model_version":"%d"`, int(first[i])), "%s flipped versions on /v2", key)
	}

	// A key's user decides, whatever routing key it sends.
	var seen []float64
	for i := range 20 {
		h := k.as("predictor")
		h.Set("X-Routing-Key", fmt.Sprintf("other-%d", i))
		r := doResult(s, request{method: "POST", path: "/predict", body: body, contentType: jsonCT, header: h})
		require.Equal(t, http.StatusOK, r.status, r.body)
		seen = append(seen, r.data()["version"].(float64))
	}
	for _, v := range seen {
		assert.Equal(t, seen[0], v, "a user flipped versions")
	}

	stats := getRollout(t, s, k)["stats"].(map[string]any)
	assert.EqualValues(t, candidate, countAnswered(t, first, 2), "sanity")
	cand := stats["candidate"].(map[string]any)
	serving := stats["serving"].(map[string]any)
	assert.EqualValues(t, int(cand["requests"].(float64))+int(serving["requests"].(float64)), callers+2*((callers+6)/7)+20)
	assert.NotContains(t, stats, "shadow")
}

func countAnswered(t *testing.T, versions []float64, v float64) int {
	t.Helper()
	n := 0
	for _, got := range versions {
		if got == v {
			n++
		}
	}
	return n
}

// TestRolloutLifecycle: a rollout changes from shadow to canary and keeps
// its figures; an abort sends everything back to the serving version; a
// promotion serves the candidate and ends the rollout; each step is in the
// audit trail under the admin who made it, with the request id.
func TestRolloutLifecycle(t *testing.T) {
	t.Parallel()
	s, k := rolloutServer(t)
	body := textsBody("YOLO for object detection")
	everyone := func() map[float64]int {
		seen := map[float64]int{}
		for i := range 50 {
			r := doResult(s, request{method: "POST", path: "/predict", body: body, contentType: jsonCT, header: http.Header{"X-Routing-Key": {fmt.Sprint(i)}}})
			require.Equal(t, http.StatusOK, r.status, r.body)
			seen[r.data()["version"].(float64)]++
		}
		return seen
	}
	startRollout(t, s, k, `{"candidate":2,"mode":"shadow","percent":50}`)
	assert.Equal(t, map[float64]int{1: 50}, everyone())
	startRollout(t, s, k, `{"candidate":2,"mode":"canary","percent":100}`)
	assert.Equal(t, map[float64]int{2: 50}, everyone(), "a canary of 100% answers everyone")
	ro := getRollout(t, s, k)
	assert.Equal(t, "canary", ro["mode"])
	stats := ro["stats"].(map[string]any)
	assert.EqualValues(t, 50, stats["serving"].(map[string]any)["requests"], "the figures of the shadow phase stay")
	assert.GreaterOrEqual(t, stats["candidate"].(map[string]any)["requests"], 50.0, "canary answers, and the shadowed requests before")

	r := doResult(s, request{method: "DELETE", path: "/models/tagifai/rollout", header: k.as("admin")})
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, map[float64]int{1: 50}, everyone(), "an abort sends everyone back")

	startRollout(t, s, k, `{"candidate":2,"mode":"canary","percent":10}`)
	h := k.as("admin")
	h.Set("X-Request-ID", "promote-1")
	r = doResult(s, request{method: "PUT", path: "/models/tagifai/serving-version", body: `{"version":2}`, contentType: jsonCT, header: h})
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.Equal(t, map[float64]int{2: 50}, everyone(), "the promoted candidate serves")
	ro = getRollout(t, s, k)
	assert.Equal(t, "promoted", ro["status"])
	assert.EqualValues(t, 2, ro["serving_version"])

	r = doResult(s, request{method: "GET", path: "/audit-events?resource=models/tagifai", header: k.as("admin")})
	require.Equal(t, http.StatusOK, r.status, r.body)
	var got []string
	for _, e := range r.data()["events"].([]any) {
		e := e.(map[string]any)
		got = append(got, fmt.Sprintf("%s by %s", e["action"], e["user"]))
		if e["user"] == "admin-user" && (e["action"] == "rollout.promote" || e["action"] == "serving.deploy") {
			assert.Equal(t, "promote-1", e["request_id"])
		}
	}
	assert.Equal(t, []string{
		"serving.deploy by admin-user", "rollout.promote by admin-user", "rollout.start by admin-user",
		"rollout.abort by admin-user", "rollout.change by admin-user", "rollout.start by admin-user",
		"version.upload by cli", "serving.deploy by cli", "version.upload by cli",
	}, got)
	for key := range k {
		assert.NotContains(t, r.body, k[key], "no key in the audit trail")
	}
}

// TestRolloutGuard: a guard aborts a shadow rollout whose agreement falls
// below its threshold, says so in the rollout's reason and in the audit
// trail, and the serving version answers throughout.
func TestRolloutGuard(t *testing.T) {
	t.Parallel()
	s, k := rolloutServer(t)
	_, cand := trainedCandidate(t)
	serving := committedClassifier(t)
	var disagree []string
	for _, text := range fixtureTexts(t) {
		if serving.Predict(text).Tag != cand.Predict(text).Tag {
			disagree = append(disagree, text)
		}
	}
	require.NotEmpty(t, disagree)
	startRollout(t, s, k, `{"candidate":2,"mode":"shadow","guard":{"min_agreement":0.9,"min_samples":5}}`)
	require.Eventually(t, func() bool {
		r := doResult(s, request{method: "POST", path: "/predict", body: textsBody(disagree...), contentType: jsonCT})
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.EqualValues(t, 1, r.data()["version"])
		return getRollout(t, s, k)["status"] == "aborted"
	}, 10*time.Second, 10*time.Millisecond)
	ro := getRollout(t, s, k)
	assert.Contains(t, ro["reason"], "guard: agreement 0.000 < 0.9 after")
	assertGuardAborted(t, s, k)
}

// assertGuardAborted checks that the guard, and it alone, aborted the
// rollout, in the audit trail, and that the replica stopped applying it.
func assertGuardAborted(t *testing.T, s *Server, k apiKeys) {
	t.Helper()
	r := doResult(s, request{method: "GET", path: "/audit-events?user=guard", header: k.as("admin")})
	require.Equal(t, http.StatusOK, r.status, r.body)
	events := r.data()["events"].([]any)
	require.Len(t, events, 1)
	assert.Equal(t, "rollout.guard_abort", events[0].(map[string]any)["action"])
	assert.False(t, s.serving.RolloutRunning(), "the replica stopped applying it")
}

// TestCanaryGuard: a canary whose candidate's live F1 (from the feedback
// on the answers it gave) falls below the guard's least is aborted by the
// guard once enough labels came back, not before, and not while the F1
// holds; the audit trail names the guard.
func TestCanaryGuard(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	texts := []string{"Transfer learning with transformers for text classification.", "Object detection with YOLO.",
		"Serving models with Kubernetes.", "A survey of graph neural networks."}
	// answer predicts texts as the callers of a 100% canary and returns the
	// candidate's answers.
	answer := func(t *testing.T, s http.Handler, k apiKeys) []map[string]any {
		t.Helper()
		r := doResult(s, request{method: "POST", path: "/predict", body: textsBody(texts...), contentType: jsonCT, header: k.as("predictor")})
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.EqualValues(t, 2, r.data()["version"], "the candidate answers every caller")
		var preds []map[string]any
		for _, p := range r.data()["predictions"].([]any) {
			preds = append(preds, p.(map[string]any))
		}
		return preds
	}
	// label sends feedback on preds: the predicted tag (right) or another.
	label := func(t *testing.T, s http.Handler, k apiKeys, preds []map[string]any, right bool) {
		t.Helper()
		var items []string
		for _, p := range preds {
			tag := p["predicted_tag"].(string)
			if !right {
				tag = map[bool]string{true: "mlops", false: "other"}[tag == "other"]
			}
			items = append(items, fmt.Sprintf(`{"prediction_id":%q,"tag":%q}`, p["prediction_id"], tag))
		}
		r := doResult(s, request{method: "POST", path: "/feedback", body: `{"items":[` + strings.Join(items, ",") + `]}`, contentType: jsonCT, header: k.as("predictor")})
		require.Equal(t, http.StatusOK, r.status, r.body)
		require.EqualValues(t, len(items), r.data()["accepted"], r.body)
	}
	const guard = `{"candidate":2,"mode":"canary","percent":100,"guard":{"min_live_f1":0.9,"min_labels":8}}`

	t.Run("wrong answers", func(t *testing.T) {
		t.Parallel()
		s, k := rolloutServer(t)
		ro := startRollout(t, s, k, guard).data()
		assert.Equal(t, map[string]any{"min_live_f1": 0.9, "min_labels": float64(8)}, ro["guard"])
		label(t, s, k, answer(t, s, k), false)
		s.serving.CheckCanaryGuard(ctx)
		assert.Equal(t, "active", getRollout(t, s, k)["status"], "4 labels of the 8 the guard waits for")

		label(t, s, k, answer(t, s, k), false)
		s.serving.CheckCanaryGuard(ctx)
		ro = getRollout(t, s, k)
		assert.Equal(t, "aborted", ro["status"])
		assert.Equal(t, "guard: live F1 0.000 < 0.9 after 8 labels", ro["reason"])
		assertGuardAborted(t, s, k)
		r := doResult(s, request{method: "POST", path: "/predict", body: textsBody(texts[0]), contentType: jsonCT, header: k.as("predictor")})
		require.Equal(t, http.StatusOK, r.status, r.body)
		assert.EqualValues(t, 1, r.data()["version"], "the serving version answers again")
	})
	t.Run("right answers", func(t *testing.T) {
		t.Parallel()
		s, k := rolloutServer(t)
		startRollout(t, s, k, guard)
		label(t, s, k, answer(t, s, k), true)
		label(t, s, k, answer(t, s, k), true)
		s.serving.CheckCanaryGuard(ctx)
		assert.Equal(t, "active", getRollout(t, s, k)["status"], "live F1 1 holds")
	})
}

// TestConditionalChanges: the ETag of a model moves with each change and
// is the same in GET /models/{name}, the rollout and the change's answer;
// If-Match with the current one succeeds, with an old one is refused with
// 412 and changes nothing, and * matches any.
func TestConditionalChanges(t *testing.T) {
	t.Parallel()
	s, k := rolloutServer(t)
	admin := func(method, path, body, ifMatch string) *requestResult {
		h := k.as("admin")
		if ifMatch != "" {
			h.Set("If-Match", ifMatch)
		}
		return doResult(s, request{method: method, path: path, body: body, contentType: jsonCT, header: h})
	}
	r := admin("GET", "/models/tagifai", "", "")
	require.Equal(t, http.StatusOK, r.status)
	e1 := r.header.Get("ETag")
	require.Regexp(t, `^"[0-9]+"$`, e1)

	r = admin("PUT", "/models/tagifai/rollout", `{"candidate":2,"mode":"shadow"}`, e1)
	require.Equal(t, http.StatusOK, r.status, r.body)
	e2 := r.header.Get("ETag")
	assert.NotEqual(t, e1, e2)
	assert.Equal(t, e2, admin("GET", "/models/tagifai/rollout", "", "").header.Get("ETag"))
	assert.Equal(t, e2, admin("GET", "/models/tagifai", "", "").header.Get("ETag"))

	for _, tc := range []struct{ method, path, body string }{
		{"PUT", "/models/tagifai/rollout", `{"candidate":2,"mode":"canary","percent":5}`},
		{"DELETE", "/models/tagifai/rollout", ""},
		{"PUT", "/models/tagifai/serving-version", `{"version":2}`},
		{"DELETE", "/models/tagifai/versions/2", ""},
	} {
		r = admin(tc.method, tc.path, tc.body, e1)
		assert.Equal(t, http.StatusPreconditionFailed, r.status, "%s %s: %s", tc.method, tc.path, r.body)
		assert.Contains(t, r.body, "changed since it was read")
	}
	assert.Equal(t, "shadow", getRollout(t, s, k)["mode"], "nothing changed")
	assert.Equal(t, e2, admin("GET", "/models/tagifai", "", "").header.Get("ETag"))
	assert.Equal(t, "1/"+fakeOrCommittedRun(t, s), servedRun(t, s), "the serving version keeps serving")

	r = admin("DELETE", "/models/tagifai/rollout", "", `W/`+e2)
	assert.Equal(t, http.StatusPreconditionFailed, r.status, "a weak tag never matches: %s", r.body)
	r = admin("DELETE", "/models/tagifai/rollout", "", `"999", `+e2)
	require.Equal(t, http.StatusOK, r.status, "one of a list matches: %s", r.body)
	r = admin("PUT", "/models/tagifai/serving-version", `{"version":2}`, "*")
	require.Equal(t, http.StatusOK, r.status, r.body)
	assert.NotEqual(t, e2, r.header.Get("ETag"))
	assert.True(t, strings.HasPrefix(servedRun(t, s), "2/"))
}

// TestUploadIfMatch: an upload with the model's current ETag stores the
// version and moves the ETag on; one with an older ETag is refused with 412
// and stores nothing.
func TestUploadIfMatch(t *testing.T) {
	t.Parallel()
	s, _, k := newRegistryServer(t, false)
	cand, _ := trainedCandidate(t)
	upload := func(version int, ifMatch string) *requestResult {
		h := k.as("admin")
		h.Set("If-Match", ifMatch)
		return doResult(s, request{method: "PUT", path: fmt.Sprintf("/models/tagifai/versions/%d", version), body: string(cand), contentType: "application/octet-stream", header: h})
	}
	etag := func() string {
		r := doResult(s, request{method: "GET", path: "/models/tagifai", header: k.as("viewer")})
		require.Equal(t, http.StatusOK, r.status, r.body)
		return r.header.Get("ETag")
	}
	e1 := etag()
	r := upload(2, e1)
	require.Equal(t, http.StatusCreated, r.status, r.body)
	e2 := etag()
	assert.NotEqual(t, e1, e2, "an upload moves the model's revision on")

	r = upload(3, e1)
	assert.Equal(t, http.StatusPreconditionFailed, r.status, r.body)
	assert.Contains(t, r.body, "changed since it was read")
	r = doResult(s, request{method: "GET", path: "/models/tagifai/versions/3", header: k.as("viewer")})
	assert.Equal(t, http.StatusNotFound, r.status, "nothing stored: %s", r.body)
	assert.Equal(t, e2, etag())
}

// fakeOrCommittedRun is the run id of the committed model.
func fakeOrCommittedRun(t *testing.T, s *Server) string {
	t.Helper()
	return s.serving.Current().RunID
}

// TestRolloutFaults: the bad inputs and faults of a rollout each get a
// 4xx with a clear message while the serving version keeps serving: a
// candidate that fails to load among them.
func TestRolloutFaults(t *testing.T) {
	t.Parallel()
	s, reg, k := newRegistryServer(t, false)
	ctx := context.Background()
	// Version 3 is recorded, but its bytes do not match its checksum.
	require.NoError(t, reg.SQLStore.CreateVersion(ctx, registry.Version{Model: DefaultModelName, Version: 3, Checksum: strings.Repeat("0", 64),
		Size: 7, RunID: "broken", Classes: []string{"a"}, Args: json.RawMessage(`{}`), Performance: json.RawMessage(`{}`), CreatedAt: time.Now(), UploadedBy: "test"},
		[]byte("garbage")))

	r := doResult(s, request{method: "PUT", path: "/models/tagifai/rollout", body: `{"candidate":3,"mode":"shadow"}`, contentType: jsonCT, header: k.as("admin")})
	assert.Equal(t, http.StatusUnprocessableEntity, r.status, r.body)
	assert.Contains(t, r.body, "version 3 of tagifai cannot be loaded")
	_, err := reg.SQLStore.Rollout(ctx, DefaultModelName)
	assert.Equal(t, registry.ENOTFOUND, registry.ErrorCode(err), "nothing was started")
	assert.True(t, strings.HasPrefix(servedRun(t, s), "1/"))
}

// TestReplicasFollowRollout: replicas sharing a database apply a rollout
// started, changed and ended through another one, as they follow the
// serving version: by polling, and on PostgreSQL through the database's
// announcements alone (polling every hour). Each replica counts its own
// figures.
func TestReplicasFollowRollout(t *testing.T) {
	t.Parallel()
	polls := map[string][]time.Duration{"sqlite": {10 * time.Millisecond}, "postgres": {10 * time.Millisecond, time.Hour}}
	for name, newDatabase := range sharedDatabases(t) {
		for _, poll := range polls[name] {
			t.Run(fmt.Sprintf("%s, polling every %s", name, poll), func(t *testing.T) {
				open := newDatabase(t)
				a, b := newReplica(t, open, poll), newReplica(t, open, poll)
				cand, _ := trainedCandidate(t)
				admin := http.Header{}
				_, key, err := a.registry.CreateUser(context.Background(), "ops", registry.RoleAdmin)
				require.NoError(t, err)
				admin.Set("Authorization", "Bearer "+key)
				putVersion(t, a, admin, 2, cand)
				answers := func(s http.Handler) float64 {
					r := doResult(s, request{method: "POST", path: "/predict", contentType: jsonCT, body: textsBody("a CNN")})
					require.Equal(t, http.StatusOK, r.status, r.body)
					return r.data()["version"].(float64)
				}
				set := func(method, body string) {
					r := doResult(a, request{method: method, path: "/models/tagifai/rollout", body: body, contentType: jsonCT, header: admin})
					require.Equal(t, http.StatusOK, r.status, r.body)
				}

				set("PUT", `{"candidate":2,"mode":"canary","percent":100}`)
				assert.EqualValues(t, 2, answers(a))
				require.Eventually(t, func() bool { return answers(b) == 2 }, 10*time.Second, 10*time.Millisecond, "b follows the start")

				set("PUT", `{"candidate":2,"mode":"shadow","percent":100}`)
				require.Eventually(t, func() bool { return answers(b) == 1 }, 10*time.Second, 10*time.Millisecond, "b follows the change")
				shadow := func(s http.Handler) map[string]any {
					r := doResult(s, request{method: "GET", path: "/models/tagifai/rollout", header: admin})
					require.Equal(t, http.StatusOK, r.status, r.body)
					return r.data()["stats"].(map[string]any)["shadow"].(map[string]any)
				}
				require.Eventually(t, func() bool {
					answers(b)
					return shadow(b)["compared"].(float64) > 0
				}, 10*time.Second, 10*time.Millisecond, "b shadows its own traffic")
				assert.Zero(t, shadow(a)["sampled"], "a counts only what a saw")

				set("DELETE", "")
				require.Eventually(t, func() bool { return !b.serving.RolloutRunning() }, 10*time.Second, 10*time.Millisecond, "b follows the abort")
				assert.EqualValues(t, 1, answers(b))
			})
		}
	}
}

// BenchmarkRolloutPredict measures POST /predict of one text with the
// committed model, in parallel, without a rollout, with a shadow of all
// traffic (the shadow predictions' cost included, as they share the CPUs)
// and with a canary of 20%. It reports the shadow requests dropped.
func BenchmarkRolloutPredict(b *testing.B) {
	body := textsBody(benchText)
	for _, bc := range []struct{ name, rollout string }{
		{"none", ""},
		{"shadow-100", `{"candidate":2,"mode":"shadow","percent":100}`},
		{"canary-20", `{"candidate":2,"mode":"canary","percent":20}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, reg, k := newRegistryServer(b, false, func(c *testConfig) { c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil)) })
			v1, _ := artifacts(b)
			if _, _, err := reg.Upload(context.Background(), DefaultModelName, 2, v1, "bench"); err != nil {
				b.Fatal(err)
			}
			if bc.rollout != "" {
				r := doResult(s, request{method: "PUT", path: "/models/tagifai/rollout", body: bc.rollout, contentType: jsonCT, header: k.as("admin")})
				if r.status != http.StatusOK {
					b.Fatal(r.body)
				}
			}
			var n atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := httptest.NewRequest("POST", "/predict", strings.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-Routing-Key", strconv.FormatInt(n.Add(1)%1000, 10))
					rec := httptest.NewRecorder()
					s.ServeHTTP(rec, req)
					if rec.Code != http.StatusOK {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
			b.StopTimer()
			if bc.rollout != "" {
				r := doResult(s, request{method: "GET", path: "/models/tagifai/rollout", header: k.as("admin")})
				if sh, ok := r.data()["stats"].(map[string]any)["shadow"].(map[string]any); ok {
					b.ReportMetric(sh["dropped"].(float64)/float64(b.N), "dropped/op")
				}
			}
		})
	}
}

// TestAuditTrailOverHTTP: the management actions made through the API are
// in the audit trail under the key's user (anonymous without one) with the
// request's id, filtered by resource and by user; keys never appear.
func TestAuditTrailOverHTTP(t *testing.T) {
	t.Parallel()
	s, _, k := newRegistryServer(t, false)
	call := func(caller, method, path, body, requestID string) *requestResult {
		t.Helper()
		h := k.as(caller)
		h.Set("X-Request-ID", requestID)
		r := doResult(s, request{method: method, path: path, body: body, contentType: jsonCT, header: h})
		require.Less(t, r.status, 300, r.body)
		return r
	}
	job := call("predictor", "POST", "/batch-jobs", `{"items":[{"id":"1","text":"YOLO"}]}`, "job-create")
	id := job.data()["id"].(string)
	call("predictor", "DELETE", "/batch-jobs/"+id, "", "job-cancel")
	call("anonymous", "POST", "/batch-jobs", `{"items":[{"id":"2","text":"BERT"}]}`, "job-anon")
	created := call("admin", "POST", "/users", `{"name":"ci-bot","role":"predictor"}`, "user-create")
	call("admin", "DELETE", "/users/ci-bot", "", "user-revoke")

	events := func(query string) []string {
		t.Helper()
		r := call("admin", "GET", "/audit-events"+query, "", "read")
		for who := range k {
			assert.NotContains(t, r.body, k[who])
		}
		assert.NotContains(t, r.body, created.data()["api_key"])
		var out []string
		for _, e := range r.data()["events"].([]any) {
			e := e.(map[string]any)
			out = append(out, fmt.Sprintf("%s %s by %s (%s)", e["action"], e["resource"], e["user"], e["request_id"]))
		}
		return out
	}
	jobs := events("?resource=batch-jobs")
	require.Len(t, jobs, 3)
	assert.Contains(t, jobs[0], "batch_job.create batch-jobs/")
	assert.Contains(t, jobs[0], "by anonymous (job-anon)")
	assert.Equal(t, []string{"batch_job.cancel batch-jobs/" + id + " by predictor-user (job-cancel)", "batch_job.create batch-jobs/" + id + " by predictor-user (job-create)"}, jobs[1:])
	assert.Equal(t, []string{"user.revoke users/ci-bot by admin-user (user-revoke)", "user.create users/ci-bot by admin-user (user-create)"}, events("?user=admin-user"))
	assert.Equal(t, []string{"user.revoke users/ci-bot by admin-user (user-revoke)"}, events("?user=admin-user&limit=1"))
}
