package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

// oipError is an error of a /v2 operation, answered as {"error": msg}.
type oipError struct {
	status int
	msg    string
}

func (e *oipError) Error() string { return fmt.Sprintf("%d: %s", e.status, e.msg) }

func oipErrorf(status int, format string, args ...any) *oipError {
	return &oipError{status: status, msg: fmt.Sprintf(format, args...)}
}

// isOIPPath reports whether path belongs to the Open Inference Protocol.
func isOIPPath(path string) bool { return path == "/v2" || strings.HasPrefix(path, "/v2/") }

// oipMaxJSONDepth bounds how deeply a /v2 request's JSON may nest, as
// Triton does (its limit is 100); a valid request nests 5 deep.
const oipMaxJSONDepth = 100

// oipBody prepares the body of a /v2 inference request for the body guard
// and the validator: it decompresses a gzip or deflate body (bounding the
// decompressed bytes by maxBody, so that a small compressed body cannot
// expand without limit), checks Inference-Header-Content-Length against
// the body, and names the body's media type by its framing, whatever the
// client said: binary tensor data (application/octet-stream) when the
// header is present, JSON otherwise. As with Triton, the Content-Type does
// not matter: tritonclient sends none, curl -d a form type.
func oipBody(maxBody int64) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			if r.Method != http.MethodPost || !isOIPPath(r.URL.Path) || !strings.HasSuffix(c.Path(), "/infer") {
				return next(c)
			}
			body, err := readOIPBody(r, maxBody)
			if err != nil {
				return err
			}
			r.Header.Del(echo.HeaderContentEncoding)
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))

			jsonPart := body
			if h := r.Header.Get(oipHeaderLength); h != "" {
				n, err := strconv.ParseInt(strings.TrimSpace(h), 10, 64)
				if err != nil || n < 0 {
					return oipErrorf(http.StatusBadRequest, "%s %q is not a length in bytes", oipHeaderLength, clip(h))
				}
				if n > int64(len(body)) {
					return oipErrorf(http.StatusBadRequest, "%s %d is beyond the body of %d bytes", oipHeaderLength, n, len(body))
				}
				jsonPart = body[:n]
				r.Header.Set(echo.HeaderContentType, echo.MIMEOctetStream)
			} else {
				r.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			}
			if jsonDepthExceeds(jsonPart, oipMaxJSONDepth) {
				return oipErrorf(http.StatusBadRequest, "JSON nesting depth exceeds maximum allowed limit (%d)", oipMaxJSONDepth)
			}
			return next(c)
		}
	}
}

// readOIPBody reads r's body, decompressed, failing with 413 beyond
// maxBody bytes.
func readOIPBody(r *http.Request, maxBody int64) ([]byte, error) {
	tooLarge := oipErrorf(http.StatusRequestEntityTooLarge, "body is larger than %d bytes", maxBody)
	in, encoded, err := decodedBody(r)
	var ce *contentError
	if errors.As(err, &ce) {
		return nil, oipErrorf(ce.Status, "%s", ce.Message)
	}
	if !encoded && r.ContentLength > maxBody {
		return nil, tooLarge
	}
	body, err := io.ReadAll(io.LimitReader(in, maxBody+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge
		}
		return nil, oipErrorf(http.StatusBadRequest, "the body could not be read or decompressed")
	}
	if int64(len(body)) > maxBody {
		return nil, tooLarge
	}
	return body, nil
}

// jsonDepthExceeds reports whether the JSON text b nests arrays and
// objects deeper than limit. It does not check that b is valid JSON.
func jsonDepthExceeds(b []byte, limit int) bool {
	depth := 0
	inString, escaped := false, false
	for _, ch := range b {
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case ch == '\\':
				escaped = true
			case ch == '"':
				inString = false
			}
		case ch == '"':
			inString = true
		case ch == '[' || ch == '{':
			if depth++; depth > limit {
				return true
			}
		case ch == ']' || ch == '}':
			depth--
		}
	}
	return false
}

// handleOIPError answers an error of a /v2 request in the protocol's shape,
// {"error": "..."}: the same statuses as the rest of the API, except that a
// request that breaks the schema (422 elsewhere) is a 400, as the protocol
// has it.
func (s *Server) handleOIPError(err error, c echo.Context) {
	status, msg := http.StatusInternalServerError, ""
	var oe *oipError
	var ute *json.UnmarshalTypeError
	switch {
	case errors.As(err, &oe):
		status, msg = oe.status, oe.msg
	case errors.As(err, &ute):
		// Echo's binder, after the validator took the body: 1.0 for an
		// integer.
		oe = oipIntegerError(ute)
		status, msg = oe.status, oe.msg
	default:
		apiErr, internal := toError(c, err)
		if internal {
			s.log.LogAttrs(c.Request().Context(), slog.LevelError, "internal error",
				slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("method", c.Request().Method),
				slog.String("path", c.Request().URL.Path),
				slog.String("error", err.Error()))
		}
		status = apiErr.Status
		if status == http.StatusUnprocessableEntity {
			status = http.StatusBadRequest
		}
		problems := boundProblems(apiErr.Problems) // as in the envelope: 100 at most, each cut at 1 KiB
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.Message
			if len(p.Location) > 0 && p.Type != typeRouteNotFound && p.Type != typeMethodNotAllowed && !strings.Contains(p.Message, p.Location[0]) {
				msgs[i] = strings.Join(p.Location, ".") + ": " + p.Message
			}
		}
		msg = strings.Join(msgs, "; ")
	}
	if status == http.StatusUnauthorized {
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, "Bearer")
	}
	if c.Request().Method == http.MethodHead {
		err = c.NoContent(status)
	} else {
		err = c.JSON(status, map[string]string{"error": msg})
	}
	if err != nil {
		s.log.LogAttrs(c.Request().Context(), slog.LevelWarn, "write error response",
			slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("error", err.Error()))
	}
}
