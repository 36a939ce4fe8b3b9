package server

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	oapimiddleware "github.com/oapi-codegen/echo-middleware"

	"github.com/tagifai/tagifai/gen"
	"github.com/tagifai/tagifai/registry"
)

// operations maps an Echo route path (/args/:arg) and a method to the
// spec's operation, so that middleware knows which requests are API
// operations and what they take. It is keyed by path, then method, so
// that finding an operation builds no string.
type operations map[string]map[string]*openapi3.Operation

func newOperations(spec *openapi3.T) (operations, error) {
	ops := operations{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			p := echoPath(path)
			if ops[p] == nil {
				ops[p] = map[string]*openapi3.Operation{}
			}
			ops[p][method] = op
		}
	}
	if len(ops) == 0 {
		return nil, fmt.Errorf("server: the spec has no operations")
	}
	return ops, nil
}

// echoPath turns an OpenAPI path template (/args/{arg}) into Echo's (/args/:arg).
func echoPath(p string) string {
	p = strings.ReplaceAll(p, "{", ":")
	return strings.ReplaceAll(p, "}", "")
}

// find returns the operation Echo routed c to, or nil when c is not an API
// operation (docs, an unknown route, a method the path does not take).
func (ops operations) find(c echo.Context) *openapi3.Operation {
	return ops[c.Path()][c.Request().Method]
}

// newValidator returns the middleware that validates every API request
// against spec (whose servers must be cleared) with kin-openapi, finding
// each request's operation with router (built from spec). Requests that
// are not API operations pass through to Echo's router, which answers 404
// or 405.
//
// Path parameters are validated as the handlers see them, percent-decoded:
// kin-openapi's router hands them over as they are in the URL, so that a
// length would count "%2F" as three characters, not one. Path and query
// parameters must also be valid UTF-8 once decoded.
func newValidator(spec *openapi3.T, router routers.Router, ops operations, auth openapi3filter.AuthenticationFunc) (echo.MiddlewareFunc, error) {
	opts := &oapimiddleware.Options{
		Options: openapi3filter.Options{
			MultiError:         true,
			AuthenticationFunc: auth,
			// The strict handler binds the value the validator decoded
			// instead of decoding the body a second time.
			KeepValidatedValue: true,
			// Handlers apply defaults themselves; the validator writing them
			// into the query would change the URL the envelope reports.
			SkipSettingDefaults: true,
		},
		MultiErrorHandler: func(me openapi3.MultiError) *echo.HTTPError {
			return &echo.HTTPError{Code: http.StatusUnprocessableEntity, Internal: me}
		},
	}
	// authenticatedOpts are opts for a request whose credentials the fast
	// path has accepted already.
	authenticatedOpts := *opts
	authenticatedOpts.Options.AuthenticationFunc = func(context.Context, *openapi3filter.AuthenticationInput) error { return nil }
	decoded := decodedPathRouter{router}
	trivial := trivialOperations(spec)
	fast := map[*openapi3.Operation]*predictFastPath{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			if fp := newPredictFastPath(spec, path, method, op, auth, &opts.Options); fp != nil {
				fast[op] = fp
			}
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			op := ops.find(c)
			if op == nil || trivial[op] {
				return next(c)
			}
			validateOpts := opts
			if fp := fast[op]; fp != nil {
				valid, authenticated, err := fp.validate(c, stateFrom(c.Request().Context()))
				if err != nil {
					return err
				}
				if valid {
					return next(c)
				}
				if authenticated {
					// The key was checked already: do not look it up twice.
					validateOpts = &authenticatedOpts
				}
			}
			if err := checkParamsUTF8(c, op); err != nil {
				return err
			}
			if he := oapimiddleware.ValidateRequestFromContext(c, decoded, validateOpts); he != nil {
				if he.Internal == nil {
					return he
				}
				return fromValidation(he.Internal)
			}
			return next(c)
		}
	}, nil
}

// trivialOperations returns the operations of spec that kin-openapi has
// nothing to validate in: no parameters (of the operation or its path), no
// request body, and no security requirement (their own, or the spec's
// when they have none). For those, openapi3filter.ValidateRequest only
// finds the route, which Echo's router has already found on the same
// literal path.
func trivialOperations(spec *openapi3.T) map[*openapi3.Operation]bool {
	out := map[*openapi3.Operation]bool{}
	for path, item := range spec.Paths.Map() {
		if len(item.Parameters) > 0 || strings.Contains(path, "{") {
			continue
		}
		for _, op := range item.Operations() {
			security := op.Security
			if security == nil {
				security = &spec.Security
			}
			if len(op.Parameters) == 0 && op.RequestBody == nil && len(*security) == 0 {
				out[op] = true
			}
		}
	}
	return out
}

// decodedPathRouter is a kin-openapi router whose path parameters are
// percent-decoded, as Echo's handlers get them.
type decodedPathRouter struct{ routers.Router }

func (r decodedPathRouter) FindRoute(req *http.Request) (*routers.Route, map[string]string, error) {
	route, params, err := r.Router.FindRoute(req)
	for name, v := range params {
		if d, err := url.PathUnescape(v); err == nil {
			params[name] = d
		}
	}
	return route, params, err
}

// checkParamsUTF8 refuses path parameters, and the query parameters that
// op takes, that are not valid UTF-8 once percent-decoded (%FF): no store
// can look such a value up, and PostgreSQL refuses it outright.
func checkParamsUTF8(c echo.Context, op *openapi3.Operation) error {
	bad := func(in, name string) error {
		return problemError(http.StatusUnprocessableEntity, typeInvalid,
			fmt.Sprintf("%s parameter %q is not valid UTF-8", in, name), in, name)
	}
	for i, name := range c.ParamNames() {
		v := c.ParamValues()[i]
		if c.Request().URL.RawPath != "" {
			// Echo routed on the escaped path.
			if d, err := url.PathUnescape(v); err == nil {
				v = d
			}
		}
		if !utf8.ValidString(v) {
			return bad(openapi3.ParameterInPath, name)
		}
	}
	query := c.QueryParams()
	for _, p := range op.Parameters {
		if p.Value == nil || p.Value.In != openapi3.ParameterInQuery {
			continue
		}
		for _, v := range query[p.Value.Name] {
			if !utf8.ValidString(v) {
				return bad(openapi3.ParameterInQuery, p.Value.Name)
			}
		}
	}
	return nil
}

// checkTexts holds the rules on texts to tag that the schema cannot express:
// a text must not contain control characters other than tab, line feed and
// carriage return (a NUL in a project description is a client bug).
func checkTexts(texts []string) error {
	var problems *Error
	for i, t := range texts {
		for j, r := range t {
			if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
				if problems == nil {
					problems = &Error{Status: http.StatusUnprocessableEntity}
				}
				problems.Problems = append(problems.Problems, problemError(0, typeInvalid,
					fmt.Sprintf("must not contain control character %U (at byte %d)", r, j),
					"body", "texts", fmt.Sprint(i), "text").Problems...)
				break
			}
		}
	}
	if problems == nil {
		return nil
	}
	return problems
}

// itemIDSchema is the spec's rule for item ids, the ItemId schema.
func itemIDSchema() (*openapi3.Schema, error) { return componentSchema("ItemId") }

// componentSchema is the embedded spec's schema of that name.
func componentSchema(name string) (*openapi3.Schema, error) {
	spec, err := loadEmbeddedSpec()
	if err != nil {
		return nil, err
	}
	ref := spec.doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return nil, fmt.Errorf("server: the spec has no %s schema", name)
	}
	return ref.Value, nil
}

// itemIDProblem describes what is wrong with id, at location; ok is false
// when nothing is.
func itemIDProblem(schema *openapi3.Schema, id string, location []string) (p gen.Problem, ok bool) {
	err := schema.VisitJSON(id, openapi3.MultiErrors())
	if err == nil {
		return gen.Problem{}, false
	}
	var schemaErrs []*openapi3.SchemaError
	collectSchemaErrors(err, &schemaErrs)
	if len(schemaErrs) == 0 {
		return gen.Problem{Location: location, Message: "is not a valid id", Type: typeInvalid}, true
	}
	return schemaProblem(location, schemaErrs[0]), true
}

// CheckItemID applies the spec's rule for item ids (the ItemId schema) to
// an id read outside the API, as tagifai batch reads a CSV file, so that
// every stored id can be looked up with GET /predictions/{item-id}.
func CheckItemID(id string) error {
	schema, err := itemIDSchema()
	if err != nil {
		return err
	}
	if p, bad := itemIDProblem(schema, id, nil); bad {
		return fmt.Errorf("server: item id %s", p.Message)
	}
	return nil
}

// checkItemIDs applies the spec's rule for item ids to ids that did not
// pass the validator: those of a CSV body, which the spec describes as a
// string. It names at most maxProblems offenders.
func checkItemIDs(items []registry.Item) error {
	schema, err := itemIDSchema()
	if err != nil {
		return err
	}
	const maxProblems = 20
	var problems []gen.Problem
	for i, it := range items {
		p, bad := itemIDProblem(schema, it.ID, []string{"body", "items", strconv.Itoa(i), "id"})
		if !bad {
			continue
		}
		p.Message = fmt.Sprintf("item %q: id %s", truncate(it.ID, 128), p.Message)
		if problems = append(problems, p); len(problems) == maxProblems {
			break
		}
	}
	if problems == nil {
		return nil
	}
	return &Error{Status: http.StatusUnprocessableEntity, Problems: problems}
}

func init() {
	// kin-openapi decodes text/csv into rows and refuses rows of uneven
	// length before any handler runs. The spec describes a CSV body as a
	// string, and batch.ReadItems checks it row by row, reporting each bad
	// row by line: let the validator see the string.
	openapi3filter.RegisterBodyDecoder("text/csv", openapi3filter.PlainBodyDecoder)
}
