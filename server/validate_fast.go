package server

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"unicode/utf16"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	oapimiddleware "github.com/oapi-codegen/echo-middleware"

	"github.com/tagifai/tagifai/gen"
)

// This file is the validator's fast path for POST /predict, the hottest
// operation. kin-openapi decodes a body into generic maps and walks the
// schema on every request; the fast path checks the same schema compiled
// once into a scanner that decodes straight into gen.PredictRequest. It
// only ever says yes: a body it does not accept as it is (any unusual
// spelling, any error) goes to kin-openapi, whose verdict and messages
// stand. So a request the fast path accepts must be one kin-openapi
// accepts with the same value: validate_fast_test.go checks that against
// kin-openapi on the same inputs, by table and by fuzzing.
//
// The fast path is compiled from the spec (limits, pattern) and refuses to
// compile when the PredictRequest schema holds anything it does not
// check: the spec stays the source of truth.

// predictFastPath checks POST /predict requests.
type predictFastPath struct {
	route    *routers.Route
	security openapi3.SecurityRequirements
	schemes  [][]securityScheme // per requirement, by sorted name
	auth     openapi3filter.AuthenticationFunc
	options  *openapi3filter.Options
	// contentType is the media type whose schema is compiled.
	contentType string
	body        predictSchema
}

type securityScheme struct {
	name   string
	scheme *openapi3.SecurityScheme
}

// predictSchema is the PredictRequest schema, compiled.
type predictSchema struct {
	minItems, maxItems       int
	minLength, maxLength     int64
	pattern                  *regexp.Regexp
	minFeatures, maxFeatures int64
}

// newPredictFastPath compiles the fast path of op (at path in spec); nil
// when op's request body is not the PredictRequest schema as this file
// knows it.
func newPredictFastPath(spec *openapi3.T, path, method string, op *openapi3.Operation, auth openapi3filter.AuthenticationFunc, options *openapi3filter.Options) *predictFastPath {
	item := spec.Paths.Value(path)
	if item == nil || len(item.Parameters) > 0 || len(op.Parameters) > 0 || op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	content := op.RequestBody.Value.Content
	mt := content.Get(echo.MIMEApplicationJSON)
	if len(content) != 1 || mt == nil || mt.Schema == nil || mt.Schema.Value == nil || len(mt.Encoding) > 0 {
		return nil
	}
	body, ok := compilePredictSchema(mt.Schema.Value)
	if !ok {
		return nil
	}
	security := op.Security
	if security == nil {
		security = &spec.Security
	}
	fp := &predictFastPath{
		route:    &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op},
		security: *security, auth: auth, options: options,
		contentType: echo.MIMEApplicationJSON, body: body,
	}
	for _, req := range *security {
		var schemes []securityScheme
		for _, name := range slices.Sorted(func(yield func(string) bool) {
			for name := range req {
				if !yield(name) {
					return
				}
			}
		}) {
			ref := spec.Components.SecuritySchemes[name]
			if ref == nil || ref.Value == nil {
				return nil
			}
			schemes = append(schemes, securityScheme{name: name, scheme: ref.Value})
		}
		fp.schemes = append(fp.schemes, schemes)
	}
	return fp
}

// compilePredictSchema reads the limits of the PredictRequest schema s;
// ok is false when s says anything else than what predictSchema checks.
func compilePredictSchema(s *openapi3.Schema) (predictSchema, bool) {
	var out predictSchema
	texts := s.Properties["texts"]
	explain := s.Properties["explain"]
	if texts == nil || texts.Value == nil || texts.Value.Items == nil || texts.Value.Items.Value == nil || explain == nil || explain.Value == nil {
		return out, false
	}
	text := texts.Value.Items.Value.Properties["text"]
	features := explain.Value.Properties["features"]
	if text == nil || text.Value == nil || features == nil || features.Value == nil {
		return out, false
	}
	t, f := texts.Value, features.Value
	if t.MaxItems == nil || text.Value.MaxLength == nil || f.Min == nil || f.Max == nil || f.ExclusiveMin.IsSet() || f.ExclusiveMax.IsSet() ||
		*f.Min != float64(int64(*f.Min)) || *f.Max != float64(int64(*f.Max)) {
		return out, false
	}
	out = predictSchema{
		minItems: int(t.MinItems), maxItems: int(*t.MaxItems),
		minLength: int64(text.Value.MinLength), maxLength: int64(*text.Value.MaxLength),
		minFeatures: int64(*f.Min), maxFeatures: int64(*f.Max),
	}
	if p := text.Value.Pattern; p != "" {
		re, err := regexp.Compile(goPattern(p)) // as kin-openapi compiles it
		if err != nil {
			return out, false
		}
		out.pattern = re
	}
	// Everything else the schema says must be what the scanner assumes.
	pattern := text.Value.Pattern // compiled above
	want := map[string]any{
		"type": "object", "required": []any{"texts"}, "additionalProperties": false,
		"properties": map[string]any{
			"texts": map[string]any{
				"type": "array", "minItems": float64(out.minItems), "maxItems": float64(out.maxItems),
				"items": map[string]any{
					"type": "object", "required": []any{"text"}, "additionalProperties": false,
					"properties": map[string]any{"text": withoutEmpty(map[string]any{
						"type": "string", "minLength": float64(out.minLength), "maxLength": float64(out.maxLength), "pattern": pattern,
					})},
				},
			},
			"explain": map[string]any{
				"type": "object", "additionalProperties": false,
				"properties": map[string]any{"features": map[string]any{
					"type": "integer", "minimum": float64(out.minFeatures), "maximum": float64(out.maxFeatures),
				}},
			},
		},
	}
	if got, err := schemaKeywords(s); err != nil || !reflect.DeepEqual(got, want) {
		return out, false
	}
	return out, true
}

// withoutEmpty drops zero limits and empty strings, which a schema's JSON
// leaves out.
func withoutEmpty(m map[string]any) map[string]any {
	for k, v := range m {
		if v == "" || v == float64(0) {
			delete(m, k)
		}
	}
	return m
}

// schemaKeywords is s as JSON, its items and properties resolved, without
// the keywords that do not constrain a request (descriptions, examples,
// and the default, which the validator does not apply:
// SkipSettingDefaults). Any other subschema stays as it is, a reference
// or not, and so fails the comparison with what the scanner checks.
func schemaKeywords(s *openapi3.Schema) (map[string]any, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	for _, k := range []string{"description", "example", "examples", "default", "title"} {
		delete(m, k)
	}
	if s.Items != nil && s.Items.Value != nil {
		if m["items"], err = schemaKeywords(s.Items.Value); err != nil {
			return nil, err
		}
	}
	if len(s.Properties) > 0 {
		props := map[string]any{}
		for name, p := range s.Properties {
			if p == nil || p.Value == nil {
				return nil, fmt.Errorf("server: property %q has no schema", name)
			}
			if props[name], err = schemaKeywords(p.Value); err != nil {
				return nil, err
			}
		}
		m["properties"] = props
	}
	return m, nil
}

// validate checks c's request: valid when it is, with err nil. err is
// set when authentication refuses the request (it is what the full
// validator would answer); otherwise the full validator must decide, and
// authenticated tells whether the credentials have been accepted already.
func (fp *predictFastPath) validate(c echo.Context, st *requestState) (valid, authenticated bool, err error) {
	r := c.Request()
	if st == nil || st.body == nil || r.Header.Get(echo.HeaderContentType) != fp.contentType {
		return false, false, nil
	}
	if err := fp.authenticate(c); err != nil {
		return false, false, fromValidation(openapi3.MultiError{err})
	}
	body, ok := fp.body.decode(st.body)
	if !ok {
		return false, true, nil
	}
	st.predict = body
	return true, true, nil
}

// authenticate checks the operation's security requirements as
// openapi3filter.ValidateSecurityRequirements does: the first requirement
// whose schemes all accept the request wins; otherwise the errors of all.
func (fp *predictFastPath) authenticate(c echo.Context) error {
	if len(fp.security) == 0 {
		return nil
	}
	//lint:ignore SA1029 the key is echo-middleware's, not ours to choose
	ctx := context.WithValue(context.Background(), oapimiddleware.EchoContextKey, c)
	input := &openapi3filter.RequestValidationInput{Request: c.Request(), Route: fp.route, Options: fp.options}
	var errs []error
	for i, req := range fp.security {
		var err error
		for _, s := range fp.schemes[i] {
			if err = fp.auth(ctx, &openapi3filter.AuthenticationInput{
				RequestValidationInput: input, SecuritySchemeName: s.name, SecurityScheme: s.scheme, Scopes: req[s.name],
			}); err != nil {
				break
			}
		}
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return &openapi3filter.SecurityRequirementsError{SecurityRequirements: fp.security, Errors: errs}
}

// decode scans a PredictRequest body that is one well-formed JSON value
// in valid UTF-8 (bodyGuard saw to that). It accepts only the plain
// spelling: members named exactly, each at most once, no null, features
// as plain digits.
func (s *predictSchema) decode(body []byte) (*gen.PredictRequest, bool) {
	sc := scanner{src: string(body)}
	out := &gen.PredictRequest{}
	if !sc.consume('{') {
		return nil, false
	}
	seenTexts, seenExplain := false, false
	for first := true; ; first = false {
		if sc.consume('}') {
			if first {
				return nil, false
			}
			break
		}
		if !first && !sc.consume(',') {
			return nil, false
		}
		key, ok := sc.plainString()
		if !ok || !sc.consume(':') {
			return nil, false
		}
		switch {
		case key == "texts" && !seenTexts:
			seenTexts = true
			if out.Texts, ok = s.decodeTexts(&sc); !ok {
				return nil, false
			}
		case key == "explain" && !seenExplain:
			seenExplain = true
			if out.Explain, ok = s.decodeExplain(&sc); !ok {
				return nil, false
			}
		default:
			return nil, false
		}
	}
	sc.skipSpace()
	if !seenTexts || sc.pos != len(sc.src) {
		return nil, false
	}
	return out, true
}

func (s *predictSchema) decodeTexts(sc *scanner) ([]gen.TextInput, bool) {
	if !sc.consume('[') {
		return nil, false
	}
	// A fair guess at the number of texts, so that the slice grows once.
	texts := make([]gen.TextInput, 0, max(1, min(s.maxItems, strings.Count(sc.src[sc.pos:], `"text"`))))
	for {
		if len(texts) > 0 && sc.consume(']') {
			break
		}
		if len(texts) > 0 && !sc.consume(',') {
			return nil, false
		}
		if len(texts) == s.maxItems {
			return nil, false
		}
		if !sc.consume('{') {
			return nil, false
		}
		if key, ok := sc.plainString(); !ok || key != "text" || !sc.consume(':') {
			return nil, false
		}
		text, ok := sc.string()
		if !ok || !sc.consume('}') || !s.textOK(text) {
			return nil, false
		}
		texts = append(texts, gen.TextInput{Text: text})
	}
	return texts, len(texts) >= s.minItems
}

// textOK applies the text's schema as kin-openapi does: its length in
// code points (a surrogate, which valid UTF-8 cannot hold, would count
// two) and its pattern.
func (s *predictSchema) textOK(text string) bool {
	var n int64
	for _, r := range text {
		if utf16.IsSurrogate(r) {
			n += 2
		} else {
			n++
		}
	}
	return n >= s.minLength && n <= s.maxLength && (s.pattern == nil || s.pattern.MatchString(text))
}

func (s *predictSchema) decodeExplain(sc *scanner) (*gen.ExplainRequest, bool) {
	if !sc.consume('{') {
		return nil, false
	}
	out := &gen.ExplainRequest{}
	if sc.consume('}') {
		return out, true
	}
	if key, ok := sc.plainString(); !ok || key != "features" || !sc.consume(':') {
		return nil, false
	}
	n, ok := sc.smallInt()
	if !ok || n < s.minFeatures || n > s.maxFeatures || !sc.consume('}') {
		return nil, false
	}
	features := int(n)
	out.Features = &features
	return out, true
}

// scanner reads JSON tokens from src.
type scanner struct {
	src string
	pos int
}

func (sc *scanner) skipSpace() {
	for sc.pos < len(sc.src) {
		switch sc.src[sc.pos] {
		case ' ', '\t', '\n', '\r':
			sc.pos++
		default:
			return
		}
	}
}

// consume skips white space and then c, if c is next.
func (sc *scanner) consume(c byte) bool {
	sc.skipSpace()
	if sc.pos < len(sc.src) && sc.src[sc.pos] == c {
		sc.pos++
		return true
	}
	return false
}

// plainString reads a string without escapes (a member name).
func (sc *scanner) plainString() (string, bool) {
	if !sc.consume('"') {
		return "", false
	}
	end := strings.IndexByte(sc.src[sc.pos:], '"')
	if end < 0 {
		return "", false
	}
	s := sc.src[sc.pos : sc.pos+end]
	if strings.IndexByte(s, '\\') >= 0 {
		return "", false
	}
	sc.pos += end + 1
	return s, true
}

// string reads a string value; one with escapes is decoded by
// encoding/json, as kin-openapi decodes it.
func (sc *scanner) string() (string, bool) {
	sc.skipSpace()
	start := sc.pos
	if !sc.consume('"') {
		return "", false
	}
	escaped := false
	for sc.pos < len(sc.src) {
		switch sc.src[sc.pos] {
		case '"':
			sc.pos++
			if !escaped {
				return sc.src[start+1 : sc.pos-1], true
			}
			var s string
			if err := json.Unmarshal([]byte(sc.src[start:sc.pos]), &s); err != nil {
				return "", false
			}
			return s, true
		case '\\':
			escaped = true
			sc.pos += 2
		default:
			sc.pos++
		}
	}
	return "", false
}

// smallInt reads a non-negative integer of at most 9 plain digits.
func (sc *scanner) smallInt() (int64, bool) {
	sc.skipSpace()
	var n int64
	digits := 0
	for sc.pos < len(sc.src) && '0' <= sc.src[sc.pos] && sc.src[sc.pos] <= '9' {
		n = n*10 + int64(sc.src[sc.pos]-'0')
		sc.pos++
		digits++
	}
	if digits == 0 || digits > 9 || (digits > 1 && sc.src[sc.pos-digits] == '0') {
		return 0, false
	}
	// A fraction or an exponent follows: leave it to the full validator.
	if sc.pos < len(sc.src) && (sc.src[sc.pos] == '.' || sc.src[sc.pos] == 'e' || sc.src[sc.pos] == 'E') {
		return 0, false
	}
	return n, true
}

// String describes the compiled schema, for tests and logs.
func (s predictSchema) String() string {
	return fmt.Sprintf("texts %d..%d, text length %d..%d matching %v, features %d..%d",
		s.minItems, s.maxItems, s.minLength, s.maxLength, s.pattern, s.minFeatures, s.maxFeatures)
}

// fastRoutes is the generated strict handler, except that POST /predict
// takes the body that the validator's fast path decoded instead of binding
// it again.
type fastRoutes struct {
	gen.ServerInterface
	s *Server
}

// Predict implements gen.ServerInterface.
func (f fastRoutes) Predict(c echo.Context) error {
	ctx := c.Request().Context()
	st := stateFrom(ctx)
	if st == nil || st.predict == nil {
		return f.ServerInterface.Predict(c)
	}
	resp, err := f.s.Predict(ctx, gen.PredictRequestObject{Body: st.predict})
	if err != nil || resp == nil {
		return err
	}
	return resp.VisitPredictResponse(c.Response())
}

// ecmaCodePoint is a JavaScript \uXXXX escape as kin-openapi rewrites it
// for Go (upper-case hex digits only).
var ecmaCodePoint = regexp.MustCompile(`\\u([0-9A-F]{4})`)

// goPattern is a schema pattern as kin-openapi hands it to Go's regexp.
func goPattern(p string) string { return ecmaCodePoint.ReplaceAllString(p, `\x{$1}`) }
