package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/oasdiff/yaml"

	"github.com/tagifai/tagifai/gen"
)

// embeddedSpec is the spec compiled into gen, decoded once per process:
// every Server shares it, and none changes it.
type embeddedSpec struct {
	// doc is the part of the spec that routing, request validation and
	// authentication read (requestSpec). Its servers are cleared: with
	// them, the validator would also match the Host header and reject
	// valid requests.
	doc *openapi3.T
	// json is the spec as written, servers included, for /openapi.json:
	// the bytes gen embeds.
	json []byte
	// router finds doc's operation for a request, for the validator. A
	// router is only read once built, and building it walks every path.
	router routers.Router
}

// loadEmbeddedSpec decodes the embedded spec. It does not check it: the
// spec compiled into the binary cannot change, and TestSpecIsValid and
// TestEmbeddedSpecMatchesFile check it, examples included, for every build.
var loadEmbeddedSpec = sync.OnceValues(func() (*embeddedSpec, error) {
	const name = "openapi.json"
	raw, err := gen.PathToRawSpec(name)[name]()
	if err != nil {
		return nil, fmt.Errorf("server: load embedded spec: %w", err)
	}
	req, err := requestSpec(raw)
	if err != nil {
		return nil, fmt.Errorf("server: load embedded spec: %w", err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(req)
	if err != nil {
		return nil, fmt.Errorf("server: load embedded spec: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("server: spec router: %w", err)
	}
	return &embeddedSpec{doc: doc, json: raw, router: router}, nil
})

// PrepareSpec decodes the embedded spec, the larger part of what New
// costs, so that a caller can have it done while it does other start-up
// work (opening the registry, loading the model) on another core. New
// decodes it itself when it has not been done, and never twice.
func PrepareSpec() { _, _ = loadEmbeddedSpec() }

// embeddedSpecYAML is /openapi.yaml for a server not given the spec as
// written: the embedded spec converted, on first use.
var embeddedSpecYAML = sync.OnceValues(func() ([]byte, error) {
	spec, err := loadEmbeddedSpec()
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(spec.json)
})

// requestSpec returns the part of spec, an OpenAPI 3.0 document in JSON,
// that routing, request validation and authentication read: the spec
// without the operations' responses and the components only responses
// use (responses, headers, examples, links, callbacks, the schemas
// nothing else refers to), and without the prose and examples of what is
// left (info, tags, summaries, descriptions, examples). Everything else,
// extensions included, is kept as it is. That is a tenth of the spec:
// decoding the whole of it took most of every start-up, for nothing the
// server reads.
func requestSpec(spec []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(spec))
	dec.UseNumber() // numbers are written back as they were
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		return nil, err
	}
	prune(doc, "info", "servers", "tags", "externalDocs")
	c := prune(doc["components"], "responses", "headers", "examples", "links", "callbacks")
	forEachValue(c["schemas"], pruneSchema)
	forEachValue(c["parameters"], pruneParameter)
	forEachValue(c["requestBodies"], pruneRequestBody)
	forEachValue(doc["paths"], func(v any) {
		item := prune(v, "summary", "description")
		forEachElement(item["parameters"], pruneParameter)
		for _, method := range []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"} {
			pruneOperation(item[method])
		}
	})
	dropUnreferencedSchemas(doc)
	return json.Marshal(doc)
}

// dropUnreferencedSchemas removes the component schemas that nothing left
// in doc refers to, directly or through other schemas: those that only
// responses use.
func dropUnreferencedSchemas(doc map[string]any) {
	c, _ := doc["components"].(map[string]any)
	schemas, ok := c["schemas"].(map[string]any)
	if !ok {
		return
	}
	// Anything that names a schema keeps it: a $ref, and also a
	// discriminator's mapping.
	used := map[string]bool{}
	var visit func(v any)
	visit = func(v any) {
		switch x := v.(type) {
		case string:
			if name, ok := strings.CutPrefix(x, "#/components/schemas/"); ok {
				name, _, _ = strings.Cut(name, "/") // a pointer into the schema
				name = strings.NewReplacer("~1", "/", "~0", "~").Replace(name)
				if !used[name] {
					used[name] = true
					visit(schemas[name])
				}
			}
		case map[string]any:
			for _, e := range x {
				visit(e)
			}
		case []any:
			for _, e := range x {
				visit(e)
			}
		}
	}
	for k, v := range doc {
		if k != "components" {
			visit(v)
		}
	}
	for k, v := range c {
		if k != "schemas" {
			visit(v)
		}
	}
	for name := range schemas {
		if !used[name] {
			delete(schemas, name)
		}
	}
}

func pruneOperation(v any) {
	op := prune(v, "summary", "description", "tags", "externalDocs", "responses", "callbacks")
	forEachElement(op["parameters"], pruneParameter)
	pruneRequestBody(op["requestBody"])
}

func pruneParameter(v any) {
	p := prune(v, "description", "example", "examples")
	pruneSchema(p["schema"])
	forEachValue(p["content"], pruneMediaType)
}

func pruneRequestBody(v any) {
	forEachValue(prune(v, "description")["content"], pruneMediaType)
}

func pruneMediaType(v any) {
	pruneSchema(prune(v, "example", "examples")["schema"])
}

// pruneSchema removes a schema's description and example, and those of the
// schemas it holds: the property names of "properties" are names, not
// keywords, and stay.
func pruneSchema(v any) {
	s := prune(v, "description", "example", "externalDocs")
	if s == nil {
		return
	}
	forEachValue(s["properties"], pruneSchema)
	for _, k := range []string{"items", "additionalProperties", "not"} {
		pruneSchema(s[k])
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		forEachElement(s[k], pruneSchema)
	}
}

// prune removes keys from v when v is an object, and returns it (nil,
// which reads as empty, otherwise).
func prune(v any, keys ...string) map[string]any {
	m, _ := v.(map[string]any)
	for _, k := range keys {
		delete(m, k)
	}
	return m
}

// forEachValue calls f with each value of v, when v is an object.
func forEachValue(v any, f func(any)) {
	if m, ok := v.(map[string]any); ok {
		for _, e := range m {
			f(e)
		}
	}
}

// forEachElement calls f with each element of v, when v is an array.
func forEachElement(v any, f func(any)) {
	if a, ok := v.([]any); ok {
		for _, e := range a {
			f(e)
		}
	}
}
