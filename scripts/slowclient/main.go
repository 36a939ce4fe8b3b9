// Command slowclient attacks a server slowloris-style and watches it stay
// responsive. It opens -slow connections: half send a request's headers one
// byte at a time, never finishing them; the other half send complete headers
// and then the body one byte at a time. Meanwhile a well-behaved client sends
// POST /predict every -probe-every and times the answers.
//
// A slow connection is "cut" when the server closes it or answers it (a slow
// body is answered with an error once the server's read deadline passes). The
// server passes when every slow connection is cut before -duration ends,
// header-slow ones within -header-limit and body-slow ones within
// -body-limit, and every probe gets a 200 within -probe-timeout.
//
// It prints one summary line and exits 1 on a failure.
//
//	slowclient -addr 127.0.0.1:18030 -slow 1000 -duration 40s
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

type config struct {
	addr         string
	slow         int
	interval     time.Duration
	duration     time.Duration
	headerLimit  time.Duration
	bodyLimit    time.Duration
	probeEvery   time.Duration
	probeTimeout time.Duration
	body         []byte
}

func main() {
	var cfg config
	flag.StringVar(&cfg.addr, "addr", "127.0.0.1:18030", "server HOST:PORT")
	flag.IntVar(&cfg.slow, "slow", 1000, "slow connections, half slow in headers, half slow in body")
	flag.DurationVar(&cfg.interval, "interval", time.Second, "pause between the bytes a slow connection sends")
	flag.DurationVar(&cfg.duration, "duration", 40*time.Second, "how long to run")
	flag.DurationVar(&cfg.headerLimit, "header-limit", 10*time.Second, "a header-slow connection must be cut by then (server: ReadHeaderTimeout)")
	flag.DurationVar(&cfg.bodyLimit, "body-limit", 35*time.Second, "a body-slow connection must be cut by then (server: ReadTimeout)")
	flag.DurationVar(&cfg.probeEvery, "probe-every", 50*time.Millisecond, "interval between the normal client's requests")
	flag.DurationVar(&cfg.probeTimeout, "probe-timeout", time.Second, "the normal client's timeout")
	flag.Parse()
	cfg.body = []byte(`{"texts":[{"text":"Transfer learning with transformers for text classification."}]}`)

	r := run(cfg)
	fmt.Println(r.summary())
	if !r.pass() {
		os.Exit(1)
	}
}

// kind is how a slow connection misbehaves.
type kind int

const (
	slowHeader kind = iota
	slowBody
)

func (k kind) String() string { return [...]string{"header", "body"}[k] }

// slowResult is what happened to one slow connection.
type slowResult struct {
	kind     kind
	dialErr  error
	cut      bool          // the server closed or answered the connection
	after    time.Duration // since the connection was opened
	answered string        // the status line, when the server answered
}

// probe is one request of the well-behaved client.
type probe struct {
	status  int
	latency time.Duration
	err     error
}

type report struct {
	cfg    config
	slow   []slowResult
	probes []probe
	peak   int // slow connections open at once, at most
}

func run(cfg config) *report {
	rep := &report{cfg: cfg}
	var mu sync.Mutex
	var wg sync.WaitGroup
	open, peak := 0, 0
	deadline := time.Now().Add(cfg.duration)

	for i := range cfg.slow {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k := kind(i % 2)
			res := slowConn(cfg, k, deadline, func(delta int) {
				mu.Lock()
				open += delta
				peak = max(peak, open)
				mu.Unlock()
			})
			mu.Lock()
			rep.slow = append(rep.slow, res)
			mu.Unlock()
		}()
		// Open them over the first second, not in one burst of SYNs.
		time.Sleep(time.Second / time.Duration(cfg.slow))
	}

	client := &http.Client{Timeout: cfg.probeTimeout}
	tick := time.NewTicker(cfg.probeEvery)
	for time.Now().Before(deadline) {
		<-tick.C
		start := time.Now()
		resp, err := client.Post("http://"+cfg.addr+"/predict", "application/json", bytes.NewReader(cfg.body))
		p := probe{err: err}
		if err == nil {
			_, p.err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			p.status = resp.StatusCode
		}
		p.latency = time.Since(start)
		rep.probes = append(rep.probes, p)
	}
	tick.Stop()
	wg.Wait()
	rep.peak = peak
	return rep
}

// slowConn opens a connection and trickles a request into it one byte per
// interval until the server cuts it or deadline passes.
func slowConn(cfg config, k kind, deadline time.Time, track func(int)) slowResult {
	res := slowResult{kind: k}
	conn, err := net.DialTimeout("tcp", cfg.addr, 5*time.Second)
	if err != nil {
		res.dialErr = err
		return res
	}
	defer conn.Close()
	track(1)
	defer track(-1)
	opened := time.Now()

	head := "POST /predict HTTP/1.1\r\nHost: " + cfg.addr + "\r\nContent-Type: application/json\r\n" +
		fmt.Sprintf("Content-Length: %d\r\n", 1<<20) + "X-Padding: " + strings.Repeat("x", 200) + "\r\n\r\n"
	var trickle []byte
	if k == slowBody {
		if _, err := io.WriteString(conn, head); err != nil {
			res.cut, res.after = true, time.Since(opened)
			return res
		}
		trickle = bytes.Repeat([]byte(`{"texts":[{"text":"a"}]}`), 1<<20/24+1)
	} else {
		trickle = []byte(head)
	}

	// The server cuts the connection by closing it (a read returns) or by
	// answering it (a read returns the status line).
	cut := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(conn).ReadString('\n')
		cut <- strings.TrimSpace(line)
	}()
	tick := time.NewTicker(cfg.interval)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case line := <-cut:
			res.cut, res.after, res.answered = true, time.Since(opened), line
			return res
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return res
		}
		if i < len(trickle) {
			if _, err := conn.Write(trickle[i : i+1]); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				// A write fails once the server has reset the connection;
				// the reader reports the cut, or the next tick does.
				select {
				case line := <-cut:
					res.answered = line
				case <-time.After(100 * time.Millisecond):
				}
				res.cut, res.after = true, time.Since(opened)
				return res
			}
		}
	}
}

func (r *report) byKind(k kind) []slowResult {
	var out []slowResult
	for _, s := range r.slow {
		if s.kind == k {
			out = append(out, s)
		}
	}
	return out
}

func (r *report) pass() bool {
	for _, s := range r.slow {
		if s.dialErr != nil || !s.cut {
			return false
		}
		limit := r.cfg.headerLimit
		if s.kind == slowBody {
			limit = r.cfg.bodyLimit
		}
		if s.after > limit {
			return false
		}
	}
	if len(r.probes) == 0 {
		return false
	}
	for _, p := range r.probes {
		if p.err != nil || p.status != http.StatusOK {
			return false
		}
	}
	return true
}

// percentile returns the p-th percentile of ds (sorted in place).
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[int(p*float64(len(ds)-1)+0.5)]
}

func (r *report) summary() string {
	var parts []string
	for _, k := range []kind{slowHeader, slowBody} {
		conns := r.byKind(k)
		var afters []time.Duration
		dialErrs, uncut, answered := 0, 0, map[string]int{}
		for _, s := range conns {
			switch {
			case s.dialErr != nil:
				dialErrs++
			case !s.cut:
				uncut++
			default:
				afters = append(afters, s.after)
				if s.answered != "" {
					answered[s.answered]++
				}
			}
		}
		ans := "closed without an answer"
		if len(answered) > 0 {
			var as []string
			for line, n := range answered {
				as = append(as, fmt.Sprintf("%d answered %q", n, line))
			}
			slices.Sort(as)
			ans = strings.Join(as, ", ")
		}
		parts = append(parts, fmt.Sprintf("%d slow-%s conns: %d cut after %.1fs..%.1fs (median %.1fs; %s), %d never cut, %d could not connect",
			len(conns), k, len(afters), percentile(afters, 0).Seconds(), percentile(afters, 1).Seconds(), percentile(afters, 0.5).Seconds(),
			ans, uncut, dialErrs))
	}
	var lat []time.Duration
	bad := 0
	for _, p := range r.probes {
		if p.err != nil || p.status != http.StatusOK {
			bad++
			continue
		}
		lat = append(lat, p.latency)
	}
	verdict := "PASS"
	if !r.pass() {
		verdict = "FAIL"
	}
	return fmt.Sprintf("slowclient %s: peak %d slow conns open; %s; normal client: %d requests, %d not 200, p50 %.2f ms, p99 %.2f ms, max %.2f ms",
		verdict, r.peak, strings.Join(parts, "; "), len(r.probes), bad,
		ms(percentile(lat, 0.5)), ms(percentile(lat, 0.99)), ms(percentile(lat, 1)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
