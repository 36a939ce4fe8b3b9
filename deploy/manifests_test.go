package deploy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// kinds are the Kubernetes API types a manifest here may have.
var kinds = map[schema.GroupVersionKind]func() any{
	appsv1.SchemeGroupVersion.WithKind("Deployment"):                     func() any { return &appsv1.Deployment{} },
	corev1.SchemeGroupVersion.WithKind("Service"):                        func() any { return &corev1.Service{} },
	autoscalingv2.SchemeGroupVersion.WithKind("HorizontalPodAutoscaler"): func() any { return &autoscalingv2.HorizontalPodAutoscaler{} },
	policyv1.SchemeGroupVersion.WithKind("PodDisruptionBudget"):          func() any { return &policyv1.PodDisruptionBudget{} },
	batchv1.SchemeGroupVersion.WithKind("Job"):                           func() any { return &batchv1.Job{} },
}

// kustomizationFile is not a Kubernetes API object; TestKustomization
// decodes it.
const kustomizationFile = "kustomization.yaml"

// decodeManifests splits a YAML stream into documents and decodes each one
// strictly into its Kubernetes API type: an unknown or duplicated field, or
// a value of the wrong type, is an error, as is a kind not in kinds.
func decodeManifests(data []byte) ([]any, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var out []any
	for i := 0; ; i++ {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		var tm metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if tm.APIVersion == "" && tm.Kind == "" && len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue // only comments
		}
		newObj, ok := kinds[tm.GroupVersionKind()]
		if !ok {
			return nil, fmt.Errorf("document %d: unexpected kind %q of %q", i, tm.Kind, tm.APIVersion)
		}
		obj := newObj()
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", i, tm.Kind, err)
		}
		out = append(out, obj)
	}
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for line := range bytes.Lines(doc) {
		if t := bytes.TrimSpace(line); len(t) > 0 && t[0] != '#' {
			b.Write(line)
		}
	}
	return b.Bytes()
}

// manifests are the decoded objects of this directory, by file.
type manifests struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	pdb        *policyv1.PodDisruptionBudget
	hpas       map[string]*autoscalingv2.HorizontalPodAutoscaler // by file
	batchJob   *batchv1.Job
}

func loadManifests(t *testing.T) manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	m := manifests{hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}}
	for _, f := range files {
		if f == kustomizationFile {
			continue
		}
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		objs, err := decodeManifests(data)
		require.NoError(t, err, f)
		require.Len(t, objs, 1, "%s: one object per file", f)
		switch o := objs[0].(type) {
		case *appsv1.Deployment:
			require.Nil(t, m.deployment, "%s: a second Deployment", f)
			m.deployment = o
		case *corev1.Service:
			require.Nil(t, m.service, "%s: a second Service", f)
			m.service = o
		case *policyv1.PodDisruptionBudget:
			require.Nil(t, m.pdb, "%s: a second PodDisruptionBudget", f)
			m.pdb = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			m.hpas[f] = o
		case *batchv1.Job:
			require.Nil(t, m.batchJob, "%s: a second Job", f)
			m.batchJob = o
		}
	}
	require.NotNil(t, m.deployment, "no Deployment")
	require.NotNil(t, m.service, "no Service")
	require.NotNil(t, m.pdb, "no PodDisruptionBudget")
	require.Contains(t, m.hpas, "hpa.yaml")
	require.Contains(t, m.hpas, "hpa-inflight.yaml")
	require.NotNil(t, m.batchJob, "no batch Job")
	return m
}

// container returns the Deployment's only container.
func (m manifests) container(t *testing.T) corev1.Container {
	t.Helper()
	cs := m.deployment.Spec.Template.Spec.Containers
	require.Len(t, cs, 1)
	return cs[0]
}

// httpPort returns the container port named http.
func (m manifests) httpPort(t *testing.T) int32 {
	t.Helper()
	for _, p := range m.container(t).Ports {
		if p.Name == "http" {
			return p.ContainerPort
		}
	}
	require.Fail(t, "the container has no port named http")
	return 0
}

func TestManifestsDecodeStrictly(t *testing.T) {
	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(files), 5)
	for _, f := range files {
		if f == kustomizationFile {
			continue
		}
		t.Run(f, func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			objs, err := decodeManifests(data)
			require.NoError(t, err)
			assert.NotEmpty(t, objs)
		})
	}
}

// TestStrictDecodingCatchesTypos shows that the decoding above fails on the
// mistakes it is there to catch.
func TestStrictDecodingCatchesTypos(t *testing.T) {
	good, err := os.ReadFile("deployment.yaml")
	require.NoError(t, err)
	_, err = decodeManifests(good)
	require.NoError(t, err)

	cases := []struct {
		name, old, new string
		wantErr        string
	}{
		{"misspelt field", "readinessProbe:", "readynessProbe:", "unknown field"},
		{"field at the wrong level", "      terminationGracePeriodSeconds: 30", "      terminationGracePeriodSeconds: 30\n      periodSeconds: 5", "unknown field"},
		{"string for a number", "containerPort: 8000", `containerPort: "8000"`, "cannot unmarshal"},
		{"duplicated field", "  replicas: 2", "  replicas: 2\n  replicas: 3", "already set"},
		{"unknown API version", "apiVersion: apps/v1", "apiVersion: apps/v1beta3", "unexpected kind"},
		{"unknown quantity", "memory: 128Mi", "memory: 128MB!", "quantities must match"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, 1, bytes.Count(good, []byte(tc.old)), "the case's text must occur once in deployment.yaml")
			bad := bytes.Replace(good, []byte(tc.old), []byte(tc.new), 1)
			_, err := decodeManifests(bad)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}

// loadSpec loads the server's contract.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("../openapi.yaml")
	require.NoError(t, err)
	return doc
}

// openGET returns the GET operation at path in doc, checking that it needs
// no credentials: a probe or a scraper sends none.
func openGET(t *testing.T, doc *openapi3.T, path string) *openapi3.Operation {
	t.Helper()
	item := doc.Paths.Find(path)
	require.NotNil(t, item, "openapi.yaml has no path %s", path)
	require.NotNil(t, item.Get, "openapi.yaml has no GET %s", path)
	sec := doc.Security
	if item.Get.Security != nil {
		sec = *item.Get.Security
	}
	assert.Empty(t, sec, "GET %s must be open to anyone: probes send no credentials", path)
	assert.NotNil(t, item.Get.Responses.Status(200), "GET %s documents no 200", path)
	return item.Get
}

func TestProbesMatchServer(t *testing.T) {
	m := loadManifests(t)
	doc := loadSpec(t)
	c := m.container(t)
	port := m.httpPort(t)
	assert.Equal(t, dockerfilePort(t), int(port), "container port vs the Dockerfile's --addr")

	cases := []struct {
		name        string
		probe       *corev1.Probe
		operationID string
	}{
		{"liveness", c.LivenessProbe, "liveness"},
		{"readiness", c.ReadinessProbe, "readiness"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.NotNil(t, tc.probe)
			get := tc.probe.HTTPGet
			require.NotNil(t, get, "probe is not an HTTP GET")
			op := openGET(t, doc, get.Path)
			assert.Equal(t, tc.operationID, op.OperationID, "probe path %s", get.Path)
			assert.Contains(t, []corev1.URIScheme{"", corev1.URISchemeHTTP}, get.Scheme)
			switch get.Port.Type {
			case intstr.String:
				assert.Equal(t, "http", get.Port.StrVal)
			default:
				assert.Equal(t, port, get.Port.IntVal)
			}
			assert.Positive(t, tc.probe.TimeoutSeconds)
			assert.Positive(t, tc.probe.PeriodSeconds)
		})
	}
	assert.NotEqual(t, c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path,
		"liveness must not depend on the model: a missing model would restart the pod in a loop")
}

// dockerfilePort reads the port of --addr in the Dockerfile's ENTRYPOINT and
// checks that EXPOSE says the same.
func dockerfilePort(t *testing.T) int {
	t.Helper()
	df := dockerfile(t)
	entry := df["ENTRYPOINT"]
	require.Len(t, entry, 1, "one ENTRYPOINT")
	var argv []string
	require.NoError(t, json.Unmarshal([]byte(entry[0]), &argv), "ENTRYPOINT must be in exec (JSON) form")
	i := slices.Index(argv, "--addr")
	require.True(t, i >= 0 && i+1 < len(argv), "ENTRYPOINT has no --addr: %v", argv)
	addr := argv[i+1]
	require.True(t, strings.HasPrefix(addr, ":"), "--addr %q must listen on every interface of the pod", addr)
	port, err := strconv.Atoi(addr[1:])
	require.NoError(t, err)
	assert.Equal(t, []string{strconv.Itoa(port)}, df["EXPOSE"], "EXPOSE vs --addr")
	return port
}

// dockerfile returns the arguments of each instruction of ../Dockerfile, by
// instruction. Continuation lines are joined; comments are dropped.
func dockerfile(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile("../Dockerfile")
	require.NoError(t, err)
	out := map[string][]string{}
	var cur string
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur == "") {
			continue
		}
		if rest, ok := strings.CutSuffix(line, "\\"); ok {
			cur += rest + " "
			continue
		}
		cur += line
		instr, args, _ := strings.Cut(cur, " ")
		out[strings.ToUpper(instr)] = append(out[strings.ToUpper(instr)], strings.TrimSpace(args))
		cur = ""
	}
	return out
}

func TestDockerfile(t *testing.T) {
	m := loadManifests(t)
	df := dockerfile(t)
	from := df["FROM"]
	require.Len(t, from, 2, "a builder stage and a runtime stage")
	assert.True(t, strings.HasPrefix(from[0], "golang:"), "builder: %s", from[0])
	assert.True(t, strings.HasPrefix(from[1], "gcr.io/distroless/static"), "runtime: %s", from[1])
	assert.True(t, slices.ContainsFunc(df["RUN"], func(r string) bool {
		return strings.Contains(r, "CGO_ENABLED=0 go build -trimpath")
	}), "the binary must be static: %v", df["RUN"])
	assert.Contains(t, df["COPY"], "artifacts /artifacts", "the committed model goes into the image")

	// The image's user is the one the pod runs as.
	require.Len(t, df["USER"], 1)
	uid, _, _ := strings.Cut(df["USER"][0], ":")
	sc := m.deployment.Spec.Template.Spec.SecurityContext
	require.NotNil(t, sc)
	require.NotNil(t, sc.RunAsUser)
	assert.Equal(t, uid, strconv.FormatInt(*sc.RunAsUser, 10))
	assert.NotEqual(t, "0", uid)
}

func TestDeploymentIsHardened(t *testing.T) {
	m := loadManifests(t)
	pod := m.deployment.Spec.Template.Spec
	c := m.container(t)

	require.NotNil(t, pod.SecurityContext)
	require.NotNil(t, pod.SecurityContext.RunAsNonRoot)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	require.NotNil(t, c.SecurityContext)
	require.NotNil(t, c.SecurityContext.ReadOnlyRootFilesystem)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	require.NotNil(t, c.SecurityContext.AllowPrivilegeEscalation)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	require.NotNil(t, c.SecurityContext.Capabilities)
	assert.Equal(t, []corev1.Capability{"ALL"}, c.SecurityContext.Capabilities.Drop)
	assert.Empty(t, c.SecurityContext.Capabilities.Add)

	// With a read-only root, whatever the server writes needs a volume.
	dataDir := envValue(c, "TAGIFAI_DATA_DIR")
	require.NotEmpty(t, dataDir, "TAGIFAI_DATA_DIR must point at a writable volume")
	assert.True(t, slices.ContainsFunc(c.VolumeMounts, func(v corev1.VolumeMount) bool {
		return v.MountPath == dataDir && !v.ReadOnly
	}), "no writable volume at %s", dataDir)

	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[name]
		lim, hasLim := c.Resources.Limits[name]
		require.True(t, hasReq && hasLim, "%s needs a request and a limit", name)
		assert.LessOrEqual(t, req.Cmp(lim), 0, "%s request %s above limit %s", name, req.String(), lim.String())
	}
	// The server is about 40 MB resident (scripts/soak.sh); the request must
	// hold that, and GOMEMLIMIT must sit under the limit.
	memReq := c.Resources.Requests[corev1.ResourceMemory]
	assert.GreaterOrEqual(t, memReq.Value(), int64(40<<20))
	memLim := c.Resources.Limits[corev1.ResourceMemory]
	if v := envValue(c, "GOMEMLIMIT"); v != "" {
		q, err := resource.ParseQuantity(strings.TrimSuffix(v, "B"))
		require.NoError(t, err, "GOMEMLIMIT %q", v)
		assert.Less(t, q.Value(), memLim.Value(), "GOMEMLIMIT must be below the memory limit")
	}
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// TestGracePeriodCoversShutdown: the kubelet sends SIGKILL
// terminationGracePeriodSeconds after it starts preStop; the server needs
// preStop's sleep plus --shutdown-timeout to drain.
func TestGracePeriodCoversShutdown(t *testing.T) {
	m := loadManifests(t)
	pod := m.deployment.Spec.Template.Spec
	c := m.container(t)
	require.NotNil(t, c.Lifecycle)
	require.NotNil(t, c.Lifecycle.PreStop)
	require.NotNil(t, c.Lifecycle.PreStop.Sleep, "preStop must sleep while endpoints drain; the image has no shell for exec")
	preStop := time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	assert.Positive(t, preStop)

	shutdown := shutdownTimeout(t, c)
	require.NotNil(t, pod.TerminationGracePeriodSeconds)
	grace := time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
	assert.Greater(t, grace, preStop+shutdown, "grace %s vs preStop %s + shutdown %s", grace, preStop, shutdown)
}

// shutdownTimeout is the container's --shutdown-timeout, or the server's
// default as serve.go sets it.
func shutdownTimeout(t *testing.T, c corev1.Container) time.Duration {
	t.Helper()
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--shutdown-timeout="); ok {
			d, err := time.ParseDuration(v)
			require.NoError(t, err)
			return d
		}
	}
	src, err := os.ReadFile("../serve.go")
	require.NoError(t, err)
	match := regexp.MustCompile(`(?:shutdownTimeout:|"shutdown-timeout",)\s*(\d+)\s*\*\s*time\.Second`).FindSubmatch(src)
	require.NotNil(t, match, "no --shutdown-timeout in the container's args, and no default found in serve.go")
	n, err := strconv.Atoi(string(match[1]))
	require.NoError(t, err)
	return time.Duration(n) * time.Second
}

func TestObjectsReferToEachOther(t *testing.T) {
	m := loadManifests(t)
	d := m.deployment
	podLabels := labels.Set(d.Spec.Template.Labels)

	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, sel.Matches(podLabels), "the Deployment's selector must match its pods")
	assert.False(t, sel.Empty())

	assert.True(t, labels.SelectorFromSet(m.service.Spec.Selector).Matches(podLabels), "the Service's selector must match the pods")
	require.NotEmpty(t, m.service.Spec.Ports)
	for _, p := range m.service.Spec.Ports {
		switch p.TargetPort.Type {
		case intstr.String:
			assert.True(t, slices.ContainsFunc(m.container(t).Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.TargetPort.StrVal }),
				"the Service's targetPort %q names no container port", p.TargetPort.StrVal)
		default:
			assert.Equal(t, m.httpPort(t), p.TargetPort.IntVal)
		}
	}

	pdbSel, err := metav1.LabelSelectorAsSelector(m.pdb.Spec.Selector)
	require.NoError(t, err)
	assert.True(t, pdbSel.Matches(podLabels), "the PodDisruptionBudget's selector must match the pods")

	for file, hpa := range m.hpas {
		t.Run(file, func(t *testing.T) {
			ref := hpa.Spec.ScaleTargetRef
			assert.Equal(t, appsv1.SchemeGroupVersion.String(), ref.APIVersion)
			assert.Equal(t, "Deployment", ref.Kind)
			assert.Equal(t, d.Name, ref.Name)
			require.NotNil(t, hpa.Spec.MinReplicas)
			assert.LessOrEqual(t, *hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas)
			// A drain must be able to evict a pod without breaking the budget.
			if minAvail := m.pdb.Spec.MinAvailable; minAvail != nil {
				assert.Greater(t, int(*hpa.Spec.MinReplicas), minAvail.IntValue())
			}
			assert.NotEmpty(t, hpa.Spec.Metrics)
		})
	}
	// The variant replaces the CPU autoscaler rather than fighting it: two
	// HPAs on one Deployment disable each other.
	assert.Equal(t, m.hpas["hpa.yaml"].Name, m.hpas["hpa-inflight.yaml"].Name)
}

func TestInFlightMetricIsTheServers(t *testing.T) {
	m := loadManifests(t)
	var names []string
	for _, metric := range m.hpas["hpa-inflight.yaml"].Spec.Metrics {
		if metric.Type == autoscalingv2.PodsMetricSourceType {
			require.NotNil(t, metric.Pods)
			names = append(names, metric.Pods.Metric.Name)
			assert.Equal(t, autoscalingv2.AverageValueMetricType, metric.Pods.Target.Type)
			require.NotNil(t, metric.Pods.Target.AverageValue)
			assert.Positive(t, metric.Pods.Target.AverageValue.Value())
		}
	}
	require.Equal(t, []string{"tagifai_http_requests_in_flight"}, names)

	// The server defines the gauge under that name.
	src, err := os.ReadFile("../server/metrics.go")
	require.NoError(t, err)
	assert.Contains(t, string(src), strconv.Quote(names[0]))

	// Prometheus scrapes the port and path the server serves metrics on.
	ann := m.deployment.Spec.Template.Annotations
	assert.Equal(t, strconv.Itoa(int(m.httpPort(t))), ann["prometheus.io/port"])
	openGET(t, loadSpec(t), ann["prometheus.io/path"])
}

// kustomization is the part of kustomize's Kustomization that this
// directory uses; decoding it strictly catches any other field.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
}

func TestKustomization(t *testing.T) {
	data, err := os.ReadFile(kustomizationFile)
	require.NoError(t, err)
	var k kustomization
	require.NoError(t, yaml.UnmarshalStrict(data, &k))
	assert.Equal(t, "kustomize.config.k8s.io/v1beta1", k.APIVersion)
	assert.Equal(t, "Kustomization", k.Kind)

	files, err := filepath.Glob("*.yaml")
	require.NoError(t, err)
	var want []string
	for _, f := range files {
		if f != kustomizationFile && f != "hpa-inflight.yaml" && f != "batch-job.yaml" {
			want = append(want, f)
		}
	}
	assert.ElementsMatch(t, want, k.Resources, "every manifest but the HPA variant, which replaces hpa.yaml, and the batch Job, created on demand")
}

// TestBatchJobShardsItsInput: the offline batch Job is an Indexed Job whose
// pods each run `tagifai batch` on their own shard of the input (the shard
// count being the Job's completions), into the shared PostgreSQL, with the
// server's image and the same hardening.
func TestBatchJobShardsItsInput(t *testing.T) {
	m := loadManifests(t)
	job := m.batchJob
	require.NotNil(t, job.Spec.CompletionMode)
	assert.Equal(t, batchv1.IndexedCompletion, *job.Spec.CompletionMode)
	require.NotNil(t, job.Spec.Completions)
	require.NotNil(t, job.Spec.Parallelism)
	n := *job.Spec.Completions
	assert.Equal(t, n, *job.Spec.Parallelism, "every shard at once")
	assert.NotNil(t, job.Spec.BackoffLimitPerIndex, "a failed shard is retried alone")

	pod := job.Spec.Template.Spec
	assert.Equal(t, corev1.RestartPolicyNever, pod.RestartPolicy, "backoffLimitPerIndex needs Never")
	require.Len(t, pod.Containers, 1)
	c := pod.Containers[0]
	assert.Equal(t, m.container(t).Image, c.Image, "the server's image")
	assert.Equal(t, []string{"/usr/local/bin/tagifai"}, c.Command)
	require.NotEmpty(t, c.Args)
	assert.Equal(t, "batch", c.Args[0])
	assert.Contains(t, c.Args, fmt.Sprintf("--shard=$(JOB_COMPLETION_INDEX)/%d", n), "N of --shard is the Job's completions")
	var input string
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--input="); ok {
			input = v
		}
	}
	require.NotEmpty(t, input, "--input")

	index := envVar(c, "JOB_COMPLETION_INDEX")
	require.NotNil(t, index, "JOB_COMPLETION_INDEX is defined before --shard uses it")
	require.NotNil(t, index.ValueFrom)
	require.NotNil(t, index.ValueFrom.FieldRef)
	assert.Equal(t, "metadata.annotations['batch.kubernetes.io/job-completion-index']", index.ValueFrom.FieldRef.FieldPath)
	db := envVar(c, "TAGIFAI_DATABASE_URL")
	require.NotNil(t, db, "the shards write into the shared PostgreSQL")
	require.NotNil(t, db.ValueFrom)
	assert.NotNil(t, db.ValueFrom.SecretKeyRef, "from a Secret")

	mounted := false
	for _, vm := range c.VolumeMounts {
		if strings.HasPrefix(input, vm.MountPath+"/") {
			mounted = true
			assert.True(t, vm.ReadOnly, "the input is mounted read-only")
		}
	}
	assert.True(t, mounted, "%s is on a mounted volume", input)
	require.NotNil(t, c.SecurityContext)
	assert.True(t, *c.SecurityContext.ReadOnlyRootFilesystem)
	assert.False(t, *c.SecurityContext.AllowPrivilegeEscalation)
	require.NotNil(t, pod.SecurityContext)
	assert.True(t, *pod.SecurityContext.RunAsNonRoot)
	assert.Equal(t, c.Resources.Requests.Cpu().String(), c.Resources.Limits.Cpu().String(), "a shard has the cores it asks for")

	kust, err := os.ReadFile(kustomizationFile)
	require.NoError(t, err)
	assert.NotContains(t, string(kust), "batch-job.yaml", "the Job is created on demand, not applied with the servers")
}

// envVar returns c's variable called name, nil when it has none.
func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}
