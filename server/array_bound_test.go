package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestArrayBounds: the bounds read from the spec are the longest arrays
// each operation's schema allows; the Open Inference Protocol's inference,
// whose tensors are free-form in the schema, has a batch's.
func TestArrayBounds(t *testing.T) {
	t.Parallel()
	spec, err := loadEmbeddedSpec()
	require.NoError(t, err)
	ops, err := newOperations(spec.doc)
	require.NoError(t, err)
	byID := map[string]int{}
	for op, bound := range arrayBounds(ops) {
		byID[op.OperationID] = bound
	}
	assert.Equal(t, 1000, byID["predict"])
	assert.Equal(t, 1000, byID["predictWithVersion"])
	assert.Equal(t, 100_000, byID["createBatchJob"])
	assert.Equal(t, 10_000, byID["sendFeedback"])
	assert.Equal(t, oipMaxTexts, byID["oipInfer"], "free-form tensors, but at most a batch of texts")
	assert.Equal(t, oipMaxTexts, byID["oipVersionInfer"])
	assert.NotContains(t, byID, "setServingVersion", "no arrays at all")
}

// TestArrayLongerThan reads arrays, not the brackets and commas of strings,
// and takes text that is not JSON without failing.
func TestArrayLongerThan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		json  string
		bound int
		want  bool
	}{
		{`[1,2,3]`, 3, false},
		{`[1,2,3,4]`, 3, true},
		{`[]`, 0, false},
		{`{"a":[1,2],"b":{"c":[1,2,3]}}`, 2, true},
		{`{"a":[1,2],"b":{"c":[1,2]},"d":3,"e":4,"f":5}`, 2, false},
		{`["a,b,c,d", "[1,2,3]", "\"],[,"]`, 3, false},
		{`[[1,2],[3,4],[5]]`, 3, false},
		{`[[1,2,3,4]]`, 3, true},
		// Not JSON (a binary request's header is scanned before decoding).
		{`,0000000000000000000000000000000000000000000000000000`, 3, false},
		{`]]],,,}}[1,2]`, 1, true},
		{`"unterminated [1,2,3`, 1, false},
	} {
		assert.Equal(t, tc.want, arrayLongerThan([]byte(tc.json), tc.bound), tc.json)
	}
}

// TestFarTooLongArraysAreRefusedAtOnce: an array of two million numbers, far
// over the schema's 1,000 texts, is a 422 too_many from the body guard;
// the validator would check each element first.
func TestFarTooLongArraysAreRefusedAtOnce(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, true)
	routes := specRoutes(loadSpec(t))
	body := `{"texts":[` + strings.TrimSuffix(strings.Repeat("1,", 2_000_000), ",") + `]}`
	r := request{method: "POST", path: "/predict", body: body, contentType: jsonCT}
	rec := do(s, r)
	require.Equal(t, http.StatusUnprocessableEntity, rec.Code, "%.300s", rec.Body)
	got := validateResponse(t, routes["predict"], r, rec.Code, rec.Header(), rec.Body.Bytes())
	problems := got["data"].(map[string]any)["errors"].([]any)
	require.Len(t, problems, 1)
	assert.Equal(t, typeTooMany, problems[0].(map[string]any)["type"])
}

// TestFarTooLongArraysOnOIP: on /v2 too, a JSON body or a binary request's
// JSON header with an array far over a batch is refused at once, in the
// protocol's shape, and an error never lists more than 100 problems.
func TestFarTooLongArraysOnOIP(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, true)
	many := `[` + strings.TrimSuffix(strings.Repeat("1,", 2_000_000), ",") + `]`
	for _, tc := range []struct {
		name string
		req  request
		msg  string
	}{
		{"JSON body", request{method: "POST", path: "/v2/models/tagifai/infer", body: `{"inputs":` + many + `}`, contentType: jsonCT}, "more than 2000 elements"},
		{"binary header", oipBinaryRequest("/v2/models/tagifai/infer", `{"inputs":`+many+`}`, nil), "more than 2000 elements"},
		{"300 bad inputs", request{method: "POST", path: "/v2/models/tagifai/infer", body: `{"inputs":[` + strings.TrimSuffix(strings.Repeat(`{"name":1},`, 300), ",") + `]}`, contentType: jsonCT}, "more problems, not listed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := do(s, tc.req)
			require.Equal(t, http.StatusBadRequest, rec.Code, "%.300s", rec.Body)
			assert.Less(t, rec.Body.Len(), 64<<10, "the error is not a list of every element")
			assert.Contains(t, rec.Body.String(), tc.msg)
		})
	}
}
