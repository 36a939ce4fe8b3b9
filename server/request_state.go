package server

import (
	"context"
	"encoding/hex"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/tagifai/tagifai/gen"
)

// requestState is what the server keeps about one request while it
// answers it. It is also the request's context (one allocation instead of
// a context.WithValue per value): handlers find in it the request as it
// arrived (requestKey), whether it is a HEAD answered as a GET (headKey),
// and, through stateKey, what middleware learnt on the way (the body read
// by bodyGuard, the body the validator decoded).
type requestState struct {
	context.Context
	// req is the request as the handlers see it (a HEAD as a GET).
	req  *http.Request
	head bool
	// start is when the server began answering the request.
	start time.Time
	// id is the request id, echoed in X-Request-Id.
	id string
	// body is the request body that bodyGuard read, nil when it read none.
	body []byte
	// bodyReader reads body, as the request's Body.
	bodyReader readerCloser
	// predict is the POST /predict body that the validator's fast path
	// decoded and checked; nil when the full validator checked the
	// request.
	predict *gen.PredictRequest
	// next is what the middleware chain calls last (see enterChain).
	next echo.HandlerFunc
	// Header values, held here so that setting a header allocates nothing.
	idHeader, contentTypeHeader [1]string
}

// stateKey is the context key of a request's *requestState.
type stateKey struct{}

// Value implements context.Context.
func (st *requestState) Value(key any) any {
	switch key.(type) {
	case stateKey:
		return st
	case requestKey:
		return st.req
	case headKey:
		if st.head {
			return true
		}
	}
	return st.Context.Value(key)
}

// stateFrom returns the state of the request that ctx belongs to, or nil.
func stateFrom(ctx context.Context) *requestState {
	st, _ := ctx.Value(stateKey{}).(*requestState)
	return st
}

// serve answers one request: it gives the request an id (the client's
// X-Request-ID when it is sane, a new one otherwise) and echoes it, makes
// its state the request's context, and answers a HEAD as a GET without
// its body (RFC 9110, section 9.3.2).
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	st := &requestState{Context: r.Context(), start: time.Now()}
	st.id = r.Header.Get(echo.HeaderXRequestID)
	if !validRequestID(st.id) {
		st.id = newRequestID()
	}
	st.idHeader[0] = st.id
	h := w.Header()
	h["X-Request-Id"] = st.idHeader[:]
	// No answer is to be sniffed for another type, nor kept by a cache
	// unless its handler says so (the docs' and console's assets do): an
	// API answer may hold an API key (POST /users) or predictions.
	h["X-Content-Type-Options"] = nosniff
	h["Cache-Control"] = noStore
	if r.Method == http.MethodHead {
		st.head = true
		w = headWriter{w}
	}
	req := r.WithContext(st)
	if st.head {
		req.Method = http.MethodGet
	}
	st.req = req
	s.echo.ServeHTTP(w, req)
}

// Header values every answer starts with; shared, never changed.
var (
	nosniff = []string{"nosniff"}
	noStore = []string{"no-store"}
)

// enterChain is the one middleware installed in Echo: it runs the server's
// middleware chain, composed once in New, and then next, the route's
// handler (behind any middleware installed after it). Echo composes its
// middleware again on every request, one allocation per layer; this way
// that is one allocation in all. A request of ambiguous length is
// answered at once.
func (s *Server) enterChain(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := rejectAmbiguous(c); err != nil {
			return err
		}
		st := stateFrom(c.Request().Context())
		if st == nil {
			return compose(next, s.middleware...)(c)
		}
		st.next = next
		return s.chain(c)
	}
}

// callNext is the end of the composed middleware chain: the handler that
// enterChain was given for the request.
func callNext(c echo.Context) error { return stateFrom(c.Request().Context()).next(c) }

// compose wraps h in mws, the first outermost.
func compose(h echo.HandlerFunc, mws ...echo.MiddlewareFunc) echo.HandlerFunc {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// newRequestID returns 24 random hexadecimal digits, from the runtime's
// ChaCha8 generator: no system call and no lock per request.
func newRequestID() string {
	var raw [12]byte
	a, b := rand.Uint64(), rand.Uint32()
	for i := range 8 {
		raw[i] = byte(a >> (8 * i))
	}
	for i := range 4 {
		raw[8+i] = byte(b >> (8 * i))
	}
	var out [24]byte
	hex.Encode(out[:], raw[:])
	return string(out[:])
}

// setJSONContentType sets the Content-Type of a JSON response, without
// allocating when the request's state is at hand.
func setJSONContentType(h http.Header, st *requestState) {
	if st == nil {
		h.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
		return
	}
	st.contentTypeHeader[0] = echo.MIMEApplicationJSON
	h[echo.HeaderContentType] = st.contentTypeHeader[:]
}
