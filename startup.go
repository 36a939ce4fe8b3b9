package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// startupServer answers on the listener while serve opens the registry and
// loads the model, so that the port is taken at once and probes get an
// answer: GET /health/live is 200 (the process is alive), everything else
// 503 not_ready in the API's error envelope, with Retry-After. handOver
// then stops it and gives the listener, still open, to the real server.
type startupServer struct {
	ln   *handOverListener
	hs   *http.Server
	done chan error
}

// startStartupServer starts answering on ln, which must be a TCP listener.
func startStartupServer(ln net.Listener, log *slog.Logger) (*startupServer, error) {
	tcp, ok := ln.(*net.TCPListener)
	if !ok {
		return nil, fmt.Errorf("start-up: %T is not a TCP listener", ln)
	}
	s := &startupServer{
		ln: &handOverListener{TCPListener: tcp},
		hs: &http.Server{
			Handler:           http.HandlerFunc(startupHandler),
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      10 * time.Second,
			IdleTimeout:       10 * time.Second,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		done: make(chan error, 1),
	}
	go func() { s.done <- s.hs.Serve(s.ln) }()
	return s, nil
}

// handOver stops answering (requests in flight finish) and returns the
// listener, still bound, for the real server.
func (s *startupServer) handOver(ctx context.Context) (net.Listener, error) {
	err := s.hs.Shutdown(ctx) // closes s.ln, which only stops Accept
	if serr := <-s.done; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if derr := s.ln.TCPListener.SetDeadline(time.Time{}); derr != nil {
		err = errors.Join(err, derr)
	}
	return s.ln.TCPListener, err
}

// close stops answering and releases the port, after a failed start.
func (s *startupServer) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = s.hs.Shutdown(ctx)
	<-s.done
	_ = s.ln.TCPListener.Close()
}

// handOverListener is a TCP listener whose Close stops Accept without
// closing the socket, so that it can be handed to another http.Server.
type handOverListener struct {
	*net.TCPListener
	stopped atomic.Bool
}

func (l *handOverListener) Accept() (net.Conn, error) {
	c, err := l.TCPListener.Accept()
	if err != nil && l.stopped.Load() {
		return nil, net.ErrClosed
	}
	return c, err
}

func (l *handOverListener) Close() error {
	l.stopped.Store(true)
	return l.TCPListener.SetDeadline(time.Now()) // wakes a pending Accept
}

// startupHandler answers liveness with 200 and everything else with 503.
func startupHandler(w http.ResponseWriter, r *http.Request) {
	status, data := http.StatusServiceUnavailable, any(map[string]any{"errors": []map[string]any{{
		"location": []string{}, "message": "the server is starting: the model is not loaded yet", "type": "not_ready",
	}}})
	if r.URL.Path == "/health/live" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		status, data = http.StatusOK, map[string]any{"status": "alive"}
	} else {
		w.Header().Set("Retry-After", "1")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	body, _ := json.Marshal(map[string]any{
		"data": data, "message": http.StatusText(status), "method": r.Method, "status-code": status,
		"timestamp": time.Now().UTC().Format(time.RFC3339), "url": scheme + "://" + r.Host + r.URL.RequestURI(),
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
