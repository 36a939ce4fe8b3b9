package server

import (
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/labstack/echo/v4"
	oapimiddleware "github.com/oapi-codegen/echo-middleware"
)

// operations maps "METHOD /echo/:path" to the spec's operation, so that
// middleware knows which requests are API operations and what they take.
type operations map[string]*openapi3.Operation

func newOperations(spec *openapi3.T) (operations, error) {
	ops := operations{}
	for path, item := range spec.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+echoPath(path)] = op
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
	return ops[c.Request().Method+" "+c.Path()]
}

// newValidator returns the middleware that validates every API request
// against spec (whose servers must be cleared) with kin-openapi. Requests that are not API operations pass
// through to Echo's router, which answers 404 or 405.
func newValidator(spec *openapi3.T, ops operations, auth openapi3filter.AuthenticationFunc) (echo.MiddlewareFunc, error) {
	return oapimiddleware.OapiRequestValidatorWithOptions(spec, &oapimiddleware.Options{
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
		Skipper: func(c echo.Context) bool { return ops.find(c) == nil },
		MultiErrorHandler: func(me openapi3.MultiError) *echo.HTTPError {
			return &echo.HTTPError{Code: http.StatusUnprocessableEntity, Internal: me}
		},
		ErrorHandler: func(_ echo.Context, he *echo.HTTPError) error {
			if he.Internal == nil {
				return he
			}
			return fromValidation(he.Internal)
		},
	}), nil
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

func init() {
	// kin-openapi decodes text/csv into rows and refuses rows of uneven
	// length before any handler runs. The spec describes a CSV body as a
	// string, and batch.ReadItems checks it row by row, reporting each bad
	// row by line: let the validator see the string.
	openapi3filter.RegisterBodyDecoder("text/csv", openapi3filter.PlainBodyDecoder)
}
