package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveAddr runs s with Serve on a loopback port until the test ends and
// returns the address.
func serveAddr(t *testing.T, s *Server) string {
	t.Helper()
	url, _ := serveOnLoopback(t, s)
	return strings.TrimPrefix(url, "http://")
}

// newSmallBodyServer returns a ready server that takes bodies of at most
// 64 KiB.
func newSmallBodyServer(t *testing.T) *Server {
	t.Helper()
	return newTestServer(t, true, func(c *testConfig) { c.MaxBodyBytes = 64 << 10 })
}

// exchange writes payload on a new connection to addr, as a client that
// sends everything before reading, then reads until the server closes the
// connection or goes quiet, and returns the responses it read.
func exchange(t *testing.T, addr string, payload []byte) []*http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	_, err = conn.Write(payload)
	require.NoError(t, err, "the server reset the connection while the request was being sent")
	return readResponses(t, conn)
}

// readResponses reads responses from conn until it is closed or stays
// quiet for a second.
func readResponses(t *testing.T, conn net.Conn) []*http.Response {
	t.Helper()
	br := bufio.NewReader(conn)
	var out []*http.Response
	for {
		require.NoError(t, conn.SetReadDeadline(time.Now().Add(time.Second)))
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			var ne net.Error
			if err == io.EOF || err == io.ErrUnexpectedEOF || (errorAs(err, &ne) && ne.Timeout()) {
				return out
			}
			require.NoError(t, err, "after %d responses", len(out))
		}
		body, err := io.ReadAll(res.Body)
		require.NoError(t, err)
		res.Body = io.NopCloser(bytes.NewReader(body))
		out = append(out, res)
	}
}

func errorAs(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// problemOf decodes an error envelope and returns its first problem's type
// and location, after checking the body against the spec's ErrorEnvelope.
func problemOf(t *testing.T, res *http.Response) (typ, location string) {
	t.Helper()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	assert.Equal(t, "application/json", strings.Split(res.Header.Get("Content-Type"), ";")[0], "body: %s", body)
	validateErrorBody(t, loadSpec(t), body)
	var env struct {
		StatusCode int `json:"status-code"`
		Data       struct {
			Errors []struct {
				Type     string   `json:"type"`
				Location []string `json:"location"`
			} `json:"errors"`
		} `json:"data"`
	}
	require.NoError(t, json.Unmarshal(body, &env), "body: %s", body)
	assert.Equal(t, res.StatusCode, env.StatusCode)
	require.NotEmpty(t, env.Data.Errors)
	return env.Data.Errors[0].Type, strings.Join(env.Data.Errors[0].Location, ".")
}

// TestAmbiguousLengthIsRefused: a request with both Content-Length and
// Transfer-Encoding is answered 400 and its connection closed, so the bytes
// after it are never served as a second request (RFC 9112, section 6.1).
// Without Content-Length, the same bytes are two requests: the test would
// see the second.
func TestAmbiguousLengthIsRefused(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t, newTestServer(t, true))
	smuggled := "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
	for _, tc := range []struct {
		name, head string
		responses  int
	}{
		{"POST with both", "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 1},
		{"GET with both", "GET /health/live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\ncontent-length: 5\r\n\r\n", 1},
		{"HTTP/1.0 with both", "POST /predict HTTP/1.0\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 1},
		{"chunked only", "GET /health/live HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := exchange(t, addr, []byte(tc.head+"0\r\n\r\n"+smuggled))
			require.Len(t, res, tc.responses)
			if tc.responses == 1 {
				assert.Equal(t, http.StatusBadRequest, res[0].StatusCode)
				assert.True(t, res[0].Close, "the connection is closed")
				typ, loc := problemOf(t, res[0])
				assert.Equal(t, "malformed_request", typ)
				assert.Equal(t, "header.Transfer-Encoding", loc)
			}
		})
	}
}

// TestOversizedBodyIsAnsweredNotReset: a client that writes a body over the
// limit in full before reading (Python's http.client, urllib) reads the
// 413: the server reads and discards the rest instead of resetting the
// connection. A body it reads to its end leaves the connection usable.
func TestOversizedBodyIsAnsweredNotReset(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t, newTestServer(t, true))
	const limit = DefaultMaxBodyBytes
	for _, size := range []int{limit + 1, limit + 64<<10, 2 * limit} {
		t.Run(fmt.Sprintf("%d bytes, Content-Length", size), func(t *testing.T) {
			t.Parallel()
			body := `{"texts":[{"text":"` + strings.Repeat("a", size) + `"}]}`
			head := fmt.Sprintf("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
			res := exchange(t, addr, []byte(head+body+"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"))
			require.NotEmpty(t, res)
			assert.Equal(t, http.StatusRequestEntityTooLarge, res[0].StatusCode)
			typ, _ := problemOf(t, res[0])
			assert.Equal(t, "body_too_large", typ)
			if assert.Len(t, res, 2, "the connection serves the next request") {
				assert.Equal(t, http.StatusOK, res[1].StatusCode)
			}
		})
		t.Run(fmt.Sprintf("%d bytes, chunked", size), func(t *testing.T) {
			t.Parallel()
			var b strings.Builder
			b.WriteString("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
			chunk := strings.Repeat("a", 8<<10)
			for n := 0; n < size; n += len(chunk) {
				fmt.Fprintf(&b, "%x\r\n%s\r\n", len(chunk), chunk)
			}
			b.WriteString("0\r\n\r\n")
			res := exchange(t, addr, []byte(b.String()))
			require.NotEmpty(t, res)
			assert.Equal(t, http.StatusRequestEntityTooLarge, res[0].StatusCode)
		})
	}
}

// TestExpectContinueOverLimit: a client that asks before sending a body
// too large gets the 413 at once, without 100 Continue, and sends nothing.
func TestExpectContinueOverLimit(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t, newSmallBodyServer(t))
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	_, err = fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", 10<<20)
	require.NoError(t, err)
	res := readResponses(t, conn)
	require.Len(t, res, 1)
	assert.Equal(t, http.StatusRequestEntityTooLarge, res[0].StatusCode)
	assert.True(t, res[0].Close, "no body follows, so the connection cannot go on")
}

// TestNetHTTPErrorsInEnvelope: what net/http refuses before any handler
// runs is answered in the documented envelope, not in plain text.
func TestNetHTTPErrorsInEnvelope(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t, newTestServer(t, true))
	for _, tc := range []struct {
		name, request string
		status        int
		typ, location string
	}{
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n",
			http.StatusRequestHeaderFieldsTooLarge, "headers_too_large", "header"},
		{"no Host", "GET / HTTP/1.1\r\n\r\n", http.StatusBadRequest, "malformed_request", "header.Host"},
		{"malformed Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", http.StatusBadRequest, "malformed_request", "header.Host"},
		{"two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", http.StatusBadRequest, "malformed_request", ""},
		{"malformed request line", "NONSENSE\r\n\r\n", http.StatusBadRequest, "malformed_request", ""},
		{"unknown transfer encoding", "POST /predict HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
			http.StatusNotImplemented, "unsupported_transfer_encoding", "header.Transfer-Encoding"},
		{"HTTP/3", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", http.StatusHTTPVersionNotSupported, "unsupported_http_version", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := exchange(t, addr, []byte(tc.request))
			require.Len(t, res, 1)
			assert.Equal(t, tc.status, res[0].StatusCode)
			assert.True(t, res[0].Close)
			assert.NotEmpty(t, res[0].Header.Get("X-Request-Id"))
			typ, loc := problemOf(t, res[0])
			assert.Equal(t, tc.typ, typ)
			assert.Equal(t, tc.location, loc)
		})
	}
}

// TestNetHTTPErrorsOnOIP: what net/http refuses before any handler runs is
// answered {"error": "..."} on a /v2 path, as the protocol's clients parse
// it (tritonclient reads body["error"]), like every other /v2 error.
func TestNetHTTPErrorsOnOIP(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t, newTestServer(t, true))
	for _, tc := range []struct {
		name, request string
		status        int
		msg           string
	}{
		{"headers too large", "GET /v2/health/ready HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n",
			http.StatusRequestHeaderFieldsTooLarge, "the request line and headers are larger than the server takes"},
		{"unknown transfer encoding", "POST /v2/models/tagifai/infer HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
			http.StatusNotImplemented, "header.Transfer-Encoding: the only transfer encoding this server takes is chunked"},
		{"HTTP/2.5", "GET /v2/health/ready HTTP/2.5\r\nHost: x\r\n\r\n", http.StatusHTTPVersionNotSupported, "this server speaks HTTP/1.0 and HTTP/1.1"},
		{"malformed target", "GET /v2/models/%ZZ HTTP/1.1\r\nHost: x\r\n\r\n", http.StatusBadRequest, "the request is malformed"},
		{"absolute form", "GET http://x/v2?a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", http.StatusBadRequest, "the request is malformed"},
		{"no Host", "GET /v2 HTTP/1.1\r\n\r\n", http.StatusBadRequest, "the request is malformed: missing required Host header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := exchange(t, addr, []byte(tc.request))
			require.Len(t, res, 1)
			assert.Equal(t, tc.status, res[0].StatusCode)
			assert.True(t, res[0].Close)
			assert.Equal(t, "application/json", res[0].Header.Get("Content-Type"))
			assert.NotEmpty(t, res[0].Header.Get("X-Request-Id"))
			body, err := io.ReadAll(res[0].Body)
			require.NoError(t, err)
			var got map[string]any
			require.NoError(t, json.Unmarshal(body, &got), "body: %s", body)
			assert.Equal(t, []string{"error"}, keys(got), "body: %s", body)
			assert.Contains(t, got["error"], tc.msg)
		})
	}
	// A path that only starts like /v2 is the rest of the API's.
	res := exchange(t, addr, []byte("GET /v2x HTTP/2.5\r\nHost: x\r\n\r\n"))
	require.Len(t, res, 1)
	typ, _ := problemOf(t, res[0])
	assert.Equal(t, "unsupported_http_version", typ)
}

// TestFramingFollowsKeepAlive: requests of every framing, pipelined on one
// connection, are all served and none closes it: the framing reader keeps
// step with net/http (else it would close the connection to be safe).
func TestFramingFollowsKeepAlive(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t, newTestServer(t, true))
	body := `{"texts":[{"text":"a CNN"}]}`
	requests := []string{
		"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body,
		"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
			fmt.Sprintf("%x;ext=1\r\n%s\r\n", 10, body[:10]) + fmt.Sprintf("%X\r\n%s\r\n", len(body)-10, body[10:]) + "0\r\nX-Trailer: t\r\n\r\n",
		"GET /performance HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n Content-Length: 5\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /" + strings.Repeat("a", 300) + " HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET /health/ready HTTP/1.1\r\nHost: x\r\n\r\n",
	}
	res := exchange(t, addr, []byte(strings.Join(requests, "")))
	require.Len(t, res, len(requests))
	for i, want := range []int{200, 200, 200, 200, 404, 404, 200} {
		assert.Equal(t, want, res[i].StatusCode, "response %d", i)
		assert.False(t, res[i].Close, "response %d closes the connection", i)
	}
}

// BenchmarkFraming is the framing reader's cost per request: a typical
// head and a 1 KiB JSON body, as net/http reads them in 4 KiB pieces.
func BenchmarkFraming(b *testing.B) {
	body := `{"texts":[{"text":"` + strings.Repeat("a", 1000) + `"}]}`
	req := []byte("POST /predict HTTP/1.1\r\nHost: localhost:8000\r\nUser-Agent: python-requests/2.32.3\r\n" +
		"Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\nContent-Type: application/json\r\n" +
		"Authorization: Bearer tgf_0123456789abcdef0123456789abcdef\r\nContent-Length: " + fmt.Sprint(len(body)) + "\r\n\r\n" + body)
	b.SetBytes(int64(len(req)))
	b.ReportAllocs()
	var f framing
	for b.Loop() {
		f.feed(req)
		f.heads = f.heads[:0]
	}
	require.False(b, f.lost)
}

// FuzzFraming: the framing reader never panics, and reads the same heads
// whether the bytes come at once or one by one.
func FuzzFraming(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add([]byte("POST /p HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.0\r\n\r\n"))
	f.Add([]byte("POST /p HTTP/1.0\r\nContent-Length: 2\r\n\r\nab\r\n \r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var whole, bytewise framing
		whole.feed(data)
		for i := range data {
			bytewise.feed(data[i : i+1])
		}
		assert.Equal(t, whole.lost, bytewise.lost)
		assert.Equal(t, whole.heads, bytewise.heads)
		assert.Equal(t, whole.state, bytewise.state)
	})
}

// TestKeyCheckedBeforeBody: with --require-auth, a request without a valid
// key is refused before its body is read: a client that announced its body
// with Expect: 100-continue gets the 401 (or 403) instead of 100 Continue,
// and a body is never decompressed or decoded for a caller who may not
// send it.
func TestKeyCheckedBeforeBody(t *testing.T) {
	t.Parallel()
	s, _, k := newRegistryServer(t, true)
	addr := serveAddr(t, s)
	for _, tc := range []struct {
		name, path, auth string
		status           int
	}{
		{"no key, batch job", "/batch-jobs", "", http.StatusUnauthorized},
		{"no key, feedback", "/feedback", "", http.StatusUnauthorized},
		{"no key, /v2", "/v2/models/tagifai/infer", "", http.StatusUnauthorized},
		{"unknown key, predict", "/predict", "Authorization: Bearer tgf_nope\r\n", http.StatusUnauthorized},
		{"a viewer's key, batch job", "/batch-jobs", "Authorization: Bearer " + k["viewer"] + "\r\n", http.StatusForbidden},
		{"two keys, the first an admin's", "/batch-jobs", "Authorization: Bearer " + k["admin"] + "\r\nAuthorization: Bearer tgf_nope\r\n", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			conn, err := net.Dial("tcp", addr)
			require.NoError(t, err)
			defer conn.Close()
			_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\n%sContent-Length: %d\r\nExpect: 100-continue\r\n\r\n",
				tc.path, tc.auth, 1<<20)
			require.NoError(t, err)
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
			line, err := bufio.NewReader(conn).ReadString('\n')
			require.NoError(t, err)
			assert.Equal(t, fmt.Sprintf("HTTP/1.1 %d %s\r\n", tc.status, http.StatusText(tc.status)), line, "the answer, not 100 Continue")
		})
	}
}

// TestConnectionLimit: past MaxConnections, a new connection waits in the
// kernel's queue and is served once another closes, rather than take the
// descriptors the registry's database needs.
func TestConnectionLimit(t *testing.T) {
	t.Parallel()
	addr := serveAddr(t, newTestServer(t, true, func(c *testConfig) { c.MaxConnections = 2 }))
	get := "GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
	var held []net.Conn
	for range 2 {
		conn, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer conn.Close()
		res := exchangeOn(t, conn, get)
		require.Equal(t, http.StatusOK, res.StatusCode)
		held = append(held, conn) // kept open and idle
	}
	third, err := net.Dial("tcp", addr) // the kernel takes it; the server does not yet
	require.NoError(t, err)
	defer third.Close()
	_, err = third.Write([]byte(get))
	require.NoError(t, err)
	require.NoError(t, third.SetReadDeadline(time.Now().Add(300*time.Millisecond)))
	_, err = third.Read(make([]byte, 1))
	require.Error(t, err, "a third connection is not served while two are open")
	require.NoError(t, held[0].Close())
	require.NoError(t, third.SetReadDeadline(time.Now().Add(10*time.Second)))
	res, err := http.ReadResponse(bufio.NewReader(third), nil)
	require.NoError(t, err, "served once one closed")
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

// exchangeOn sends one request on conn and reads its response.
func exchangeOn(t *testing.T, conn net.Conn, request string) *http.Response {
	t.Helper()
	_, err := conn.Write([]byte(request))
	require.NoError(t, err)
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}
