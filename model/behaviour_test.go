package model

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Behavioural tests of the committed model, in the style of the lesson's
// tests/model/test_behavioral.py.

func TestBehaviourInvariance(t *testing.T) {
	c := loadCommitted(t).Classifier
	// Changing a name keeps the tag.
	tests := []struct{ name, a, b, want string }{
		{"model name", "Transformers applied to NLP have revolutionized machine learning.",
			"Transformers applied to NLP have disrupted machine learning.", "natural-language-processing"},
		{"library name", "Object detection in images with PyTorch and a pretrained ResNet.",
			"Object detection in images with TensorFlow and a pretrained ResNet.", "computer-vision"},
		{"product name", "Serving and monitoring models in production with Kubeflow.",
			"Serving and monitoring models in production with Seldon.", "mlops"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := c.Predict(tt.a), c.Predict(tt.b)
			assert.Equal(t, tt.want, a.Tag, tt.a)
			assert.Equal(t, a.Tag, b.Tag, tt.b)
		})
	}
}

func TestBehaviourDirection(t *testing.T) {
	c := loadCommitted(t).Classifier
	// The lesson's direction cases: what the model is applied with decides
	// the tag.
	tests := []struct{ text, want string }{
		{"ML applied to text classification with transformers", "natural-language-processing"},
		{"ML applied to image classification with CNNs", "computer-vision"},
		{"ML models deployed to production with Docker and monitored with Prometheus", "mlops"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, c.Predict(tt.text).Tag, tt.text)
		})
	}
}

func TestBehaviourMinimumFunctionality(t *testing.T) {
	c := loadCommitted(t).Classifier
	tests := []struct{ text, want string }{
		{"Natural language processing is the next big wave in machine learning.", "natural-language-processing"},
		{"Semantic segmentation of street scenes from dashcam video.", "computer-vision"},
		{"MLOps is the next big wave in machine learning: CI/CD, feature stores and model registries.", "mlops"},
		{"Graph neural networks for node classification on citation graphs.", "other"},
		{"Reinforcement learning agents that play Atari games.", "other"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			assert.Equal(t, tt.want, c.Predict(tt.text).Tag, tt.text)
		})
	}
}
