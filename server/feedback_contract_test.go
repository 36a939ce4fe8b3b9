package server

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// feedbackContractCases are the contract cases of POST /feedback and GET
// /monitoring beyond those every role-guarded operation gets
// (registryContractCases: 401, 405, 500).
func feedbackContractCases() []contractCase {
	samples := sampleRequests(nil)
	post := func(body, ct string) request {
		return request{method: "POST", path: "/feedback", body: body, contentType: ct}
	}
	get := func(path string) request { return request{method: "GET", path: path} }
	reg := func(name, op string, r request, status int, caller string) contractCase {
		return contractCase{name: name, op: op, req: r, status: status, registry: true, caller: caller}
	}
	item := `{"prediction_id":"x","tag":"mlops"}`
	tooMany := `{"items":[` + strings.Repeat(item+",", 10_000) + item + `]}`
	return []contractCase{
		withCheck(reg("feedback", "sendFeedback", samples["sendFeedback"], 200, "predictor"), func(t *testing.T, body map[string]any) {
			data := body["data"].(map[string]any)
			assert.Equal(t, 0.0, data["accepted"])
			results := data["results"].([]any)
			require.Len(t, results, 1)
			assert.Equal(t, "invalid_id", results[0].(map[string]any)["status"])
		}),
		withCheck(reg("feedback, malformed", "sendFeedback", post(`{"items":[`, jsonCT), 400, "predictor"), expectProblem("body", "json_invalid", "JSON")),
		reg("feedback as a viewer", "sendFeedback", samples["sendFeedback"], 403, "viewer").withRequireAuth(), // without it, anyone may
		reg("feedback, huge", "sendFeedback", post(`{"items":[],"pad":"`+strings.Repeat("x", DefaultMaxBodyBytes)+`"}`, jsonCT), 413, "predictor"),
		reg("feedback as text", "sendFeedback", post("x,mlops", "text/plain"), 415, "predictor"),
		withCheck(reg("feedback, no items", "sendFeedback", post(`{"items":[]}`, jsonCT), 422, "predictor"), expectProblem("body.items", "too_few", "at least 1")),
		withCheck(reg("feedback, 10,001 items", "sendFeedback", post(tooMany, jsonCT), 422, "predictor"), expectProblem("body.items", "too_many", "at most 10000")),
		withCheck(reg("feedback without a tag", "sendFeedback", post(`{"items":[{"prediction_id":"x"}]}`, jsonCT), 422, "predictor"), expectProblem("body.items.0.tag", "missing", "required")),
		withCheck(reg("feedback, an id too long", "sendFeedback", post(`{"items":[{"prediction_id":"`+strings.Repeat("A", 257)+`","tag":"mlops"}]}`, jsonCT), 422, "predictor"),
			expectProblem("body.items.0.prediction_id", "too_long", "256")),

		withCheck(reg("monitoring", "getMonitoring", samples["getMonitoring"], 200, "viewer"), func(t *testing.T, body map[string]any) {
			versions := body["data"].(map[string]any)["versions"].([]any)
			require.Len(t, versions, 1)
			v := versions[0].(map[string]any)
			assert.Equal(t, true, v["serving"])
			assert.Equal(t, true, v["has_baseline"], "the committed model has a baseline")
			assert.Len(t, v["drift"], 4)
		}),
		withCheck(reg("monitoring of the serving and a named version", "getMonitoring", get("/monitoring?model=tagifai&version=1"), 200, "viewer"), func(t *testing.T, body map[string]any) {
			assert.Len(t, body["data"].(map[string]any)["versions"], 1, "the named version is the serving one")
		}),
		withCheck(reg("monitoring of an unknown model", "getMonitoring", get("/monitoring?model=nope"), 404, "viewer"), expectProblem("query.model", "not_found", "nope")),
		withCheck(reg("monitoring of an unknown version", "getMonitoring", get("/monitoring?version=9"), 404, "viewer"), expectProblem("query.version", "not_found", "no version 9")),
		withCheck(reg("monitoring of version 0", "getMonitoring", get("/monitoring?version=0"), 422, "viewer"), expectProblem("query.version", "invalid", "1")),
		withCheck(reg("monitoring of a bad model name", "getMonitoring", get("/monitoring?model=No!"), 422, "viewer"), expectProblem("query.model", "pattern", "")),
		{name: "monitoring before a model loads", op: "getMonitoring", req: samples["getMonitoring"], status: 503, registry: true, caller: "viewer", notReady: true},
	}
}
