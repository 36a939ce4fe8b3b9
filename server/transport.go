package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tagifai/tagifai/gen"
)

// This file hardens what net/http does below the handlers, on each
// HTTP/1.x connection that Serve accepts:
//
//   - A request with both Content-Length and Transfer-Encoding is answered
//     400 and its connection closed (RFC 9112, section 6.1). net/http
//     follows Transfer-Encoding and deletes Content-Length before any
//     handler runs, so the handler cannot see the conflict: a framingConn
//     reads the request framing as the bytes go by and tells the handler.
//   - A body the handler did not read (a 413, a 401 on an upload) is read
//     and discarded, within lingerMaxBytes and lingerTimeout, after the
//     answer is sent, like nginx's lingering close: a client that writes
//     its whole body before reading, as Python's http.client does, then
//     sees the answer instead of a reset connection. A client that sent
//     Expect: 100-continue and was answered before the body was read sends
//     no body, and none is waited for.
//   - The errors net/http writes itself before any handler runs (431, 400
//     for a malformed request or Host, 501, 505) are rewritten into the
//     documented envelope, or for a request to /v2 into the Open Inference
//     Protocol's {"error": "..."}.

// Bounds on reading a body that no handler wanted.
const (
	lingerMaxBytes = 64 << 20
	lingerTimeout  = 10 * time.Second
)

// framingListener wraps each accepted connection in a framingConn.
type framingListener struct{ net.Listener }

func (l framingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &framingConn{Conn: c}, nil
}

// connKey is the context key under which Serve stores a request's
// framingConn.
type connKey struct{}

// ambiguousKey marks, in a request's context, a request whose length was
// given by both Content-Length and Transfer-Encoding.
type ambiguousKey struct{}

// framingConn is a server connection that follows the framing of the
// requests read from it (where each request's head and body end) and
// rewrites net/http's own plain-text error responses into the envelope.
type framingConn struct {
	net.Conn
	mu sync.Mutex
	f  framing
	// lingerOnClose is set once net/http answered an error itself: it
	// closes the connection next, maybe with the request still arriving.
	lingerOnClose bool
}

// CloseWrite lets net/http half-close the connection before closing it,
// as it does with a bare TCP connection.
func (c *framingConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Close closes the connection; after an error that net/http answered
// itself, it first reads and discards what the client still sends, within
// lingerMaxBytes and lingerTimeout, so that the client reads the answer
// instead of a reset.
func (c *framingConn) Close() error {
	c.mu.Lock()
	linger := c.lingerOnClose
	c.lingerOnClose = false
	c.mu.Unlock()
	if linger {
		_ = c.CloseWrite()
		_ = c.Conn.SetReadDeadline(time.Now().Add(lingerTimeout))
		_, _ = io.CopyN(io.Discard, c.Conn, lingerMaxBytes)
	}
	return c.Conn.Close()
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.f.feed(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

func (c *framingConn) Write(p []byte) (int, error) {
	if env, ok := c.rewriteError(p); ok {
		if _, err := c.Conn.Write(env); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

// takeHead returns what the framing reader saw of the head of r, the next
// request the connection's handler serves; ok is false when it cannot
// tell, which only bytes that net/http refuses too should cause.
func (c *framingConn) takeHead(r *http.Request) (h requestHead, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f.lost || len(c.f.heads) == 0 {
		return requestHead{}, false
	}
	h, c.f.heads = c.f.heads[0], c.f.heads[1:]
	if want := r.Method + " " + r.RequestURI + " " + r.Proto; !strings.HasPrefix(want, h.line) {
		// Out of step with net/http: stop following this connection.
		c.f.lost, c.f.heads = true, nil
		return requestHead{}, false
	}
	return h, true
}

// netHTTPErrorHeaders follow the status line of the error responses that
// net/http writes itself (server.go, conn.serve); a handler's response
// never has them in this order, as net/http sorts its header lines.
const netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"

// rewriteError returns the envelope response for p when p is an error
// response that net/http wrote itself.
func (c *framingConn) rewriteError(p []byte) ([]byte, bool) {
	const prefix = "HTTP/1.1 "
	if !bytes.HasPrefix(p, []byte(prefix)) {
		return nil, false
	}
	eol := bytes.IndexByte(p, '\r')
	if eol < 0 || !bytes.HasPrefix(p[eol:], []byte(netHTTPErrorHeaders)) || eol < len(prefix)+3 {
		return nil, false
	}
	status, err := strconv.Atoi(string(p[len(prefix) : len(prefix)+3]))
	if err != nil || status < 400 {
		return nil, false
	}
	text := strings.TrimSpace(string(p[eol+len(netHTTPErrorHeaders):]))
	c.mu.Lock()
	line := c.f.lastLine
	c.lingerOnClose = true
	c.mu.Unlock()
	method, target := "", ""
	fields := strings.Fields(line)
	if len(fields) == 3 {
		method, target = truncate(fields[0], maxLoggedMethod), truncate(fields[1], maxLoggedPath)
	}
	url := "http://" + c.LocalAddr().String()
	if strings.HasPrefix(target, "/") {
		url += target
	}
	typ, location := transportProblem(status, text)
	msg := transportMessage(status, text)
	var body []byte
	if len(fields) >= 2 && isOIPTarget(fields[1]) {
		// The Open Inference Protocol's clients read {"error": "..."}, as
		// every other /v2 error is (handleOIPError).
		if len(location) > 0 && !strings.Contains(msg, location[0]) {
			msg = strings.Join(location, ".") + ": " + msg
		}
		body, err = json.Marshal(map[string]string{"error": msg})
	} else {
		env := gen.ErrorEnvelope{Message: http.StatusText(status), Method: method, StatusCode: status,
			Timestamp: time.Now().UTC(), Url: url}
		env.Data.Errors = []gen.Problem{{Location: location, Message: msg, Type: typ}}
		body, err = json.Marshal(env)
	}
	if err != nil {
		return nil, false
	}
	var b bytes.Buffer
	b.WriteString(prefix + strconv.Itoa(status) + " " + http.StatusText(status) + "\r\n")
	b.WriteString("Connection: close\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n")
	b.WriteString("Content-Type: application/json\r\nX-Request-Id: " + newRequestID() + "\r\n\r\n")
	b.Write(body)
	return b.Bytes(), true
}

// isOIPTarget reports whether the request target of a request line, in
// origin form (/v2/...) or absolute form (http://host/v2/...), names a path
// of the Open Inference Protocol. It reads the target as it is, so that a
// target that is not a valid URL (/v2/models/%ZZ) is still recognised.
func isOIPTarget(target string) bool {
	if _, rest, ok := strings.Cut(target, "://"); ok {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return false
		}
		target = rest[i:]
	}
	if i := strings.IndexAny(target, "?#"); i >= 0 {
		target = target[:i]
	}
	return isOIPPath(target)
}

// transportProblem is the problem type and location of an error that
// net/http answers itself.
func transportProblem(status int, text string) (string, []string) {
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return typeHeadersTooLarge, []string{"header"}
	case http.StatusNotImplemented:
		return typeUnsupportedTransferEncoding, []string{"header", "Transfer-Encoding"}
	case http.StatusHTTPVersionNotSupported:
		return typeUnsupportedHTTPVersion, []string{}
	}
	if strings.Contains(text, "Host") {
		return typeMalformedRequest, []string{"header", "Host"}
	}
	return typeMalformedRequest, []string{}
}

// transportMessage says what net/http refused; its own text names no
// client input.
func transportMessage(status int, text string) string {
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return "the request line and headers are larger than the server takes"
	case http.StatusNotImplemented:
		return "the only transfer encoding this server takes is chunked"
	case http.StatusHTTPVersionNotSupported:
		return "this server speaks HTTP/1.0 and HTTP/1.1"
	}
	if _, detail, ok := strings.Cut(text, ": "); ok && detail != "" {
		return "the request is malformed: " + detail
	}
	return "the request is malformed"
}

// requestHead is what the framing reader keeps of a request's head.
type requestHead struct {
	// line is the request line, cut to maxHeadLine bytes.
	line string
	// ambiguous is set when the head has both Content-Length and
	// Transfer-Encoding.
	ambiguous bool
}

// maxHeadLine bounds how much of a request line the framing reader keeps.
const maxHeadLine = 256

// framing follows the framing of the requests on one connection (RFC 9112,
// sections 2 to 7) as net/http reads them: request line, header lines,
// then a body of Content-Length bytes or in chunks. It keeps the heads of
// the requests no handler has taken yet. When the bytes stop making sense
// it gives up (lost): net/http then refuses the request and closes the
// connection anyway.
type framing struct {
	state     framingState
	line      []byte // the line being read
	remaining int64  // bytes of body or chunk left to skip
	head      requestHead
	cl, te    []string // Content-Length and Transfer-Encoding values
	http10    bool     // the request is HTTP/1.0
	heads     []requestHead
	lastLine  string // the last request line seen, cut to maxHeadLine bytes
	lost      bool
}

type framingState int

const (
	stRequestLine framingState = iota
	stHeader
	stBody
	stChunkSize
	stChunkData
	stChunkEnd
	stTrailer
)

// maxFramingLine bounds a line the framing reader buffers: net/http
// refuses longer heads (Serve's MaxHeaderBytes) before they matter.
const maxFramingLine = 1 << 20

func (f *framing) feed(p []byte) {
	for len(p) > 0 && !f.lost {
		if f.state == stBody || f.state == stChunkData {
			n := int64(len(p))
			if n > f.remaining {
				n = f.remaining
			}
			f.remaining -= n
			p = p[n:]
			if f.remaining == 0 {
				if f.state == stBody {
					f.state = stRequestLine
				} else {
					f.state = stChunkEnd
				}
			}
			continue
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			f.line = append(f.line, p...)
			if len(f.line) > maxFramingLine {
				f.giveUp()
			}
			return
		}
		f.line = append(f.line, p[:i]...)
		p = p[i+1:]
		f.endLine(bytes.TrimSuffix(f.line, []byte("\r")))
		f.line = f.line[:0]
	}
}

func (f *framing) giveUp() { f.lost, f.heads, f.line = true, nil, nil }

func (f *framing) endLine(line []byte) {
	switch f.state {
	case stRequestLine:
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			return // tolerated before a request line (RFC 9112, section 2.2)
		}
		f.head = requestHead{line: string(line[:min(len(line), maxHeadLine)])}
		f.lastLine = f.head.line
		f.http10 = bytes.HasSuffix(line, []byte(" HTTP/1.0"))
		f.cl, f.te = nil, nil
		f.state = stHeader
	case stHeader:
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			return // continues the line before (obs-fold), as net/http reads it
		}
		if len(line) > 0 {
			name, value, ok := bytes.Cut(line, []byte(":"))
			name = bytes.TrimSpace(name)
			switch {
			case !ok:
			case bytes.EqualFold(name, []byte("Content-Length")):
				f.cl = append(f.cl, string(bytes.TrimSpace(value)))
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				f.te = append(f.te, string(bytes.TrimSpace(value)))
			}
			return
		}
		f.head.ambiguous = len(f.cl) > 0 && len(f.te) > 0
		f.heads = append(f.heads, f.head)
		f.bodyStart()
	case stChunkSize:
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, ok := parseChunkSize(bytes.TrimSpace(size))
		switch {
		case !ok:
			f.giveUp()
		case n == 0:
			f.state = stTrailer
		default:
			f.state, f.remaining = stChunkData, n
		}
	case stChunkEnd:
		if len(line) != 0 {
			f.giveUp()
			return
		}
		f.state = stChunkSize
	case stTrailer:
		if len(line) == 0 {
			f.state = stRequestLine
		}
	}
}

// parseChunkSize reads a chunk size: 1 to 15 hexadecimal digits.
func parseChunkSize(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, false
		}
		n = n<<4 | int64(d)
	}
	return n, true
}

// bodyStart decides, as net/http does, how the body of the request whose
// head just ended is framed.
func (f *framing) bodyStart() {
	f.state = stRequestLine
	if len(f.te) > 0 && !f.http10 {
		if len(f.te) != 1 || !strings.EqualFold(f.te[0], "chunked") {
			f.giveUp() // net/http answers 501 and closes
			return
		}
		f.state = stChunkSize
		return
	}
	if len(f.cl) == 0 {
		return
	}
	n, err := strconv.ParseInt(f.cl[0], 10, 64)
	if err != nil || n < 0 {
		f.giveUp() // net/http answers 400 and closes
		return
	}
	if n > 0 {
		f.state, f.remaining = stBody, n
	}
}

// serveConn is the handler that Serve runs for each request: it answers a
// request of ambiguous length with 400 and closes its connection, and
// otherwise serves it with h and lingers over a body h left unread.
func serveConn(h http.Handler, w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	if fc, ok := r.Context().Value(connKey{}).(*framingConn); ok && r.ProtoMajor == 1 {
		head, ok := fc.takeHead(r)
		if !ok {
			// The framing reader lost the thread: do not trust what
			// follows on this connection either.
			w.Header().Set("Connection", "close")
		}
		if head.ambiguous {
			w.Header().Set("Connection", "close")
			h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ambiguousKey{}, true)))
			_ = rc.Flush()
			// Read nothing more: the rest is not to be trusted.
			_ = rc.SetReadDeadline(time.Now())
			return
		}
	}
	if r.ProtoMajor != 1 || r.Body == nil || r.Body == http.NoBody || rc.EnableFullDuplex() != nil {
		h.ServeHTTP(w, r)
		return
	}
	body := &trackedBody{ReadCloser: r.Body}
	inner := r.WithContext(r.Context())
	inner.Body = body
	h.ServeHTTP(w, inner)
	if body.eof || (!body.read && strings.EqualFold(r.Header.Get("Expect"), "100-continue")) {
		// All read; or the client waits for 100 Continue, which net/http
		// sends only when the body is read: it sends no body.
		return
	}
	_ = rc.Flush()
	_ = rc.SetReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.CopyN(io.Discard, body, lingerMaxBytes)
}

// trackedBody records whether a request body was read at all, and to its
// end.
type trackedBody struct {
	io.ReadCloser
	read, eof bool
}

func (b *trackedBody) Read(p []byte) (int, error) {
	b.read = true
	n, err := b.ReadCloser.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

// rejectAmbiguous answers a request marked by serveConn as of ambiguous
// length.
func rejectAmbiguous(c echo.Context) error {
	if ambiguous, _ := c.Request().Context().Value(ambiguousKey{}).(bool); ambiguous {
		return problemError(http.StatusBadRequest, typeMalformedRequest,
			"the request has both Content-Length and Transfer-Encoding; send one (RFC 9112, section 6.1)",
			"header", "Transfer-Encoding")
	}
	return nil
}
