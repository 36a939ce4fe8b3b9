package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tagifai/tagifai/model"
	"github.com/tagifai/tagifai/registry/registrytest"
)

// When TAGIFAI_TEST_MAIN is set, the test binary is the tagifai command:
// the crash tests start it as a real process and kill -9 it.
func TestMain(m *testing.M) {
	if os.Getenv("TAGIFAI_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// process is a tagifai serve started by a test.
type process struct {
	cmd *exec.Cmd
	url string
}

// startServe starts `tagifai serve` on dataDir in a child process and
// waits until it is ready; extra are more flags.
func startServe(t *testing.T, dataDir string, extra ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--artifacts", "artifacts"}, extra...)...)
	cmd.Env = append(os.Environ(), "TAGIFAI_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		listening := ""
		for sc.Scan() {
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) != nil {
				continue
			}
			switch line.Msg {
			case "listening":
				listening = line.Addr
			case "ready":
				addr <- listening
			}
		}
	}()
	select {
	case a := <-addr:
		return &process{cmd: cmd, url: "http://" + a}
	case <-time.After(30 * time.Second):
		t.Fatal("tagifai serve did not become ready")
		return nil
	}
}

// kill9 kills the process without letting it clean up.
func (p *process) kill9(t *testing.T) {
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	_ = p.cmd.Wait()
}

func getJSON(t *testing.T, url, key string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	require.NoError(t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	var body map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&body))
	return res.StatusCode, body
}

// createAdmin makes an admin in dataDir's registry and returns their key.
func createAdmin(t *testing.T, dataDir string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"users", "create", "--data-dir", dataDir, "--name", "ops", "--role", "admin"},
		env{getenv: func(string) string { return "" }, stdout: &out, stderr: &errOut})
	require.NoError(t, err, errOut.String())
	return strings.TrimSpace(out.String())
}

// secondArtifact returns a valid artifact other than the committed one.
func secondArtifact(t *testing.T) []byte {
	t.Helper()
	art, err := model.Load("artifacts")
	require.NoError(t, err)
	art.RunID = "second-run"
	var buf bytes.Buffer
	require.NoError(t, model.Encode(&buf, art))
	return buf.Bytes()
}

// TestCrashDuringUpload kills the server with SIGKILL half-way through an
// upload; after a restart it serves the previous version and the registry
// is intact. A completed upload survives a SIGKILL right after it.
func TestCrashDuringUpload(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	key := createAdmin(t, dataDir)
	v2 := secondArtifact(t)

	p := startServe(t, dataDir)
	code, health := getJSON(t, p.url+"/", "")
	require.Equal(t, 200, code)
	assert.Equal(t, 1.0, health["data"].(map[string]any)["version"])

	// Half an upload, then SIGKILL.
	conn, err := net.Dial("tcp", strings.TrimPrefix(p.url, "http://"))
	require.NoError(t, err)
	fmt.Fprintf(conn, "PUT /models/tagifai/versions/2 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", key, len(v2))
	_, err = conn.Write(v2[:len(v2)/2])
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond)
	p.kill9(t)
	conn.Close()

	p = startServe(t, dataDir)
	code, m := getJSON(t, p.url+"/models/tagifai", key)
	require.Equal(t, 200, code, "%v", m)
	assert.Equal(t, 1.0, m["data"].(map[string]any)["serving_version"])
	assert.Equal(t, 1.0, m["data"].(map[string]any)["version_count"], "the interrupted upload left no version")
	code, _ = getJSON(t, p.url+"/", "")
	assert.Equal(t, 200, code)

	// A whole upload, serve it, then SIGKILL: both survive.
	req, err := http.NewRequest("PUT", p.url+"/models/tagifai/versions/2", bytes.NewReader(v2))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode, string(body))
	req, err = http.NewRequest("PUT", p.url+"/models/tagifai/serving-version", strings.NewReader(`{"version":2}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	p.kill9(t)

	p = startServe(t, dataDir)
	code, health = getJSON(t, p.url+"/", "")
	require.Equal(t, 200, code)
	assert.Equal(t, 2.0, health["data"].(map[string]any)["version"], "the serving pointer survived SIGKILL")
	assert.Equal(t, "second-run", health["data"].(map[string]any)["run_id"])

	leftovers, err := filepath.Glob(filepath.Join(dataDir, "artifacts", "tagifai", ".*"))
	require.NoError(t, err)
	assert.Empty(t, leftovers, "temporary files of interrupted uploads are cleaned up at start")
}

// TestCrashDuringBatchJob kills the server with SIGKILL while a batch job
// runs; after a restart the job resumes and ends with every item stored
// exactly once. TestPostgresCrashDuringBatchJob does the same on
// PostgreSQL.
func TestCrashDuringBatchJob(t *testing.T) {
	t.Parallel()
	crashDuringBatchJob(t)
}

// TestPostgresCrashDuringBatchJob is TestCrashDuringBatchJob on the
// PostgreSQL at TAGIFAI_TEST_POSTGRES_URL; skipped without one.
func TestPostgresCrashDuringBatchJob(t *testing.T) {
	base := registrytest.PostgresURL()
	if base == "" {
		t.Skip("TAGIFAI_TEST_POSTGRES_URL is not set")
	}
	crashDuringBatchJob(t, "--database-url", registrytest.PostgresSchema(t, base))
}

func crashDuringBatchJob(t *testing.T, serveFlags ...string) {
	// Four chunks: the kill comes as soon as the first is done, while
	// others are still to do.
	const n = 4000
	dataDir := t.TempDir()
	p := startServe(t, dataDir, serveFlags...)

	var b strings.Builder
	b.WriteString("id,text\n")
	for i := range n {
		fmt.Fprintf(&b, "item-%05d,Deploying machine learning models with Kubernetes, run %d\n", i, i)
	}
	res, err := http.Post(p.url+"/batch-jobs", "text/csv", strings.NewReader(b.String()))
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusAccepted, res.StatusCode)
	loc := res.Header.Get("Location")

	// Kill it half-way: after the first chunk, before the last.
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, job := getJSON(t, p.url+loc, "")
		require.Equal(t, 200, code)
		done := job["data"].(map[string]any)["done"].(float64)
		require.Less(t, done, float64(n), "the job finished before it could be killed")
		if done > 0 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the job did not start")
		time.Sleep(time.Millisecond)
	}
	p.kill9(t)

	// Chunks that were running are redone: the server, starting again
	// under the same replica name, queues them again before it works.
	p = startServe(t, dataDir, serveFlags...)
	deadline = time.Now().Add(2 * time.Minute)
	var job map[string]any
	for time.Now().Before(deadline) {
		_, body := getJSON(t, p.url+loc, "")
		job = body["data"].(map[string]any)
		if job["status"] == "succeeded" || job["status"] == "failed" {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	require.Equal(t, "succeeded", job["status"], "%v", job)
	assert.Equal(t, float64(n), job["done"])
	counted := 0.0
	for _, r := range job["replicas"].([]any) {
		counted += r.(map[string]any)["items"].(float64)
	}
	assert.Equal(t, float64(n), counted, "each item counted once")

	seen := map[string]bool{}
	next := ""
	for {
		_, page := getJSON(t, p.url+loc+"/predictions?limit=1000"+next, "")
		data := page["data"].(map[string]any)
		for _, pr := range data["predictions"].([]any) {
			id := pr.(map[string]any)["item_id"].(string)
			require.False(t, seen[id], "item %s stored twice", id)
			seen[id] = true
		}
		c, ok := data["next_cursor"].(string)
		if !ok {
			break
		}
		next = "&cursor=" + c
	}
	assert.Len(t, seen, n, "every item stored exactly once")
}

// TestCrashAfterDeployment kills the server with SIGKILL right after a
// deployment returns, and at moments during others: after each restart,
// the serving version and the deployment's audit event are both there or
// neither is, since they commit in one transaction.
func TestCrashAfterDeployment(t *testing.T) {
	t.Parallel()
	dataDir := t.TempDir()
	key := createAdmin(t, dataDir)
	p := startServe(t, dataDir)
	req, err := http.NewRequest("PUT", p.url+"/models/tagifai/versions/2", bytes.NewReader(secondArtifact(t)))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/octet-stream")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusCreated, res.StatusCode)

	deploy := func(p *process, version int, requestID string) <-chan int {
		done := make(chan int, 1)
		req, err := http.NewRequest("PUT", p.url+"/models/tagifai/serving-version", strings.NewReader(fmt.Sprintf(`{"version":%d}`, version)))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Request-ID", requestID)
		go func() {
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- 0
				return
			}
			res.Body.Close()
			done <- res.StatusCode
		}()
		return done
	}
	// state reads the serving version and whether the audit trail has
	// the deployment made under requestID.
	state := func(p *process, requestID string) (serving float64, recorded bool) {
		code, m := getJSON(t, p.url+"/models/tagifai", key)
		require.Equal(t, 200, code, "%v", m)
		code, events := getJSON(t, p.url+"/audit-events?resource=models/tagifai&limit=500", key)
		require.Equal(t, 200, code, "%v", events)
		for _, e := range events["data"].(map[string]any)["events"].([]any) {
			if e.(map[string]any)["request_id"] == requestID {
				assert.Equal(t, "ops", e.(map[string]any)["user"])
				recorded = true
			}
		}
		return m["data"].(map[string]any)["serving_version"].(float64), recorded
	}

	// Right after a deployment returns: both survive.
	require.Equal(t, http.StatusOK, <-deploy(p, 2, "deploy-returned"))
	p.kill9(t)
	p = startServe(t, dataDir)
	serving, recorded := state(p, "deploy-returned")
	assert.Equal(t, 2.0, serving, "the deployment survived SIGKILL")
	assert.True(t, recorded, "its audit event survived SIGKILL")

	// During deployments: both or neither.
	from := 2.0
	for i, delay := range []time.Duration{0, 500 * time.Microsecond, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond} {
		to := 3 - from
		id := fmt.Sprintf("deploy-%d", i)
		done := deploy(p, int(to), id)
		time.Sleep(delay)
		p.kill9(t)
		<-done
		p = startServe(t, dataDir)
		serving, recorded := state(p, id)
		if recorded {
			assert.Equal(t, to, serving, "%s: the event is there, so the deployment must be", id)
		} else {
			assert.Equal(t, from, serving, "%s: no event, so no deployment", id)
		}
		from = serving
	}
}
