package model

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func fixtureArtifact(t testing.TB) *Artifact {
	t.Helper()
	res := trainFixture(t, fixtureArgs(), 1)
	holdout := readFixture(t, "holdout.csv")
	return &Artifact{
		RunID: "run-1", CreatedAt: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC), Args: fixtureArgs(),
		Performance: Evaluate(res.Classifier, holdout),
		Classifier:  res.Classifier,
		Baseline:    NewBaseline(res.Classifier, Texts(holdout), "holdout"),
	}
}

func encoded(t testing.TB, a *Artifact) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, Encode(&buf, a))
	return buf.Bytes()
}

func TestArtifactRoundTrip(t *testing.T) {
	a := fixtureArtifact(t)
	data := encoded(t, a)
	assert.Equal(t, int64(len(data)), a.Size)
	assert.Len(t, a.Checksum, 64)

	got, err := Decode(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, FormatVersion, got.FormatVersion)
	assert.Equal(t, a.RunID, got.RunID)
	assert.True(t, a.CreatedAt.Equal(got.CreatedAt))
	assert.Equal(t, a.Args, got.Args)
	assert.Equal(t, a.Performance, got.Performance)
	require.NotNil(t, got.Baseline)
	assert.Equal(t, a.Baseline, got.Baseline)
	assert.Equal(t, a.Checksum, got.Checksum)
	assert.Equal(t, a.Size, got.Size)
	assert.Equal(t, a.Classifier.Classes(), got.Classifier.Classes())
	assert.Equal(t, a.Classifier.Threshold(), got.Classifier.Threshold())
	for _, text := range []string{"BERT for text", "YOLO on video", "", "model serving with docker"} {
		assert.Equal(t, a.Classifier.Predict(text), got.Classifier.Predict(text), text)
	}
	assert.Equal(t, data, encoded(t, got), "re-encoding gives the same bytes")
}

func TestDecodeErrors(t *testing.T) {
	data := encoded(t, fixtureArtifact(t))
	modified := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(data)) }
	tests := []struct {
		name string
		data []byte
		err  error
		msg  string
	}{
		{"empty", nil, ErrNotArtifact, "model: not a tagifai artifact"},
		{"not an artifact", []byte("id,created_on,title,description,tag\n"), ErrNotArtifact, "magic"},
		{"header truncated", data[:30], ErrTruncated, "model: truncated artifact: 30 bytes"},
		{"payload truncated", data[:len(data)-100], ErrTruncated, "model: truncated artifact: payload has"},
		{"flipped payload byte", modified(func(b []byte) []byte { b[len(b)-5] ^= 1; return b }), ErrCorrupted, "model: corrupted artifact: payload SHA-256"},
		{"flipped checksum byte", modified(func(b []byte) []byte { b[25] ^= 1; return b }), ErrCorrupted, "SHA-256"},
		{"trailing bytes", append(bytes.Clone(data), 0), ErrCorrupted, "after the payload"},
		{"newer version", modified(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[8:], FormatVersion+1)
			return b
		}), ErrNewerVersion, "format version 3, this program reads up to 2"},
		{"huge length", modified(func(b []byte) []byte {
			binary.LittleEndian.PutUint64(b[12:], 1<<40)
			return b
		}), ErrCorrupted, "exceeds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Decode(bytes.NewReader(tt.data))
			require.ErrorIs(t, err, tt.err)
			assert.Contains(t, err.Error(), tt.msg)
			_, errBytes := DecodeBytes(tt.data)
			require.Error(t, errBytes, "DecodeBytes")
			assert.Equal(t, err.Error(), errBytes.Error(), "DecodeBytes and Decode disagree")
		})
	}
}

func TestSaveLoad(t *testing.T) {
	a := fixtureArtifact(t)
	dir := filepath.Join(t.TempDir(), "artifacts")
	require.NoError(t, Save(dir, a))
	require.NoError(t, Save(dir, a), "saving over an artifact")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"args.json", ArtifactFile, "performance.json"}, names, "no temporary files left")

	got, err := Load(dir)
	require.NoError(t, err)
	assert.Equal(t, a.Checksum, got.Checksum)

	var args Args
	js, err := os.ReadFile(filepath.Join(dir, "args.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(js, &args))
	assert.Equal(t, a.Args, args)

	var perf Performance
	js, err = os.ReadFile(filepath.Join(dir, "performance.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(js, &perf))
	assert.Equal(t, a.Performance, perf)

	t.Run("missing", func(t *testing.T) {
		_, err := Load(t.TempDir())
		require.ErrorIs(t, err, os.ErrNotExist)
		assert.Contains(t, err.Error(), "model: load: ")
	})
	t.Run("corrupted file names the file", func(t *testing.T) {
		path := filepath.Join(dir, ArtifactFile)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		data[len(data)-1] ^= 0xff
		require.NoError(t, os.WriteFile(path, data, 0o644))
		_, err = Load(dir)
		require.ErrorIs(t, err, ErrCorrupted)
		assert.Contains(t, err.Error(), path)
	})
}
