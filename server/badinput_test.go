package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileCase is a request a careless or malicious client might send.
type hostileCase struct {
	name        string
	method      string
	path        string
	contentType string // "-" sends no Content-Type
	body        []byte
	status      int
	problemType string
	op          string // operation whose responses describe the answer; "" for no route
}

func texts(n int, text string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"texts":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"text":%q}`, text)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func hostileCases() []hostileCase {
	p := func(name, body string, status int, typ string) hostileCase {
		return hostileCase{name: name, method: "POST", path: "/predict", contentType: jsonCT, body: []byte(body), status: status, problemType: typ, op: "predict"}
	}
	nested := []byte(`{"texts":` + strings.Repeat("[", 100_000) + strings.Repeat("]", 100_000) + `}`)
	cases := []hostileCase{
		p("broken JSON", `{"texts": [{"text": "a"}`, 400, typeJSONInvalid),
		p("truncated JSON", `{"texts": [{"te`, 400, typeJSONInvalid),
		p("trailing garbage", `{"texts":[{"text":"a"}]} and more`, 400, typeJSONInvalid),
		p("two JSON values", `{"texts":[{"text":"a"}]}{"texts":[{"text":"b"}]}`, 400, typeJSONInvalid),
		p("single quotes", `{'texts': [{'text': 'a'}]}`, 400, typeJSONInvalid),
		p("raw NUL byte in string", "{\"texts\":[{\"text\":\"a\x00b\"}]}", 400, typeJSONInvalid),
		p("invalid UTF-8", "{\"texts\":[{\"text\":\"caf\xe9\"}]}", 400, typeJSONInvalid),
		p("overlong UTF-8 encoding", "{\"texts\":[{\"text\":\"\xc0\xaf\"}]}", 400, typeJSONInvalid),
		{name: "deeply nested", method: "POST", path: "/predict", contentType: jsonCT, body: nested, status: 400, problemType: typeJSONInvalid, op: "predict"},
		p("array body", `[{"text":"a"}]`, 422, typeType),
		p("string body", `"a"`, 422, typeType),
		p("number body", `123`, 422, typeType),
		p("null body", `null`, 422, typeNull),
		p("empty object", `{}`, 422, typeMissing),
		p("texts null", `{"texts":null}`, 422, typeNull),
		p("texts a string", `{"texts":"a"}`, 422, typeType),
		p("texts of nulls", `{"texts":[null]}`, 422, typeNull),
		p("texts of strings", `{"texts":["a"]}`, 422, typeType),
		p("text missing", `{"texts":[{}]}`, 422, typeMissing),
		p("text null", `{"texts":[{"text":null}]}`, 422, typeNull),
		p("text a number", `{"texts":[{"text":123}]}`, 422, typeType),
		p("text a list", `{"texts":[{"text":["a"]}]}`, 422, typeType),
		p("text an object", `{"texts":[{"text":{"a":1}}]}`, 422, typeType),
		// JSON Schema takes 1.0 for an integer; Go's decoder does not:
		// answered as 1.5 is, never as JSON that is not JSON.
		p("integer written 2.0", `{"texts":[{"text":"a"}],"explain":{"features":2.0}}`, 422, typeType),
		p("integer written 2e0", `{"texts":[{"text":"a"}],"explain":{"features":2e0}}`, 422, typeType),
		p("integer written 2.5", `{"texts":[{"text":"a"}],"explain":{"features":2.5}}`, 422, typeType),
		p("no texts", `{"texts":[]}`, 422, typeTooFew),
		p("empty text", `{"texts":[{"text":""}]}`, 422, typeTooShort),
		p("blank text", `{"texts":[{"text":" \n\t "}]}`, 422, typePattern),
		// White space as JavaScript's \s has it, which the spec's pattern
		// follows: Unicode's spaces too.
		p("no-break spaces", `{"texts":[{"text":"\u00a0\u00a0"}]}`, 422, typePattern),
		p("Unicode spaces", `{"texts":[{"text":"\u2003\u3000\ufeff\u2028\u000b"}]}`, 422, typePattern),
		p("escaped NUL in text", `{"texts":[{"text":"a\u0000b"}]}`, 422, typeInvalid),
		p("unknown field in text", `{"texts":[{"text":"a","lang":"en"}]}`, 422, typeExtraField),
		p("unknown top-level field", `{"texts":[{"text":"a"}],"model":"x"}`, 422, typeExtraField),
		{name: "text too long", method: "POST", path: "/predict", contentType: jsonCT, body: texts(1, strings.Repeat("é", 10_001)), status: 422, problemType: typeTooLong, op: "predict"},
		{name: "1,001 texts", method: "POST", path: "/predict", contentType: jsonCT, body: texts(1001, "a"), status: 422, problemType: typeTooMany, op: "predict"},
		{name: "100,000 texts", method: "POST", path: "/predict", contentType: jsonCT, body: texts(100_000, "a"), status: 422, problemType: typeTooMany, op: "predict"},
		{name: "1,000 null texts", method: "POST", path: "/predict", contentType: jsonCT, body: []byte(`{"texts":[` + strings.TrimSuffix(strings.Repeat("null,", 1000), ",") + `]}`), status: 422, problemType: typeNull, op: "predict"},
		{name: "a field named by 100,000 characters", method: "POST", path: "/predict", contentType: jsonCT, body: []byte(`{"texts":[{"text":"a"}],"` + strings.Repeat("k", 100_000) + `":1}`), status: 422, problemType: typeExtraField, op: "predict"},
		{name: "10 MB body", method: "POST", path: "/predict", contentType: jsonCT, body: texts(1, strings.Repeat("a", 10<<20)), status: 413, problemType: typeBodyTooLarge, op: "predict"},
		p("empty body", ``, 422, typeMissing),
		{name: "no content type", method: "POST", path: "/predict", contentType: "-", body: texts(1, "a"), status: 415, problemType: typeUnsupportedMediaType, op: "predict"},
		{name: "text/plain", method: "POST", path: "/predict", contentType: "text/plain", body: texts(1, "a"), status: 415, problemType: typeUnsupportedMediaType, op: "predict"},
		{name: "form encoded", method: "POST", path: "/predict", contentType: "application/x-www-form-urlencoded", body: []byte("texts=a"), status: 415, problemType: typeUnsupportedMediaType, op: "predict"},
		{name: "JSON in latin-1", method: "POST", path: "/predict", contentType: "application/json; charset=latin1", body: texts(1, "a"), status: 415, problemType: typeUnsupportedMediaType, op: "predict"},
		{name: "garbage content type", method: "POST", path: "/predict", contentType: ";;;", body: texts(1, "a"), status: 415, problemType: typeUnsupportedMediaType, op: "predict"},
		{name: "unknown path", method: "GET", path: "/predictions", status: 404, problemType: typeRouteNotFound},
		{name: "path below an operation", method: "POST", path: "/predict/now", contentType: jsonCT, body: texts(1, "a"), status: 404, problemType: typeRouteNotFound},
		{name: "path traversal", method: "GET", path: "/docs/..%2f..%2fgo.mod", status: 404, problemType: typeRouteNotFound},
		{name: "unknown docs asset", method: "GET", path: "/docs/secrets.js", status: 404, problemType: typeRouteNotFound},
		{name: "DELETE /predict", method: "DELETE", path: "/predict", status: 405, problemType: typeMethodNotAllowed, op: "predict"},
		{name: "PATCH /args", method: "PATCH", path: "/args", status: 405, problemType: typeMethodNotAllowed, op: "getArgs"},
		{name: "made-up method", method: "BREW", path: "/predict", status: 405, problemType: typeMethodNotAllowed, op: "predict"},
		{name: "filter in capitals", method: "GET", path: "/performance?filter=OVERALL", status: 422, problemType: typeEnum, op: "getPerformance"},
		{name: "filter given twice", method: "GET", path: "/performance?filter=overall&filter=class", status: 422, problemType: typeInvalid, op: "getPerformance"},
		{name: "empty filter", method: "GET", path: "/performance?filter=", status: 422, problemType: typeEnum, op: "getPerformance"},
		{name: "NUL in arg name", method: "GET", path: "/args/%00", status: 404, problemType: typeNotFound, op: "getArg"},
	}
	return cases
}

// TestHostileInput sends each hostile request to a real listener and checks
// that it gets its documented 4xx in the documented shape, and that the
// server keeps serving afterwards.
func TestHostileInput(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	routes := specRoutes(doc)
	s := newTestServer(t, true)
	ts := httptest.NewServer(s)
	defer ts.Close()

	cases := hostileCases()
	require.GreaterOrEqual(t, len(cases), 30)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, ts.URL+tc.path, bytes.NewReader(tc.body))
			require.NoError(t, err)
			if tc.contentType != "-" && tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			res, err := ts.Client().Do(req)
			require.NoError(t, err)
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			res.Body.Close()

			require.Equal(t, tc.status, res.StatusCode, "body: %.500s", body)
			r := request{method: tc.method, path: tc.path}
			var got map[string]any
			if tc.op != "" {
				got = validateResponse(t, routes[tc.op], r, res.StatusCode, res.Header, body)
			} else {
				validateErrorBody(t, doc, body)
				got = checkEnvelope(t, r, res.StatusCode, res.Header, body)
			}
			problems := got["data"].(map[string]any)["errors"].([]any)
			require.NotEmpty(t, problems)
			assert.Equal(t, tc.problemType, problems[0].(map[string]any)["type"], "problems: %v", problems)
			assert.Less(t, len(body), 64<<10, "an error response should not echo the request back")
		})
	}

	t.Run("still serving", func(t *testing.T) {
		res, err := ts.Client().Post(ts.URL+"/predict", jsonCT, strings.NewReader(`{"texts":[{"text":"a CNN for images"}]}`))
		require.NoError(t, err)
		defer res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode)
		var body struct {
			Data struct {
				Predictions []struct {
					PredictedTag string `json:"predicted_tag"`
				} `json:"predictions"`
			} `json:"data"`
		}
		require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
		require.Len(t, body.Data.Predictions, 1)
		assert.Equal(t, "computer-vision", body.Data.Predictions[0].PredictedTag)
	})
}

// TestErrorBodyIsBounded: however many problems a request has, and however
// long the names it sends, an error lists at most maxProblems problems, the
// last saying how many more there were, with no location element or
// message over maxProblemText bytes.
func TestErrorBodyIsBounded(t *testing.T) {
	t.Parallel()
	doc := loadSpec(t)
	routes := specRoutes(doc)
	ts := httptest.NewServer(newTestServer(t, true))
	t.Cleanup(ts.Close)
	for _, tc := range []struct {
		name     string
		body     string
		problems int // listed
		more     string
	}{
		{"99 problems are all listed", `{"texts":[` + strings.TrimSuffix(strings.Repeat("null,", 99), ",") + `]}`, 99, ""},
		{"100 problems are all listed", `{"texts":[` + strings.TrimSuffix(strings.Repeat("null,", 100), ",") + `]}`, 100, ""},
		{"1,000 problems", `{"texts":[` + strings.TrimSuffix(strings.Repeat("null,", 1000), ",") + `]}`, maxProblems, "and 901 more problems, not listed"},
		{"a long field name", `{"texts":[{"text":"a"}],"` + strings.Repeat("é", 50_000) + `":1}`, 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := ts.Client().Post(ts.URL+"/predict", jsonCT, strings.NewReader(tc.body))
			require.NoError(t, err)
			body, err := io.ReadAll(res.Body)
			require.NoError(t, err)
			res.Body.Close()
			require.Equal(t, http.StatusUnprocessableEntity, res.StatusCode)
			got := validateResponse(t, routes["predict"], request{method: "POST", path: "/predict"}, res.StatusCode, res.Header, body)
			problems := got["data"].(map[string]any)["errors"].([]any)
			require.Len(t, problems, tc.problems)
			last := problems[len(problems)-1].(map[string]any)
			if tc.more != "" {
				assert.Equal(t, typeMoreProblems, last["type"])
				assert.Equal(t, tc.more, last["message"])
			} else {
				assert.NotEqual(t, typeMoreProblems, last["type"])
			}
			for _, p := range problems {
				p := p.(map[string]any)
				assert.LessOrEqual(t, len(p["message"].(string)), maxProblemText)
				for _, l := range p["location"].([]any) {
					assert.LessOrEqual(t, len(l.(string)), maxProblemText)
					assert.True(t, utf8.ValidString(l.(string)), "a cut location element is still UTF-8")
				}
			}
		})
	}
}

// TestTruncatedBody sends fewer bytes than Content-Length promises and closes
// its side: the server answers 400 instead of waiting or failing.
func TestTruncatedBody(t *testing.T) {
	t.Parallel()
	s := newTestServer(t, true)
	ts := httptest.NewServer(s)
	defer ts.Close()

	conn, err := net.Dial("tcp", ts.Listener.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"texts\":[{\"te")
	require.NoError(t, err)
	require.NoError(t, conn.(*net.TCPConn).CloseWrite())

	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer res.Body.Close()
	assert.Equal(t, http.StatusBadRequest, res.StatusCode)
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	validateErrorBody(t, loadSpec(t), body)
}

// TestAnswersAreNotSniffedNorStored: every answer says not to sniff its type,
// and API answers, which may hold an API key (POST /users) or predictions,
// not to be stored; the docs' assets keep their own caching.
func TestAnswersAreNotSniffedNorStored(t *testing.T) {
	t.Parallel()
	s, _, k := newRegistryServer(t, false)
	for _, tc := range []struct {
		name  string
		req   request
		cache string
	}{
		{"a new user's key", request{method: "POST", path: "/users", body: `{"name":"ci-bot","role":"predictor"}`, contentType: jsonCT, header: k.as("admin")}, "no-store"},
		{"a prediction", request{method: "POST", path: "/predict", body: `{"texts":[{"text":"a CNN"}]}`, contentType: jsonCT}, "no-store"},
		{"an error", request{method: "GET", path: "/no/such/route"}, "no-store"},
		{"a docs asset", request{method: "GET", path: "/docs/redoc-init.js"}, ""},
	} {
		rec := do(s, tc.req)
		require.Less(t, rec.Code, 500, tc.name)
		assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"), tc.name)
		if tc.cache != "" {
			assert.Equal(t, tc.cache, rec.Header().Get("Cache-Control"), tc.name)
		} else {
			assert.NotEqual(t, "no-store", rec.Header().Get("Cache-Control"), "%s keeps its own caching", tc.name)
		}
	}
}
