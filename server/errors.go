package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/registry"
	"github.com/tagifai/tagifai/serving"
)

// Problem types: the machine-readable `type` of a gen.Problem. openapi.yaml
// lists the same values in the Problem schema.
const (
	typeJSONInvalid          = "json_invalid"
	typeMissing              = "missing"
	typeNull                 = "null"
	typeType                 = "type"
	typeTooShort             = "too_short"
	typeTooLong              = "too_long"
	typeTooFew               = "too_few"
	typeTooMany              = "too_many"
	typePattern              = "pattern"
	typeEnum                 = "enum"
	typeExtraField           = "extra_field"
	typeInvalid              = "invalid"
	typeNotFound             = "not_found"
	typeRouteNotFound        = "route_not_found"
	typeMethodNotAllowed     = "method_not_allowed"
	typeBodyTooLarge         = "body_too_large"
	typeUnsupportedMediaType = "unsupported_media_type"
	typeUnauthorized         = "unauthorized"
	typeForbidden            = "forbidden"
	typeConflict             = "conflict"
	typeInternal             = "internal"
	typeNotReady             = "not_ready"
	typePreconditionFailed   = "precondition_failed"
	typeMoreProblems         = "more_problems"
	// Refused by the HTTP layer before routing (see transport.go).
	typeMalformedRequest            = "malformed_request"
	typeHeadersTooLarge             = "headers_too_large"
	typeUnsupportedTransferEncoding = "unsupported_transfer_encoding"
	typeUnsupportedHTTPVersion      = "unsupported_http_version"
)

// Error is an error a client can act on: an HTTP status and the problems that
// caused it. Any other error reaching the error handler is an internal one.
type Error struct {
	Status   int
	Problems []gen.Problem
}

func (e *Error) Error() string {
	msgs := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		msgs[i] = strings.Join(p.Location, ".") + ": " + p.Message
	}
	return fmt.Sprintf("%d %s: %s", e.Status, http.StatusText(e.Status), strings.Join(msgs, "; "))
}

// problemError returns an *Error with a single problem.
func problemError(status int, typ, message string, location ...string) *Error {
	if location == nil {
		location = []string{}
	}
	return &Error{Status: status, Problems: []gen.Problem{{Location: location, Message: message, Type: typ}}}
}

// errUnavailable answers a request the registry's database could not
// serve now (see registry.Unavailable): the client may retry.
var errUnavailable = problemError(http.StatusServiceUnavailable, typeNotReady,
	"the registry's database does not answer now; retry shortly")

// errNotReady is returned while no model is loaded.
var errNotReady = problemError(http.StatusServiceUnavailable, typeNotReady, "no model is loaded yet")

// errorEnvelope builds the documented error body for err. Errors that are
// not *Error, *echo.HTTPError or a validator error become a generic 500.
func errorEnvelope(c echo.Context, err error) (gen.ErrorEnvelope, bool) {
	apiErr, internal := toError(c, err)
	m := newMeta(c.Request(), apiErr.Status)
	env := gen.ErrorEnvelope{Message: m.message, Method: m.method, StatusCode: m.status, Timestamp: m.timestamp, Url: m.url}
	env.Data.Errors = boundProblems(apiErr.Problems)
	return env, internal
}

// Bounds of an error body: what a client sends (100,000 bad batch items,
// an unknown field's 100,000-character name) must not make it megabytes.
const (
	// maxProblems is the most problems an error lists; the last one then
	// says how many more there were.
	maxProblems = 100
	// maxProblemText is the longest location element or message, in bytes.
	maxProblemText = 1024
)

// boundProblems returns problems within maxProblems and maxProblemText.
func boundProblems(problems []gen.Problem) []gen.Problem {
	long := len(problems) > maxProblems
	for _, p := range problems {
		if len(p.Message) > maxProblemText {
			long = true
		}
		for _, l := range p.Location {
			if len(l) > maxProblemText {
				long = true
			}
		}
	}
	if !long {
		return problems
	}
	out := make([]gen.Problem, 0, min(len(problems), maxProblems))
	for i, p := range problems {
		if i == maxProblems-1 && len(problems) > maxProblems {
			out = append(out, gen.Problem{Location: []string{}, Type: typeMoreProblems,
				Message: fmt.Sprintf("and %d more problems, not listed", len(problems)-i)})
			break
		}
		loc := make([]string, len(p.Location))
		for j, l := range p.Location {
			loc[j] = truncateText(l)
		}
		out = append(out, gen.Problem{Location: loc, Message: truncateText(p.Message), Type: p.Type})
	}
	return out
}

// truncateText cuts s to at most maxProblemText bytes, on a character
// boundary, marking the cut with an ellipsis.
func truncateText(s string) string {
	if len(s) <= maxProblemText {
		return s
	}
	cut := maxProblemText - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// toError maps any error to an *Error. internal reports that err was not
// one a client caused, so that the caller logs it.
func toError(c echo.Context, err error) (apiErr *Error, internal bool) {
	if errors.As(err, &apiErr) {
		return apiErr, false
	}
	var regErr *registry.Error
	if errors.As(err, &regErr) {
		return fromRegistry(regErr), false
	}
	if errors.Is(err, serving.ErrNotReady) {
		return errNotReady, false
	}
	if registry.Unavailable(err) {
		return errUnavailable, true // logged: an operator wants the cause
	}
	var httpErr *echo.HTTPError
	if errors.As(err, &httpErr) {
		return fromHTTPError(c, httpErr)
	}
	return internalError(c), true
}

// fromRegistry maps the registry's error codes to statuses.
func fromRegistry(e *registry.Error) *Error {
	switch e.Code {
	case registry.ENOTFOUND:
		return problemError(http.StatusNotFound, typeNotFound, e.Message, "path")
	case registry.ECONFLICT:
		return problemError(http.StatusConflict, typeConflict, e.Message, "path")
	case registry.EPRECONDITION:
		return problemError(http.StatusPreconditionFailed, typePreconditionFailed, e.Message, "header", "If-Match")
	default:
		return problemError(http.StatusUnprocessableEntity, typeInvalid, e.Message, "body")
	}
}

// at returns err with its problem located at location when err is a
// registry error, which knows what failed but not where the client said it
// (a version named in the body, a user's name); other errors as they are.
func at(err error, location ...string) error {
	var regErr *registry.Error
	if !errors.As(err, &regErr) {
		return err
	}
	e := fromRegistry(regErr)
	if e.Status == http.StatusPreconditionFailed {
		return e // the If-Match header, wherever the change came from
	}
	return problemError(e.Status, e.Problems[0].Type, e.Problems[0].Message, location...)
}

// internalError is what a client sees of a failure: a generic message with
// the request id to quote. The detail is only in the server's log.
func internalError(c echo.Context) *Error {
	msg := "internal error"
	if id := c.Response().Header().Get(echo.HeaderXRequestID); id != "" {
		msg += "; see the server log for request " + id
	}
	return problemError(http.StatusInternalServerError, typeInternal, msg)
}

// fromHTTPError maps Echo's own errors (router, binder, middleware) to an
// *Error.
func fromHTTPError(c echo.Context, he *echo.HTTPError) (*Error, bool) {
	req := c.Request()
	switch he.Code {
	case http.StatusNotFound:
		return problemError(http.StatusNotFound, typeRouteNotFound,
			fmt.Sprintf("no route %s %s", req.Method, req.URL.Path), "path"), false
	case http.StatusMethodNotAllowed:
		return problemError(http.StatusMethodNotAllowed, typeMethodNotAllowed,
			fmt.Sprintf("method %s is not allowed on %s", req.Method, req.URL.Path), "method"), false
	case http.StatusRequestEntityTooLarge:
		return problemError(http.StatusRequestEntityTooLarge, typeBodyTooLarge, "body is too large", "body"), false
	case http.StatusUnsupportedMediaType:
		return problemError(http.StatusUnsupportedMediaType, typeUnsupportedMediaType,
			"content type is not supported; use application/json", "header", echo.HeaderContentType), false
	case http.StatusBadRequest:
		// The generated parameter binder: a value the validator let through
		// (a query parameter given twice, say) but that does not bind.
		if msg, ok := he.Message.(string); ok {
			if rest, ok := strings.CutPrefix(msg, "Invalid format for parameter "); ok {
				name, _, _ := strings.Cut(rest, ":")
				in := "path"
				if c.QueryParams().Has(name) {
					in = "query"
				}
				return problemError(http.StatusUnprocessableEntity, typeInvalid,
					fmt.Sprintf("%s parameter %q has a value of the wrong form (given twice?)", in, name), in, name), false
			}
		}
		// Echo's binder: the body could not be decoded. The validator runs
		// first on every API route, so this is a last line of defence, but
		// for one case: JSON Schema takes 1.0 for an integer, Go does not.
		// That body is JSON; its field is answered as 1.5 would be.
		var ute *json.UnmarshalTypeError
		if errors.As(he.Internal, &ute) && ute.Field != "" && isIntegerKind(ute.Type) {
			return problemError(http.StatusUnprocessableEntity, typeType, "must be of type integer",
				append([]string{"body"}, strings.Split(ute.Field, ".")...)...), false
		}
		return problemError(http.StatusBadRequest, typeJSONInvalid, "body is not valid JSON", "body"), false
	case http.StatusServiceUnavailable:
		return errNotReady, false
	}
	if he.Code >= 400 && he.Code < 500 {
		return problemError(he.Code, typeInvalid, http.StatusText(he.Code)), false
	}
	return internalError(c), true
}

// fromValidation maps an error of the OpenAPI request validator: a refused
// API key first (401, 403), then 400 for a body that is not JSON, 415 for a
// content type the operation does not accept, 422 for everything that breaks
// the schema. An error of the authentication hook itself is returned as it
// is, to become a 500.
func fromValidation(err error) error {
	errs := []error{err}
	var me openapi3.MultiError
	if errors.As(err, &me) {
		errs = me
	}
	var reqErrs []*openapi3filter.RequestError
	for _, e := range errs {
		var sre *openapi3filter.SecurityRequirementsError
		if errors.As(e, &sre) {
			for _, ae := range sre.Errors {
				var apiErr *Error
				if errors.As(ae, &apiErr) {
					return apiErr
				}
			}
			if len(sre.Errors) > 0 {
				return sre.Errors[0]
			}
			return problemError(http.StatusUnauthorized, typeUnauthorized, "authentication failed", "header", echo.HeaderAuthorization)
		}
		var re *openapi3filter.RequestError
		if errors.As(e, &re) {
			reqErrs = append(reqErrs, re)
		}
	}
	if len(reqErrs) == 0 {
		return problemError(http.StatusUnprocessableEntity, typeInvalid, "request does not match the API's schema")
	}

	out := &Error{Status: http.StatusUnprocessableEntity}
	for _, re := range reqErrs {
		status, problems := requestProblems(re)
		if status != http.StatusUnprocessableEntity {
			// A body that is not JSON or not of a supported type makes any
			// other finding moot: report that alone.
			return &Error{Status: status, Problems: problems}
		}
		out.Problems = append(out.Problems, problems...)
	}
	return out
}

// requestProblems translates one validator error.
func requestProblems(re *openapi3filter.RequestError) (int, []gen.Problem) {
	var root []string
	switch {
	case re.Parameter != nil:
		root = []string{re.Parameter.In, re.Parameter.Name}
	case re.RequestBody != nil:
		root = []string{"body"}
	}

	if re.RequestBody != nil && re.Err == nil && strings.HasPrefix(re.Reason, "header Content-Type has unexpected value") {
		return http.StatusUnsupportedMediaType, []gen.Problem{{
			Location: []string{"header", echo.HeaderContentType},
			Message:  "content type is not supported; use application/json",
			Type:     typeUnsupportedMediaType,
		}}
	}
	if errors.Is(re.Err, openapi3filter.ErrInvalidRequired) {
		what := "body is required"
		if re.Parameter != nil {
			what = fmt.Sprintf("%s parameter %q is required", re.Parameter.In, re.Parameter.Name)
		}
		return http.StatusUnprocessableEntity, []gen.Problem{{Location: root, Message: what, Type: typeMissing}}
	}
	if re.RequestBody != nil && re.Reason == "failed to decode request body" {
		return http.StatusBadRequest, []gen.Problem{{Location: root, Message: jsonErrorMessage(re.Err), Type: typeJSONInvalid}}
	}

	var schemaErrs []*openapi3.SchemaError
	collectSchemaErrors(re.Err, &schemaErrs)
	if len(schemaErrs) == 0 {
		msg := re.Reason
		if msg == "" {
			msg = "invalid value"
		}
		return http.StatusUnprocessableEntity, []gen.Problem{{Location: root, Message: msg, Type: typeInvalid}}
	}
	// One problem per location is enough: an empty text need not also be
	// told that it lacks a non-space character.
	problems := make([]gen.Problem, 0, len(schemaErrs))
	seen := make(map[string]bool, len(schemaErrs))
	for _, se := range schemaErrs {
		p := schemaProblem(root, se)
		key := strings.Join(p.Location, "\x00")
		if !seen[key] {
			seen[key] = true
			problems = append(problems, p)
		}
	}
	return http.StatusUnprocessableEntity, problems
}

// collectSchemaErrors flattens the schema errors in err, which may be one
// error or a tree of MultiErrors.
func collectSchemaErrors(err error, out *[]*openapi3.SchemaError) {
	var me openapi3.MultiError
	if errors.As(err, &me) {
		for _, e := range me {
			collectSchemaErrors(e, out)
		}
		return
	}
	var se *openapi3.SchemaError
	if errors.As(err, &se) {
		*out = append(*out, se)
	}
}

// schemaProblem describes one schema violation in the words of the API: the
// location of the offending value and what it should have been. The value
// itself is never echoed back.
func schemaProblem(root []string, se *openapi3.SchemaError) gen.Problem {
	loc := append(append([]string{}, root...), se.JSONPointer()...)
	s := se.Schema
	p := gen.Problem{Location: loc, Type: typeInvalid, Message: se.Reason}
	switch se.SchemaField {
	case "required":
		p.Type, p.Message = typeMissing, "field is required"
	case "nullable":
		p.Type, p.Message = typeNull, "must not be null"
	case "type":
		p.Type, p.Message = typeType, "must be of type "+schemaTypes(s)
	case "minLength":
		p.Type = typeTooShort
		if s.MinLength <= 1 {
			p.Message = "must not be empty"
		} else {
			p.Message = fmt.Sprintf("must be at least %d characters long", s.MinLength)
		}
	case "maxLength":
		p.Type, p.Message = typeTooLong, fmt.Sprintf("must be at most %d characters long", derefUint64(s.MaxLength))
	case "minItems":
		p.Type = typeTooFew
		p.Message = fmt.Sprintf("must have at least %d item", s.MinItems)
		if s.MinItems != 1 {
			p.Message += "s"
		}
	case "maxItems":
		p.Type, p.Message = typeTooMany, fmt.Sprintf("must have at most %d items", derefUint64(s.MaxItems))
	case "pattern":
		p.Type, p.Message = typePattern, patternMessage(s)
	case "enum":
		allowed := make([]string, len(s.Enum))
		for i, v := range s.Enum {
			allowed[i] = fmt.Sprint(v)
		}
		p.Type, p.Message = typeEnum, "must be one of: "+strings.Join(allowed, ", ")
	case "properties":
		// additionalProperties: false. The pointer names the object; the
		// reason names the property.
		if name, ok := quotedName(se.Reason); ok && strings.HasSuffix(se.Reason, "is unsupported") {
			p.Location = append(p.Location, name)
			p.Type, p.Message = typeExtraField, "unknown field; this object takes only the fields in the schema"
		}
	}
	return p
}

// patternMessage says in words what the schema's pattern demands.
func patternMessage(s *openapi3.Schema) string {
	switch s.Pattern {
	case textPattern:
		return "must contain a character that is not white space"
	case itemIDPattern:
		return `must not contain control characters, nor be "." or ".."`
	case printableASCIIPattern:
		return "must be printable ASCII without spaces"
	}
	return "must match the pattern " + s.Pattern // as the spec writes it, not escaped again
}

// textPattern is the pattern of a text to tag: a character that is not
// white space as JavaScript's \s has it (ASCII white space, vertical tab
// and Unicode's spaces), written for both JavaScript and Go.
const textPattern = `[^\s\u000B\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000\uFEFF]`

// printableASCIIPattern is the pattern of an Idempotency-Key.
const printableASCIIPattern = `^[\x21-\x7E]+$`

// itemIDPattern is the pattern of the spec's ItemId: no control
// characters, and not a dot segment ("." or "..").
const itemIDPattern = `^(?:[^\u0000-\u001F\u007F-\u009F]*[^.\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*|\.{3,})$`

// quotedName returns the first double-quoted name in a validator reason such
// as `property "text" is missing`.
func quotedName(reason string) (string, bool) {
	i := strings.IndexByte(reason, '"')
	if i < 0 {
		return "", false
	}
	j := strings.IndexByte(reason[i+1:], '"')
	if j < 0 {
		return "", false
	}
	return reason[i+1 : i+1+j], true
}

func schemaTypes(s *openapi3.Schema) string {
	if s.Type == nil || len(*s.Type) == 0 {
		return "any"
	}
	return strings.Join(*s.Type, " or ")
}

func derefUint64(p *uint64) uint64 {
	if p == nil {
		return 0
	}
	return *p
}

// jsonErrorMessage describes why a body is not JSON without quoting the body.
func jsonErrorMessage(err error) string {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Sprintf("body is not valid JSON: %s (at byte %d)", syn.Error(), syn.Offset)
	}
	if err != nil && strings.Contains(err.Error(), "exceeded max depth") {
		return "body is not valid JSON: nested too deeply"
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		return "body is not valid JSON: " + ute.Error()
	}
	var pe *openapi3filter.ParseError
	if errors.As(err, &pe) {
		if cause := pe.RootCause(); cause != nil && cause != err {
			return jsonErrorMessage(cause)
		}
	}
	if err != nil && strings.Contains(err.Error(), "unexpected EOF") {
		return "body is not valid JSON: unexpected end of input"
	}
	return "body is not valid JSON"
}

// isIntegerKind reports whether t (or what it points to) is an integer type.
func isIntegerKind(t reflect.Type) bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return false
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return true
	}
	return false
}
