package server

import (
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
)

// The validator checks every element of an array even when the array is
// over its maxItems, so a 4 MB body of two million numbers took seconds to
// refuse, and a 32 MiB one a minute and gigabytes. The body guard refuses
// such a body first, with one pass over its bytes: no array in it may be
// more than twice as long as the longest array the operation's schema
// allows.

// arrayBounds maps each operation whose JSON body has arrays, all of them
// bounded by maxItems, to the largest maxItems among them. Operations
// without arrays, or with one that may be of any length (a free-form
// value), are left out: the validator alone judges them.
func arrayBounds(ops operations) map[*openapi3.Operation]int {
	out := map[*openapi3.Operation]int{}
	for _, byMethod := range ops {
		for _, op := range byMethod {
			if op.RequestBody == nil || op.RequestBody.Value == nil {
				continue
			}
			mt := op.RequestBody.Value.Content.Get(echo.MIMEApplicationJSON)
			if mt == nil || mt.Schema == nil {
				continue
			}
			if bound, ok := schemaArrayBound(mt.Schema.Value, map[*openapi3.Schema]bool{}); ok && bound > 0 {
				out[op] = bound
			} else if isOIPInfer(op) {
				// Its tensors' data is free-form in the schema, but no
				// array of an inference request may be longer than a
				// batch: the inputs, outputs and shapes are fewer, the
				// data at most a batch of texts.
				out[op] = oipMaxTexts
			}
		}
	}
	return out
}

// schemaArrayBound returns the largest maxItems of the arrays s allows,
// and false when s allows an array of any length.
func schemaArrayBound(s *openapi3.Schema, seen map[*openapi3.Schema]bool) (int, bool) {
	if s == nil {
		return 0, false
	}
	if seen[s] {
		return 0, true
	}
	seen[s] = true
	bound := 0
	if s.Type == nil || len(*s.Type) == 0 {
		if len(s.Properties) == 0 && s.Items == nil && len(s.AllOf)+len(s.OneOf)+len(s.AnyOf) == 0 {
			return 0, false // any JSON value
		}
	}
	if s.Type.Is(openapi3.TypeArray) {
		if s.MaxItems == nil {
			return 0, false
		}
		bound = int(*s.MaxItems)
	}
	if s.Type.Is(openapi3.TypeObject) && (s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has) && s.AdditionalProperties.Schema == nil {
		return 0, false // free-form members
	}
	var subs []*openapi3.SchemaRef
	if s.Items != nil {
		subs = append(subs, s.Items)
	}
	if s.AdditionalProperties.Schema != nil {
		subs = append(subs, s.AdditionalProperties.Schema)
	}
	for _, p := range s.Properties {
		subs = append(subs, p)
	}
	subs = append(subs, s.AllOf...)
	subs = append(subs, s.OneOf...)
	subs = append(subs, s.AnyOf...)
	for _, sub := range subs {
		b, ok := schemaArrayBound(sub.Value, seen)
		if !ok {
			return 0, false
		}
		bound = max(bound, b)
	}
	return bound, true
}

// arrayLongerThan reports whether the JSON text b holds an array of more
// than bound elements. b need not be valid JSON (a binary request's header
// is scanned before it is decoded): brackets and commas outside any array
// or object are passed over.
func arrayLongerThan(b []byte, bound int) bool {
	var commas []int // per open container: commas so far in an array, -1 in an object
	inString, escaped := false, false
	for _, c := range b {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '[':
			commas = append(commas, 0)
		case '{':
			commas = append(commas, -1)
		case ']', '}':
			if len(commas) > 0 {
				commas = commas[:len(commas)-1]
			}
		case ',':
			if top := len(commas) - 1; top >= 0 && commas[top] >= 0 {
				commas[top]++
				if commas[top] >= bound { // bound+1 elements at least
					return true
				}
			}
		}
	}
	return false
}

// isOIPInfer reports whether op is one of the Open Inference Protocol's
// inference operations.
func isOIPInfer(op *openapi3.Operation) bool {
	return op.OperationID == "oipInfer" || op.OperationID == "oipVersionInfer"
}
