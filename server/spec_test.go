package server

import (
	"encoding/json"
	"regexp"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/gen"
)

// TestRequestSpecIsTheSpecWithoutResponsesAndProse: the spec the server
// routes and validates requests with is the whole spec less exactly what
// requestSpec says it leaves out, removed here field by field from
// kin-openapi's own types: every operation, parameter, request body,
// schema constraint, security requirement and extension is there as
// written, and every schema they refer to.
func TestRequestSpecIsTheSpecWithoutResponsesAndProse(t *testing.T) {
	t.Parallel()
	full, err := gen.GetSpec()
	require.NoError(t, err)
	full.Info, full.Servers, full.Tags, full.ExternalDocs = nil, nil, nil, nil
	c := full.Components
	c.Responses, c.Headers, c.Examples, c.Links, c.Callbacks = nil, nil, nil, nil, nil
	seen := map[*openapi3.Schema]bool{}
	for _, s := range c.Schemas {
		stripSchema(s, seen)
	}
	for _, p := range c.Parameters {
		stripParameter(p, seen)
	}
	for _, b := range c.RequestBodies {
		stripRequestBody(b, seen)
	}
	ops := 0
	for _, item := range full.Paths.Map() {
		item.Summary, item.Description = "", ""
		for _, p := range item.Parameters {
			stripParameter(p, seen)
		}
		for _, op := range item.Operations() {
			ops++
			op.Summary, op.Description, op.Tags, op.ExternalDocs, op.Responses, op.Callbacks = "", "", nil, nil, nil, nil
			for _, p := range op.Parameters {
				stripParameter(p, seen)
			}
			stripRequestBody(op.RequestBody, seen)
		}
	}
	require.Greater(t, ops, 40, "the spec's operations")

	spec, err := loadEmbeddedSpec()
	require.NoError(t, err)
	// The schemas left out are those nothing left refers to: every
	// schema the rest refers to is there.
	for name := range c.Schemas {
		if _, ok := spec.doc.Components.Schemas[name]; !ok {
			delete(c.Schemas, name)
		}
	}
	rest, err := json.Marshal(full)
	require.NoError(t, err)
	for _, ref := range regexp.MustCompile(`"#/components/schemas/([^"/]+)`).FindAllSubmatch(rest, -1) {
		assert.Contains(t, c.Schemas, string(ref[1]), "a schema the request spec refers to")
	}
	assert.Contains(t, c.Schemas, "PredictRequest")
	assert.Contains(t, c.Schemas, "ItemId")
	assert.NotContains(t, c.Schemas, "PredictionsEnvelope", "a schema only responses use")

	want, err := json.Marshal(full)
	require.NoError(t, err)
	got, err := json.Marshal(spec.doc)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(got))
	assert.Less(t, len(got), len(spec.json)/2, "most of the spec is prose, examples and responses")
}

func stripSchema(ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
	if ref == nil || ref.Ref != "" || ref.Value == nil || seen[ref.Value] {
		return // a reference: its component is stripped on its own
	}
	s := ref.Value
	seen[s] = true
	s.Description, s.Example, s.ExternalDocs = "", nil, nil
	for _, p := range s.Properties {
		stripSchema(p, seen)
	}
	stripSchema(s.Items, seen)
	stripSchema(s.AdditionalProperties.Schema, seen)
	stripSchema(s.Not, seen)
	for _, l := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
		for _, e := range l {
			stripSchema(e, seen)
		}
	}
}

func stripParameter(ref *openapi3.ParameterRef, seen map[*openapi3.Schema]bool) {
	if ref == nil || ref.Ref != "" || ref.Value == nil {
		return
	}
	p := ref.Value
	p.Description, p.Example, p.Examples = "", nil, nil
	stripSchema(p.Schema, seen)
	stripContent(p.Content, seen)
}

func stripRequestBody(ref *openapi3.RequestBodyRef, seen map[*openapi3.Schema]bool) {
	if ref == nil || ref.Ref != "" || ref.Value == nil {
		return
	}
	ref.Value.Description = ""
	stripContent(ref.Value.Content, seen)
}

func stripContent(c openapi3.Content, seen map[*openapi3.Schema]bool) {
	for _, mt := range c {
		mt.Example, mt.Examples = nil, nil
		stripSchema(mt.Schema, seen)
	}
}

// BenchmarkSpecDecode: what decoding the embedded spec costs a start-up,
// the whole of it (as New did) and the request side only (as New does).
func BenchmarkSpecDecode(b *testing.B) {
	const name = "openapi.json"
	raw, err := gen.PathToRawSpec(name)[name]()
	require.NoError(b, err)
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := openapi3.NewLoader().LoadFromData(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("request", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			req, err := requestSpec(raw)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := openapi3.NewLoader().LoadFromData(req); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRequestSpecKeepsNamesAndNumbers: on a small spec, the cases the
// embedded spec may not hold: a property called "description" is a name,
// not prose; a schema named only by a discriminator's mapping stays;
// numbers are written back as they were written.
func TestRequestSpecKeepsNamesAndNumbers(t *testing.T) {
	t.Parallel()
	spec := `{"openapi":"3.0.3","info":{"title":"t","version":"1"},
	"paths":{"/p":{"post":{"summary":"s","requestBody":{"content":{"application/json":{
		"schema":{"$ref":"#/components/schemas/In"},"example":{"description":"x"}}}},
		"responses":{"200":{"description":"ok","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Out"}}}}}}}},
	"components":{"schemas":{
		"In":{"type":"object","description":"prose","properties":{
			"description":{"type":"string","maxLength":10,"description":"prose"},
			"ratio":{"type":"number","maximum":1.50,"minimum":1e-7},
			"pet":{"oneOf":[{"$ref":"#/components/schemas/Cat"}],"discriminator":{"propertyName":"kind","mapping":{"dog":"#/components/schemas/Dog"}}}}},
		"Cat":{"type":"object"},"Dog":{"type":"object"},"Out":{"type":"object"}}}}`
	got, err := requestSpec([]byte(spec))
	require.NoError(t, err)
	want := `{"openapi":"3.0.3",
	"paths":{"/p":{"post":{"requestBody":{"content":{"application/json":{"schema":{"$ref":"#/components/schemas/In"}}}}}}},
	"components":{"schemas":{
		"In":{"type":"object","properties":{
			"description":{"type":"string","maxLength":10},
			"ratio":{"type":"number","maximum":1.50,"minimum":1e-7},
			"pet":{"oneOf":[{"$ref":"#/components/schemas/Cat"}],"discriminator":{"propertyName":"kind","mapping":{"dog":"#/components/schemas/Dog"}}}}},
		"Cat":{"type":"object"},"Dog":{"type":"object"}}}}`
	assert.JSONEq(t, want, string(got))
	assert.Contains(t, string(got), `"maximum":1.50,"minimum":1e-7`, "numbers as written")
}
