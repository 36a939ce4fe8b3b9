// Command startuptime measures how long a server takes from process start
// to its first 200 on a URL: it starts the command given after "--", polls
// the URL every millisecond, prints the time, and stops the server.
//
//	go run ./scripts/startuptime -url http://127.0.0.1:8000/ -- ./bin/tagifai serve --addr 127.0.0.1:8000
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8000/", "URL that answers 200 once the server is ready")
	runs := flag.Int("runs", 5, "how many times to start the server")
	timeout := flag.Duration("timeout", 10*time.Second, "give up on a run after this long")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: startuptime [-url URL] [-runs N] -- COMMAND [ARGS...]")
		os.Exit(2)
	}
	client := &http.Client{Timeout: 100 * time.Millisecond}
	var best, total time.Duration
	for i := 0; i < *runs; i++ {
		d, err := once(client, *url, *timeout, flag.Args())
		if err != nil {
			fmt.Fprintln(os.Stderr, "startuptime:", err)
			os.Exit(1)
		}
		if best == 0 || d < best {
			best = d
		}
		total += d
		fmt.Printf("run %d: %s\n", i+1, d.Round(100*time.Microsecond))
	}
	fmt.Printf("startup to first 200: best %s, mean %s over %d runs\n",
		best.Round(100*time.Microsecond), (total / time.Duration(*runs)).Round(100*time.Microsecond), *runs)
}

func once(client *http.Client, url string, timeout time.Duration, argv []string) (time.Duration, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = nil
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}()
	for time.Since(start) < timeout {
		res, err := client.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("no 200 from %s within %s", url, timeout)
}
