package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The parts of KServe's API (serving.kserve.io, kserve/kserve
// pkg/apis/serving) that kserve/*.yaml use. Decoding strictly into them
// catches a misspelt or misplaced field; the containers and volumes are
// Kubernetes' own types.

type servingRuntime struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		SupportedModelFormats []supportedModelFormat `json:"supportedModelFormats"`
		ProtocolVersions      []string               `json:"protocolVersions"`
		Containers            []corev1.Container     `json:"containers"`
		Volumes               []corev1.Volume        `json:"volumes,omitempty"`
	} `json:"spec"`
}

type supportedModelFormat struct {
	Name       string `json:"name"`
	Version    string `json:"version,omitempty"`
	AutoSelect *bool  `json:"autoSelect,omitempty"`
}

type inferenceService struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Metadata   metav1.ObjectMeta `json:"metadata"`
	Spec       struct {
		Predictor struct {
			MinReplicas    *int32 `json:"minReplicas,omitempty"`
			MaxReplicas    int32  `json:"maxReplicas,omitempty"`
			ScaleMetric    string `json:"scaleMetric,omitempty"`
			ScaleTarget    *int32 `json:"scaleTarget,omitempty"`
			TimeoutSeconds *int64 `json:"timeout,omitempty"`
			Model          *struct {
				ModelFormat struct {
					Name    string `json:"name"`
					Version string `json:"version,omitempty"`
				} `json:"modelFormat"`
				Runtime         string `json:"runtime"`
				ProtocolVersion string `json:"protocolVersion"`
			} `json:"model"`
		} `json:"predictor"`
	} `json:"spec"`
}

func decodeStrict(t *testing.T, file string, into any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("kserve", file))
	require.NoError(t, err)
	require.NoError(t, yaml.UnmarshalStrict(data, into), file)
}

// TestKServeManifests checks that KServe would run tagifai as a v2
// (Open Inference Protocol) predictor: the InferenceService names the
// runtime and the protocol, the runtime runs the same image as the
// Deployment on the Dockerfile's port, and its probes are the protocol's
// open health endpoints in openapi.yaml.
func TestKServeManifests(t *testing.T) {
	var rt servingRuntime
	var isvc inferenceService
	decodeStrict(t, "servingruntime.yaml", &rt)
	decodeStrict(t, "inferenceservice.yaml", &isvc)

	assert.Equal(t, "serving.kserve.io/v1alpha1", rt.APIVersion)
	assert.Equal(t, "ServingRuntime", rt.Kind)
	assert.Equal(t, "serving.kserve.io/v1beta1", isvc.APIVersion)
	assert.Equal(t, "InferenceService", isvc.Kind)

	model := isvc.Spec.Predictor.Model
	require.NotNil(t, model, "the predictor is a model served by a runtime")
	assert.Equal(t, "v2", model.ProtocolVersion)
	assert.Equal(t, rt.Metadata.Name, model.Runtime, "the InferenceService names the ServingRuntime")
	assert.Contains(t, rt.Spec.ProtocolVersions, "v2")
	assert.True(t, slices.ContainsFunc(rt.Spec.SupportedModelFormats, func(f supportedModelFormat) bool {
		return f.Name == model.ModelFormat.Name && f.Version == model.ModelFormat.Version
	}), "the runtime supports the model's format")
	// KServe routes /v2/models/<name>/... to the service of that name; the
	// server answers for the model it serves, "tagifai" by default.
	assert.Equal(t, "tagifai", isvc.Metadata.Name)
	doc := loadSpec(t)
	require.NotNil(t, doc.Paths.Find("/v2/models/{model-name}/infer"), "openapi.yaml has the protocol's infer")
	if p := isvc.Spec.Predictor; p.MinReplicas != nil {
		assert.GreaterOrEqual(t, p.MaxReplicas, *p.MinReplicas)
	}

	require.Len(t, rt.Spec.Containers, 1)
	c := rt.Spec.Containers[0]
	assert.Equal(t, "kserve-container", c.Name, "KServe requires the model server's container name")
	m := loadManifests(t)
	assert.Equal(t, m.container(t).Image, c.Image, "the same image as the Deployment")
	require.Len(t, c.Ports, 1)
	assert.Equal(t, dockerfilePort(t), int(c.Ports[0].ContainerPort))
	assert.Equal(t, "http1", c.Ports[0].Name, "KServe sends HTTP to the port named http1")

	for _, p := range []struct {
		probe *corev1.Probe
		op    string
	}{{c.LivenessProbe, "oipServerLive"}, {c.ReadinessProbe, "oipServerReady"}} {
		require.NotNil(t, p.probe)
		require.NotNil(t, p.probe.HTTPGet)
		assert.Equal(t, p.op, openGET(t, doc, p.probe.HTTPGet.Path).OperationID)
		assert.Equal(t, c.Ports[0].ContainerPort, p.probe.HTTPGet.Port.IntVal)
	}

	sc := c.SecurityContext
	require.NotNil(t, sc)
	assert.True(t, *sc.ReadOnlyRootFilesystem)
	assert.False(t, *sc.AllowPrivilegeEscalation)
	assert.True(t, *sc.RunAsNonRoot)
	assert.Equal(t, []corev1.Capability{"ALL"}, sc.Capabilities.Drop)
	// The server writes its registry to TAGIFAI_DATA_DIR: a mounted volume.
	dataDir := envValue(c, "TAGIFAI_DATA_DIR")
	require.NotEmpty(t, dataDir)
	mounted := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounted[vm.MountPath] = vm.Name
	}
	require.Contains(t, mounted, dataDir)
	assert.True(t, slices.ContainsFunc(rt.Spec.Volumes, func(v corev1.Volume) bool { return v.Name == mounted[dataDir] }))
	assert.Equal(t, shutdownTimeout(t, m.container(t)), shutdownTimeout(t, c), "the same shutdown as the Deployment")
}

func TestKServeStrictDecodingCatchesTypos(t *testing.T) {
	var isvc inferenceService
	err := yaml.UnmarshalStrict([]byte("apiVersion: serving.kserve.io/v1beta1\nkind: InferenceService\nspec:\n  predictor:\n    model:\n      protocolVerison: v2\n"), &isvc)
	assert.Error(t, err)
}
