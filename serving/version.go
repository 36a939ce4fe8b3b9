package serving

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/tagifai/tagifai/model"
)

// Predictor tags texts. *model.Classifier is one; tests use fakes.
type Predictor interface {
	// Classes returns the class names, in the order of Prediction.Probabilities.
	Classes() []string
	// PredictBatch returns one prediction for each text, in order.
	PredictBatch(texts []string) []model.Prediction
}

// Info is what the API reports about a model version.
type Info struct {
	// Name and Version identify the model in metrics and responses.
	Name    string
	Version int
	// RunID identifies the training run that produced the model.
	RunID string
	// Checksum is the hex SHA-256 of the artifact, when it came from the
	// registry; it tells a version from another uploaded under the same
	// number.
	Checksum string
	// Args is any value that encodes to a JSON object (model.Args).
	Args any
	// Performance is what GET /performance reports.
	Performance model.Performance
	// LoadDuration is how long loading the model took.
	LoadDuration time.Duration
}

// Version is a model version ready to answer requests: its predictor and
// what the API reports about it, computed once when it is loaded. It is
// never changed once made, so requests share it freely.
type Version struct {
	Info
	Predictor Predictor
	// Args is Info.Args decoded as a JSON object.
	Args map[string]any
	// monitor keeps the version's online statistics (see Monitoring).
	monitor *versionMonitor
}

// NewVersion makes predictor servable with info.
func NewVersion(info Info, predictor Predictor) (*Version, error) {
	raw, err := json.Marshal(info.Args)
	if err != nil {
		return nil, fmt.Errorf("serving: encode args: %w", err)
	}
	var args map[string]any
	if err := json.Unmarshal(raw, &args); err != nil {
		return nil, fmt.Errorf("serving: args must encode to a JSON object: %w", err)
	}
	return &Version{Info: info, Predictor: predictor, Args: args, monitor: newVersionMonitor(predictor, nil)}, nil
}

// fromArtifact makes a trained artifact servable under name and version.
func fromArtifact(name string, version int, checksum string, a *model.Artifact, loadDuration time.Duration) (*Version, error) {
	v, err := NewVersion(Info{
		Name: name, Version: version, RunID: a.RunID, Checksum: checksum,
		Args: a.Args, Performance: a.Performance, LoadDuration: loadDuration,
	}, a.Classifier)
	if err != nil {
		return nil, err
	}
	v.monitor = newVersionMonitor(a.Classifier, a.Baseline)
	return v, nil
}
