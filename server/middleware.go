package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
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

// requestContext gives each request an id (the client's X-Request-ID when it
// is sane, a new one otherwise), echoes it in the response, and stores the
// request in its context so handlers can fill in the envelope.
func (s *Server) requestContext(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		id := r.Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		c.SetRequest(r.WithContext(context.WithValue(r.Context(), requestKey{}, r)))
		return next(c)
	}
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

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// accessLog writes one structured log line per request, after the response
// (errors included) has been written.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		req, res := c.Request(), c.Response()
		level := slog.LevelInfo
		if res.Status >= 500 {
			level = slog.LevelError
		}
		s.log.LogAttrs(req.Context(), level, "request",
			slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
			slog.String("method", req.Method),
			slog.String("path", req.URL.Path),
			slog.String("route", c.Path()),
			slog.Int("status", res.Status),
			slog.Int64("bytes", res.Size),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", c.RealIP()),
		)
		return nil
	}
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
func bodyGuard(ops operations, maxJSON, maxUpload int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			op := ops.find(c)
			if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil {
				return next(c)
			}
			r := c.Request()
			content := op.RequestBody.Value.Content
			ct := r.Header.Get(echo.HeaderContentType)
			mt, params, err := mime.ParseMediaType(ct)
			if err != nil || content.Get(mt) == nil || (params["charset"] != "" && !strings.EqualFold(params["charset"], "utf-8")) {
				want := strings.Join(mediaTypes(content), " or ")
				msg := "content type is missing; use " + want
				if ct != "" {
					msg = fmt.Sprintf("content type %q is not supported; use %s", ct, want)
				}
				return problemError(http.StatusUnsupportedMediaType, typeUnsupportedMediaType, msg, "header", echo.HeaderContentType)
			}
			isJSON := mt == echo.MIMEApplicationJSON
			limit := maxUpload
			if isJSON {
				limit = maxJSON
			}
			tooLarge := problemError(http.StatusRequestEntityTooLarge, typeBodyTooLarge,
				fmt.Sprintf("body is larger than %d bytes", limit), "body")
			if r.ContentLength > limit {
				return tooLarge
			}
			body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
			if err != nil {
				return problemError(http.StatusBadRequest, typeJSONInvalid, "body could not be read", "body")
			}
			if int64(len(body)) > limit {
				return tooLarge
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
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			return next(c)
		}
	}
}

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
	if isOIPPath(c.Request().URL.Path) {
		s.handleOIPError(err, c)
		return
	}
	env, internal := errorEnvelope(c, err)
	if env.StatusCode == http.StatusUnauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
	}
	if internal {
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "internal error",
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path),
			slog.String("error", err.Error()))
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(env.StatusCode)
	} else {
		err = c.JSON(env.StatusCode, env)
	}
	if err != nil {
		s.log.LogAttrs(c.Request().Context(), slog.LevelWarn, "write error response",
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("error", err.Error()))
	}
}
