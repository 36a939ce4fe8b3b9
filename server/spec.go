package server

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/yaml"

	"github.com/tagifai/tagifai/gen"
)

// embeddedSpec is the spec compiled into gen, decoded and checked once per
// process: every Server shares it, and none changes it.
type embeddedSpec struct {
	// doc is the spec for routing and validation. Its servers are cleared:
	// with them, the validator would also match the Host header and reject
	// valid requests.
	doc *openapi3.T
	// json is the spec as written, servers included, for /openapi.json.
	json []byte
}

var loadEmbeddedSpec = sync.OnceValues(func() (*embeddedSpec, error) {
	doc, err := gen.GetSpec()
	if err != nil {
		return nil, fmt.Errorf("server: load embedded spec: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("server: invalid embedded spec: %w", err)
	}
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("server: encode spec: %w", err)
	}
	doc.Servers = nil
	return &embeddedSpec{doc: doc, json: raw}, nil
})

// embeddedSpecYAML is /openapi.yaml for a server not given the spec as
// written: the embedded spec converted, on first use.
var embeddedSpecYAML = sync.OnceValues(func() ([]byte, error) {
	spec, err := loadEmbeddedSpec()
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(spec.json)
})
