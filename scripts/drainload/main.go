// Command drainload measures a graceful shutdown under load: it keeps -conns
// keep-alive connections busy with POST requests (closed loop: each sends its
// next request when the last one is answered), sends -signal to -pid after
// -signal-after, and counts how every request ended.
//
// A request is one of:
//
//   - ok: a 2xx whose body was read to the end;
//   - failed: a request that was sent and got a non-2xx, or no complete
//     response (the connection was reset or closed before the end of the
//     response, or the request timed out). A request counts as sent once
//     its first byte was written to a connection;
//   - refused: the connection to send it on could not be opened (connection
//     refused). Nothing was sent: the server had closed its listener. A
//     connection that sees this stops, since every later attempt would be
//     refused too.
//
// Failed requests that were written on a reused keep-alive connection and saw
// no byte of a response are also reported on their own ("idle-close"): they
// are the HTTP/1.1 race in which the server closes a connection it believes
// idle while a request to it is in transit.
//
// It prints one summary line and exits 1 if any request failed, if no request
// was in flight when the signal was sent, or if the server never closed its
// listener.
//
//	drainload -url http://127.0.0.1:18020/predict -body req.json -pid 1234
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to POST to")
	bodyFile := flag.String("body", "", "file with the JSON request body")
	conns := flag.Int("conns", 32, "connections, each with one request at a time")
	duration := flag.Duration("duration", 20*time.Second, "upper bound on the run")
	pid := flag.Int("pid", 0, "process to signal; 0 sends none")
	signalAfter := flag.Duration("signal-after", 5*time.Second, "when to send the signal")
	timeout := flag.Duration("timeout", 30*time.Second, "per-request timeout")
	flag.Parse()
	if *url == "" || *bodyFile == "" || *conns < 1 {
		flag.Usage()
		os.Exit(2)
	}
	body, err := os.ReadFile(*bodyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "drainload:", err)
		os.Exit(2)
	}
	r := run(config{url: *url, body: body, conns: *conns, duration: *duration, pid: *pid, signalAfter: *signalAfter, timeout: *timeout})
	fmt.Println(r.summary())
	if !r.pass() {
		os.Exit(1)
	}
}

type config struct {
	url         string
	body        []byte
	conns       int
	duration    time.Duration
	pid         int
	signalAfter time.Duration
	timeout     time.Duration
}

// outcome is how one request ended.
type outcome int

const (
	ok outcome = iota
	failed
	refused
)

// result is one request's fate.
type result struct {
	outcome   outcome
	status    int  // HTTP status, when a response head arrived
	idleClose bool // failed on a reused connection before any response byte
	started   time.Time
	ended     time.Time
	err       error
}

// report aggregates the results of a run.
type report struct {
	cfg        config
	results    []result
	signalled  time.Time // zero when no signal was sent
	start, end time.Time
}

func run(cfg config) *report {
	tr := &http.Transport{
		MaxIdleConns:        cfg.conns,
		MaxIdleConnsPerHost: cfg.conns,
		MaxConnsPerHost:     cfg.conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	client := &http.Client{Transport: tr, Timeout: cfg.timeout}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.duration)
	defer cancel()

	rep := &report{cfg: cfg, start: time.Now()}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range cfg.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []result
			for ctx.Err() == nil {
				res := send(ctx, client, cfg)
				if res.outcome == failed && errors.Is(res.err, context.DeadlineExceeded) && ctx.Err() != nil {
					break // the run's own deadline, not the server's doing
				}
				mine = append(mine, res)
				if res.outcome == refused {
					break
				}
			}
			mu.Lock()
			rep.results = append(rep.results, mine...)
			mu.Unlock()
		}()
	}
	if cfg.pid > 0 {
		select {
		case <-time.After(cfg.signalAfter):
			rep.signalled = time.Now()
			if err := syscall.Kill(cfg.pid, syscall.SIGTERM); err != nil {
				fmt.Fprintln(os.Stderr, "drainload: signal:", err)
			}
		case <-ctx.Done():
		}
	}
	wg.Wait()
	rep.end = time.Now()
	tr.CloseIdleConnections()
	return rep
}

// send makes one request and classifies how it ended.
func send(ctx context.Context, client *http.Client, cfg config) result {
	var wrote, reused, firstByte atomic.Bool
	trace := &httptrace.ClientTrace{
		GotConn:              func(info httptrace.GotConnInfo) { reused.Store(info.Reused) },
		WroteHeaderField:     func(string, []string) { wrote.Store(true) },
		GotFirstResponseByte: func() { firstByte.Store(true) },
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodPost, cfg.url, bytes.NewReader(cfg.body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")

	res := result{started: time.Now()}
	resp, err := client.Do(req)
	if err == nil {
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		res.status = resp.StatusCode
	}
	res.ended = time.Now()
	res.err = err
	switch {
	case err == nil && res.status >= 200 && res.status < 300:
		res.outcome = ok
	case err != nil && !wrote.Load() && isRefused(err):
		res.outcome = refused
	default:
		res.outcome = failed
		res.idleClose = err != nil && reused.Load() && !firstByte.Load()
	}
	return res
}

func isRefused(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}

func (r *report) count(o outcome) int {
	n := 0
	for _, res := range r.results {
		if res.outcome == o {
			n++
		}
	}
	return n
}

// inFlightAtSignal counts requests that had started before the signal and
// ended after it, and how many of them were ok.
func (r *report) inFlightAtSignal() (total, okCount int) {
	if r.signalled.IsZero() {
		return 0, 0
	}
	for _, res := range r.results {
		if res.started.Before(r.signalled) && res.ended.After(r.signalled) && res.outcome != refused {
			total++
			if res.outcome == ok {
				okCount++
			}
		}
	}
	return total, okCount
}

// lastOKAfterSignal is how long after the signal the last ok request ended.
func (r *report) lastOKAfterSignal() time.Duration {
	var last time.Time
	for _, res := range r.results {
		if res.outcome == ok && res.ended.After(last) {
			last = res.ended
		}
	}
	if r.signalled.IsZero() || last.Before(r.signalled) {
		return 0
	}
	return last.Sub(r.signalled)
}

func (r *report) pass() bool {
	if r.count(failed) > 0 {
		return false
	}
	if r.cfg.pid > 0 {
		total, _ := r.inFlightAtSignal()
		return total > 0 && r.count(refused) > 0
	}
	return true
}

func (r *report) summary() string {
	failures := map[string]int{}
	idle := 0
	for _, res := range r.results {
		if res.outcome != failed {
			continue
		}
		if res.idleClose {
			idle++
		}
		key := fmt.Sprintf("HTTP %d", res.status)
		if res.err != nil {
			key = res.err.Error()
			if i := strings.LastIndex(key, ": "); i >= 0 {
				key = key[i+2:]
			}
		}
		failures[key]++
	}
	var kinds []string
	for k, n := range failures {
		kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
	}
	sort.Strings(kinds)
	detail := ""
	if len(kinds) > 0 {
		detail = " [" + strings.Join(kinds, "; ") + "]"
	}
	inflight, inflightOK := r.inFlightAtSignal()
	sig := "no signal sent"
	if !r.signalled.IsZero() {
		sig = fmt.Sprintf("SIGTERM at %.1fs: %d in flight, %d of them ok; last ok %.0fms after the signal",
			r.signalled.Sub(r.start).Seconds(), inflight, inflightOK, float64(r.lastOKAfterSignal().Microseconds())/1000)
	}
	verdict := "PASS"
	if !r.pass() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("drainload %s: %d conns, %d requests in %.1fs: %d ok, %d failed (%d idle-close)%s, %d refused (not sent, listener closed); %s",
		verdict, r.cfg.conns, len(r.results), r.end.Sub(r.start).Seconds(), r.count(ok), r.count(failed), idle, detail, r.count(refused), sig)
}
