package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"runtime/debug"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
)

// meta is what the envelope says about the request it answers.
type meta struct {
	message   string
	method    string
	status    int
	timestamp time.Time
	url       string
}

// requestKey is the context key under which requestContext stores the
// request as it arrived.
type requestKey struct{}

func newMeta(r *http.Request, status int) meta {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return meta{
		message:   http.StatusText(status),
		method:    r.Method,
		status:    status,
		timestamp: time.Now().UTC(),
		url:       scheme + "://" + r.Host + r.URL.RequestURI(),
	}
}

// metaFrom returns the envelope fields for the request that ctx belongs to.
func metaFrom(ctx context.Context, status int) meta {
	r, _ := ctx.Value(requestKey{}).(*http.Request)
	if r == nil {
		panic("server: request context is missing; requestContext middleware not installed")
	}
	return newMeta(r, status)
}

// validRequestID accepts ids of 1 to 128 visible ASCII characters, so that a
// client's id can be logged and echoed safely.
func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// accessLog writes one structured log line per request, after the response
// (errors included) has been written.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		st := stateFrom(req.Context())
		if err := next(c); err != nil {
			c.Error(err)
		}
		res := c.Response()
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelError
		}
		s.log.LogAttrs(req.Context(), level, "request",
			slog.String("request_id", st.id),
			slog.String("method", truncate(requestMethod(c), maxLoggedMethod)),
			slog.String("path", truncate(req.URL.Path, maxLoggedPath)),
			slog.String("route", c.Path()),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Duration("duration", time.Since(st.start)),
			slog.String("remote", c.RealIP()),
		)
		return nil
	}
}

// Bounds on what a log line quotes of a request: a client must not be able
// to make every line of the log as large as its headers.
const (
	maxLoggedMethod = 32
	maxLoggedPath   = 1024
)

// truncate returns s cut to at most n bytes, marked with "..." when cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// headKey marks, in a request's context, a HEAD request being answered as
// a GET.
type headKey struct{}

// headWriter drops the body of a response to a HEAD request.
type headWriter struct{ http.ResponseWriter }

func (w headWriter) Write(p []byte) (int, error) { return len(p), nil }

// Unwrap lets http.ResponseController reach the connection.
func (w headWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// requestMethod is the method c's request arrived with: HEAD for a HEAD
// request answered as a GET.
func requestMethod(c echo.Context) string {
	if head, _ := c.Request().Context().Value(headKey{}).(bool); head {
		return http.MethodHead
	}
	return c.Request().Method
}

// recoverPanic turns a panic in a handler into an internal error, logged
// with its stack; the client sees only the generic 500.
func (s *Server) recoverPanic(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				err = fmt.Errorf("panic: %v\n%s", v, debug.Stack())
			}
		}()
		return next(c)
	}
}

// bodyGuard checks what a schema cannot, before the body is decoded: that the
// body's content type is one the operation takes (415), that it fits the
// limit (413: maxJSON for JSON, maxUpload for files), and for JSON that it
// is valid UTF-8 (400: Go's JSON decoder would silently replace bad bytes)
// and one well-formed JSON value (400).
// opMaxBodyBytes is the JSON body limit an operation's x-max-body-bytes
// sets, 0 for none: an operation that takes many items at once (a batch
// job) needs more room than the server's default.
func opMaxBodyBytes(op *openapi3.Operation) int64 {
	switch n := op.Extensions["x-max-body-bytes"].(type) {
	case float64:
		return int64(n)
	case int:
		return int64(n)
	case int64:
		return n
	}
	return 0
}

func bodyGuard(ops operations, maxJSON, maxUpload int64) echo.MiddlewareFunc {
	bounds := arrayBounds(ops)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			op := ops.find(c)
			if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil {
				return next(c)
			}
			r := c.Request()
			content := op.RequestBody.Value.Content
			ct := r.Header.Get(echo.HeaderContentType)
			// A Content-Type that is exactly one of the operation's media
			// types needs no parsing.
			mt, charset := ct, ""
			if _, exact := content[ct]; !exact {
				var params map[string]string
				var err error
				mt, params, err = mime.ParseMediaType(ct)
				if err != nil {
					mt = ""
				}
				charset = params["charset"]
			}
			if mt == "" || content.Get(mt) == nil || (charset != "" && !strings.EqualFold(charset, "utf-8")) {
				want := strings.Join(mediaTypes(content), " or ")
				msg := "content type is missing; use " + want
				if ct != "" {
					msg = fmt.Sprintf("content type %q is not supported; use %s", ct, want)
				}
				return problemError(http.StatusUnsupportedMediaType, typeUnsupportedMediaType, msg, "header", echo.HeaderContentType)
			}
			if ct != mt {
				// Media types are case-insensitive (RFC 9110): the
				// validator and the generated handlers, which match
				// Content-Type by prefix, see the lower-case form
				// (mime.ParseMediaType lowers it). The charset, utf-8 at
				// most, is checked already.
				r.Header.Set(echo.HeaderContentType, mt)
			}
			isJSON := mt == echo.MIMEApplicationJSON
			limit := maxUpload
			if isJSON {
				limit = max(maxJSON, opMaxBodyBytes(op))
			}
			tooLarge := func() error {
				return problemError(http.StatusRequestEntityTooLarge, typeBodyTooLarge,
					fmt.Sprintf("body is larger than %d bytes", limit), "body")
			}
			// A compressed body is decoded here, once, for everything
			// after; the limit is on what it decodes to.
			in, encoded, err := decodedBody(r)
			var ce *contentError
			if errors.As(err, &ce) {
				typ := typeJSONInvalid
				if ce.Status == http.StatusUnsupportedMediaType {
					typ = typeUnsupportedMediaType
				}
				return problemError(ce.Status, typ, ce.Message, "header", echo.HeaderContentEncoding)
			}
			size := r.ContentLength
			if encoded {
				size = -1
			} else if size > limit {
				return tooLarge()
			}
			body, err := readBody(in, size, limit)
			if err != nil {
				msg := "body could not be read"
				if encoded {
					msg = "body could not be read or decompressed"
				}
				return problemError(http.StatusBadRequest, typeJSONInvalid, msg, "body")
			}
			if int64(len(body)) > limit {
				return tooLarge()
			}
			if encoded {
				r.Header.Del(echo.HeaderContentEncoding)
			}
			if isJSON && !utf8.Valid(body) {
				return problemError(http.StatusBadRequest, typeJSONInvalid, "body is not valid UTF-8", "body")
			}
			if isJSON && len(body) > 0 && !json.Valid(body) {
				// json.Valid also rejects trailing data and nesting deeper
				// than the decoder allows, which a streaming decode would
				// let through.
				var v any
				return problemError(http.StatusBadRequest, typeJSONInvalid, jsonErrorMessage(json.Unmarshal(body, &v)), "body")
			}
			// Far beyond the schema's longest array (twice it): refused
			// here at once; a nearer miss gets the validator's precise
			// answer, which costs little.
			if bound := bounds[op]; isJSON && bound > 0 && arrayLongerThan(body, 2*bound) {
				return problemError(http.StatusUnprocessableEntity, typeTooMany,
					fmt.Sprintf("an array in the body has more than %d elements; this operation takes at most %d in any array", 2*bound, bound), "body")
			}
			if st := stateFrom(r.Context()); st != nil {
				st.body = body
				st.bodyReader.Reset(body)
				r.Body = &st.bodyReader
			} else {
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			r.ContentLength = int64(len(body))
			return next(c)
		}
	}
}

// readBody reads r to its end, or to limit+1 bytes; size is the length
// the request declared (-1 for unknown), so that a body of known length is
// read into one buffer of the right size.
func readBody(r io.Reader, size, limit int64) ([]byte, error) {
	capacity := int64(512)
	if size >= 0 {
		capacity = min(size, limit) + 1 // +1: room to see the end
	}
	b := make([]byte, 0, capacity)
	for {
		if int64(len(b)) > limit {
			return b, nil
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):min(int64(cap(b)), limit+1)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// readerCloser is a request body read into memory.
type readerCloser struct{ bytes.Reader }

// Close implements io.Closer.
func (*readerCloser) Close() error { return nil }

// mediaTypes lists the media types of content, sorted.
func mediaTypes(content openapi3.Content) []string {
	out := make([]string, 0, len(content))
	for mt := range content {
		out = append(out, mt)
	}
	sort.Strings(out)
	return out
}

// handleError is Echo's HTTPErrorHandler: every error, from the router, the
// validator, a handler or a panic, is answered in the documented envelope.
// Internal errors are logged with their detail and answered generically.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "error after response was committed",
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("error", err.Error()))
		return
	}
	if loc, ok := trailingSlashRedirect(c, err); ok {
		if err := c.Redirect(http.StatusMovedPermanently, loc); err != nil {
			s.log.LogAttrs(c.Request().Context(), slog.LevelWarn, "write redirect",
				slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("error", err.Error()))
		}
		return
	}
	if isOIPPath(c.Request().URL.Path) {
		s.handleOIPError(err, c)
		return
	}
	env, internal := errorEnvelope(c, err)
	switch env.StatusCode {
	case http.StatusUnauthorized:
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
	case http.StatusMethodNotAllowed:
		allowHEAD(c.Response().Header())
	case http.StatusServiceUnavailable:
		c.Response().Header().Set("Retry-After", "1")
	}
	if internal {
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "internal error",
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("method", truncate(requestMethod(c), maxLoggedMethod)),
			slog.String("path", truncate(c.Request().URL.Path, maxLoggedPath)),
			slog.String("error", err.Error()))
	}
	if err := c.JSON(env.StatusCode, env); err != nil {
		s.log.LogAttrs(c.Request().Context(), slog.LevelWarn, "write error response",
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("error", err.Error()))
	}
}

// trailingSlashRedirect returns where to send a GET (or HEAD) that found no
// route only because its path ends in '/' (/docs/ for /docs): the same
// path without the trailing slashes, when a route serves that.
func trailingSlashRedirect(c echo.Context, err error) (string, bool) {
	var he *echo.HTTPError
	r := c.Request()
	if !errors.As(err, &he) || he.Code != http.StatusNotFound || r.Method != http.MethodGet {
		return "", false
	}
	p := r.URL.EscapedPath()
	trimmed := strings.TrimRight(p, "/")
	// "//host" (or "/\host", to some browsers) would send the client to
	// another host.
	if trimmed == p || trimmed == "" || strings.HasPrefix(trimmed, "//") || strings.HasPrefix(trimmed, "/\\") {
		return "", false
	}
	probe := c.Echo().NewContext(r, nil)
	c.Echo().Router().Find(http.MethodGet, trimmed, probe)
	if route := probe.Path(); route == "" || route == "/*" {
		return "", false
	}
	if r.URL.RawQuery != "" {
		trimmed += "?" + r.URL.RawQuery
	}
	return trimmed, true
}

// allowHEAD adds HEAD to the Allow header of a 405 when it lists GET:
// every GET route answers HEAD too.
func allowHEAD(h http.Header) {
	allow := h.Get(echo.HeaderAllow)
	methods := strings.Split(allow, ", ")
	for _, m := range methods {
		if m == http.MethodHead {
			return
		}
	}
	for _, m := range methods {
		if m == http.MethodGet {
			h.Set(echo.HeaderAllow, allow+", "+http.MethodHead)
			return
		}
	}
}
