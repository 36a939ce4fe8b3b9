package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/oapi-codegen/runtime"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/gen"
)

// predictVerdicts compares, for one body, the fast path's verdict with
// kin-openapi's: the fast path may leave a body to kin-openapi, but what
// it accepts kin-openapi must accept, with the value the strict handler
// would bind.
type predictVerdicts struct {
	t    testing.TB
	fast *predictFastPath
}

func newPredictVerdicts(t testing.TB) predictVerdicts {
	spec, err := loadEmbeddedSpec()
	require.NoError(t, err)
	op := spec.doc.Paths.Value("/predict").Post
	fp := newPredictFastPath(spec.doc, "/predict", http.MethodPost, op, nil, nil)
	require.NotNil(t, fp, "the fast path must compile from the spec's PredictRequest")
	return predictVerdicts{t: t, fast: fp}
}

// kin returns what kin-openapi makes of body: the value the strict
// handler binds, or ok false when it refuses the body.
func (v predictVerdicts) kin(body []byte) (gen.PredictRequest, bool) {
	req := httptest.NewRequest(http.MethodPost, "/predict", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	route := v.fast.route
	input := &openapi3filter.RequestValidationInput{Request: req, Route: &routers.Route{Spec: route.Spec, Operation: route.Operation, PathItem: route.PathItem},
		Options: &openapi3filter.Options{MultiError: true, KeepValidatedValue: true, SkipSettingDefaults: true}}
	if err := openapi3filter.ValidateRequestBody(context.Background(), input, route.Operation.RequestBody.Value); err != nil {
		return gen.PredictRequest{}, false
	}
	var out gen.PredictRequest
	vb, ok := req.Body.(interface{ ValidatedValue() any })
	require.True(v.t, ok)
	if err := runtime.BindJSONValue(vb.ValidatedValue(), &out); err != nil {
		return gen.PredictRequest{}, false // the handler is not reached with a value (5.0 for an int)
	}
	return out, true
}

// check compares the verdicts on body; it returns whether the fast path
// accepted it.
func (v predictVerdicts) check(body []byte) bool {
	if !utf8.Valid(body) || !json.Valid(body) {
		return false // bodyGuard answers these before any validator
	}
	got, fastOK := v.fast.body.decode(body)
	want, kinOK := v.kin(body)
	if fastOK {
		if assert.True(v.t, kinOK, "the fast path accepted a body kin-openapi refuses: %q", body) {
			assert.Equal(v.t, want, *got, "body %q", body)
		}
	}
	return fastOK
}

// TestPredictFastPathAgreesWithKinOpenAPI checks the fast path against
// kin-openapi on bodies it must accept and on bodies at and beyond every
// limit of the schema.
func TestPredictFastPathAgreesWithKinOpenAPI(t *testing.T) {
	t.Parallel()
	v := newPredictVerdicts(t)
	text := func(s string) string { return `{"text":` + s + `}` }
	texts := func(n int) string {
		return `{"texts":[` + strings.TrimSuffix(strings.Repeat(text(`"Transfer learning"`)+",", n), ",") + `]}`
	}
	for _, tc := range []struct {
		name   string
		body   string
		accept bool // the fast path must accept it (else: may leave it to kin-openapi)
	}{
		{"one text", texts(1), true},
		{"lesson example", `{"texts":[{"text":"Transfer learning with transformers for text classification."},{"text":"Generative adversarial networks in both PyTorch and TensorFlow."}]}`, true},
		{"most texts", texts(1000), true},
		{"too many texts", texts(1001), false},
		{"no texts", `{"texts":[]}`, false},
		{"white space", " {\n\t\"texts\" : [ { \"text\" : \"a\" } ] , \"explain\" : { \"features\" : 3 } }\r\n", true},
		{"explain empty", `{"texts":[{"text":"a"}],"explain":{}}`, true},
		{"explain first", `{"explain":{"features":50},"texts":[{"text":"a"}]}`, true},
		{"features 1", `{"texts":[{"text":"a"}],"explain":{"features":1}}`, true},
		{"features 0", `{"texts":[{"text":"a"}],"explain":{"features":0}}`, false},
		{"features 51", `{"texts":[{"text":"a"}],"explain":{"features":51}}`, false},
		{"features 5.0", `{"texts":[{"text":"a"}],"explain":{"features":5.0}}`, false},
		{"features 5e0", `{"texts":[{"text":"a"}],"explain":{"features":5e0}}`, false},
		{"features -1", `{"texts":[{"text":"a"}],"explain":{"features":-1}}`, false},
		{"features huge", `{"texts":[{"text":"a"}],"explain":{"features":12345678901234567890}}`, false},
		{"features string", `{"texts":[{"text":"a"}],"explain":{"features":"5"}}`, false},
		{"features null", `{"texts":[{"text":"a"}],"explain":{"features":null}}`, false},
		{"explain null", `{"texts":[{"text":"a"}],"explain":null}`, false},
		{"explain extra", `{"texts":[{"text":"a"}],"explain":{"features":2,"x":1}}`, false},
		{"escapes", text(`"\u00e9\n\t\"\\\/ \ud83d\ude42"`), false},
		{"escaped text", `{"texts":[{"text":"a\"b\\c\u00e9\ud83d\ude42\n"}]}`, true},
		{"lone surrogate", `{"texts":[{"text":"\ud800x"}]}`, true},
		{"escaped key", `{"te\u0078ts":[{"text":"a"}]}`, false},
		{"escaped inner key", `{"texts":[{"t\u0065xt":"a"}]}`, false},
		{"upper-case key", `{"Texts":[{"text":"a"}]}`, false},
		{"inner upper-case key", `{"texts":[{"Text":"a"}]}`, false},
		{"duplicate texts", `{"texts":[{"text":"a"}],"texts":[{"text":"b"}]}`, false},
		{"duplicate text", `{"texts":[{"text":"a","text":"b"}]}`, false},
		{"extra field", `{"texts":[{"text":"a"}],"x":1}`, false},
		{"extra inner field", `{"texts":[{"text":"a","x":1}]}`, false},
		{"empty text", `{"texts":[{"text":""}]}`, false},
		{"blank text", `{"texts":[{"text":" \t\n"}]}`, false},
		{"vertical tab", `{"texts":[{"text":"\u000b"}]}`, false},
		{"no-break space", `{"texts":[{"text":"\u00a0"}]}`, false},
		{"Unicode spaces", `{"texts":[{"text":"\u2003\u3000\ufeff\u2028"}]}`, false},
		{"a word between no-break spaces", `{"texts":[{"text":"\u00a0a\u00a0"}]}`, true},
		{"longest text", `{"texts":[{"text":"` + strings.Repeat("é", 10000) + `"}]}`, true},
		{"too long text", `{"texts":[{"text":"` + strings.Repeat("é", 10001) + `"}]}`, false},
		{"emoji length", `{"texts":[{"text":"` + strings.Repeat("🙂", 10000) + `"}]}`, true},
		{"null text", `{"texts":[{"text":null}]}`, false},
		{"number text", `{"texts":[{"text":1}]}`, false},
		{"null texts", `{"texts":null}`, false},
		{"texts object", `{"texts":{"text":"a"}}`, false},
		{"text not object", `{"texts":["a"]}`, false},
		{"empty object", `{}`, false},
		{"array", `[]`, false},
		{"string", `"texts"`, false},
		{"null", `null`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := predictVerdicts{t: t, fast: v.fast}
			accepted := v.check([]byte(tc.body))
			if tc.accept {
				assert.True(t, accepted, "the fast path must accept %q", tc.body)
			}
		})
	}
}

// FuzzPredictFastPath compares the fast path with kin-openapi on any
// body.
func FuzzPredictFastPath(f *testing.F) {
	for _, seed := range []string{
		`{"texts":[{"text":"Transfer learning with transformers"}]}`,
		`{"texts":[{"text":"a"},{"text":"b"}],"explain":{"features":3}}`,
		`{"explain":{},"texts":[{"text":"\u00e9\ud83d\ude42"}]}`,
		`{"texts":[{"text":" "}]}`,
		`{"texts":[{"text":"a"}],"explain":{"features":50}}`,
	} {
		f.Add([]byte(seed))
	}
	v := newPredictVerdicts(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		predictVerdicts{t: t, fast: v.fast}.check(body)
	})
}

// TestPredictFastPathRefusesOtherSchemas checks that the fast path does
// not compile when the schema says something it does not check.
func TestPredictFastPathRefusesOtherSchemas(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(spec string) string
	}{
		{"nullable texts", func(s string) string {
			return strings.Replace(s, "          minItems: 1\n          maxItems: 1000\n", "          minItems: 1\n          maxItems: 1000\n          nullable: true\n", 1)
		}},
		{"min properties", func(s string) string {
			return strings.Replace(s, "      required: [texts]\n", "      required: [texts]\n      minProperties: 1\n", 1)
		}},
		{"format on text", func(s string) string {
			pattern := "          pattern: '" + textPattern + "'\n"
			return strings.Replace(s, pattern+"          example: Transfer", pattern+"          format: email\n          example: Transfer", 1)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spec := loadSpecYAML(t, tc.change)
			op := spec.Paths.Value("/predict").Post
			assert.Nil(t, newPredictFastPath(spec, "/predict", http.MethodPost, op, nil, nil))
		})
	}
}

// loadSpecYAML loads openapi.yaml changed by change, which must change it.
func loadSpecYAML(t *testing.T, change func(string) string) *openapi3.T {
	t.Helper()
	raw, err := os.ReadFile("../openapi.yaml")
	require.NoError(t, err)
	changed := change(string(raw))
	require.NotEqual(t, string(raw), changed, "the change must apply")
	spec, err := openapi3.NewLoader().LoadFromData([]byte(changed))
	require.NoError(t, err)
	return spec
}
