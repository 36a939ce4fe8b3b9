package server

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
)

// contentError is a request body whose Content-Encoding the server cannot
// decode: Status is 415 for an encoding it does not know, 400 for a body
// that is not what its encoding says.
type contentError struct {
	Status  int
	Message string
}

func (e *contentError) Error() string { return e.Message }

// decodedBody returns r's body decoded from its Content-Encoding, and
// whether it was encoded: identity (or none), gzip (x-gzip) and deflate,
// which RFC 9110 defines as zlib data and some clients send raw. Anything
// else is a *contentError. The caller bounds what it reads: a small
// compressed body can expand to any size.
func decodedBody(r *http.Request) (body io.Reader, encoded bool, err error) {
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get(echo.HeaderContentEncoding))); enc {
	case "", "identity":
		return r.Body, false, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, true, &contentError{http.StatusBadRequest, "the body is not gzip data"}
		}
		return zr, true, nil
	case "deflate":
		br := bufio.NewReader(r.Body)
		if head, err := br.Peek(2); err == nil && head[0]&0x0f == 8 && (uint16(head[0])<<8|uint16(head[1]))%31 == 0 {
			zr, err := zlib.NewReader(br)
			if err != nil {
				return nil, true, &contentError{http.StatusBadRequest, "the body is not deflate data"}
			}
			return zr, true, nil
		}
		return flate.NewReader(br), true, nil
	default:
		return nil, true, &contentError{http.StatusUnsupportedMediaType,
			fmt.Sprintf("content encoding %q is not supported; use gzip, deflate or none", clip(enc))}
	}
}
