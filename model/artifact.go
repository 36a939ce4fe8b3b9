package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/google/renameio/v2"
)

// FormatVersion is the version of the artifact file format this package
// writes; Decode reads it and every older version.
//
// Version 2 added the baseline to the metadata (version 1 artifacts have
// none) and the confusion matrix to the performance report.
const FormatVersion = 2

// ArtifactFile is the name of the artifact file in an artifact directory.
const ArtifactFile = "model.tagifai"

// MaxPayloadBytes bounds the payload Decode accepts, so that a corrupted
// length cannot make it allocate without limit.
const MaxPayloadBytes = 1 << 30

// artifactMagic starts every artifact file.
const artifactMagic = "TAGIFAI\x1a"

// headerSize is the size of the fixed header: magic, format version
// (uint32), payload length (uint64), SHA-256 of the payload.
const headerSize = len(artifactMagic) + 4 + 8 + sha256.Size

// Artifact is a trained classifier with what is known about how it was
// made. Encode writes it as one self-contained file:
//
//	offset  size  content
//	0       8     magic "TAGIFAI\x1a"
//	8       4     format version, uint32 little-endian
//	12      8     payload length n, uint64 little-endian
//	20      32    SHA-256 of the payload
//	52      n     payload
//
// and the payload is a uint32 little-endian length m, m bytes of JSON
// metadata (run id, creation time, args, performance, classes, threshold,
// cleaning and feature settings, sizes, and from version 2 the baseline), then, little-endian, the feature
// hashes (D uint64), their idf (D float32), the weights (D·K float32,
// feature-major) and the intercepts (K float32), for D features and K
// classes.
type Artifact struct {
	// FormatVersion is the version of the file format the artifact was
	// read from; Encode always writes FormatVersion.
	FormatVersion int
	// RunID identifies the training run.
	RunID string
	// CreatedAt is when the artifact was made, in UTC.
	CreatedAt time.Time
	// Args are the training arguments.
	Args Args
	// Performance is the classifier's performance on the holdout data given
	// to train (not on any split of the training data), fallback active: it
	// is what GET /performance serves.
	Performance Performance
	// Classifier is the trained model.
	Classifier *Classifier
	// Baseline holds the reference distributions of monitoring, computed on
	// held-out predictions; nil when the artifact has none (format version
	// 1, or trained without held-out texts).
	Baseline *Baseline
	// Checksum is the hex SHA-256 of the payload, set by Encode and
	// verified by Decode.
	Checksum string
	// Size is the number of bytes of the encoded file, set by Encode and
	// Decode.
	Size int64
}

// artifactMeta is the JSON part of the payload.
type artifactMeta struct {
	RunID       string       `json:"run_id"`
	CreatedAt   time.Time    `json:"created_at"`
	Args        Args         `json:"args"`
	Performance Performance  `json:"performance"`
	Classes     []string     `json:"classes"`
	Threshold   float64      `json:"threshold"`
	Clean       CleanOptions `json:"clean"`
	Loss        string       `json:"loss"`
	CharMin     int          `json:"char_ngram_min"`
	CharMax     int          `json:"char_ngram_max"`
	WordMax     int          `json:"word_ngram_max"`
	SublinearTF bool         `json:"sublinear_tf"`
	WordWeight  float64      `json:"word_weight"`
	NumFeatures int          `json:"num_features"`
	NumChar     int          `json:"num_char_features"`
	Baseline    *Baseline    `json:"baseline,omitempty"`
}

// Encode writes a to w in the artifact format and sets a.Checksum and
// a.Size. The bytes depend only on a's fields, so encoding the same
// artifact twice gives the same bytes.
func Encode(w io.Writer, a *Artifact) error {
	c := a.Classifier
	if c == nil {
		return errors.New("model: encode: artifact has no classifier")
	}
	meta := artifactMeta{
		RunID: a.RunID, CreatedAt: a.CreatedAt.UTC(), Args: a.Args, Performance: a.Performance,
		Classes: c.classes, Threshold: c.threshold, Clean: c.clean, Loss: c.loss,
		CharMin: c.vec.cfg.charMin, CharMax: c.vec.cfg.charMax, WordMax: c.vec.cfg.wordMax,
		SublinearTF: c.vec.cfg.sublinearTF, WordWeight: c.vec.cfg.wordWeight,
		NumFeatures: c.vec.numFeatures(), NumChar: c.vec.numChar, Baseline: a.Baseline,
	}
	js, err := json.Marshal(meta)
	if err != nil {
		return fmt.Errorf("model: encode: %w", err)
	}
	d, k := c.vec.numFeatures(), len(c.classes)
	payload := make([]byte, 0, 4+len(js)+d*12+(d*k+k)*4)
	payload = binary.LittleEndian.AppendUint32(payload, uint32(len(js)))
	payload = append(payload, js...)
	for _, key := range c.vec.keys {
		payload = binary.LittleEndian.AppendUint64(payload, key)
	}
	for _, fs := range [][]float32{c.vec.idf, c.weights, c.bias} {
		for _, f := range fs {
			payload = binary.LittleEndian.AppendUint32(payload, math.Float32bits(f))
		}
	}
	sum := sha256.Sum256(payload)
	header := make([]byte, 0, headerSize)
	header = append(header, artifactMagic...)
	header = binary.LittleEndian.AppendUint32(header, FormatVersion)
	header = binary.LittleEndian.AppendUint64(header, uint64(len(payload)))
	header = append(header, sum[:]...)
	if _, err := w.Write(header); err != nil {
		return fmt.Errorf("model: encode: %w", err)
	}
	if _, err := w.Write(payload); err != nil {
		return fmt.Errorf("model: encode: %w", err)
	}
	a.FormatVersion = FormatVersion
	a.Checksum = hex.EncodeToString(sum[:])
	a.Size = int64(headerSize + len(payload))
	return nil
}

// Errors of Decode, for errors.Is.
var (
	ErrNotArtifact  = errors.New("model: not a tagifai artifact")
	ErrTruncated    = errors.New("model: truncated artifact")
	ErrCorrupted    = errors.New("model: corrupted artifact")
	ErrNewerVersion = errors.New("model: artifact format is newer than this program supports")
)

// Decode reads an artifact written by Encode and verifies the SHA-256 of
// its payload. Its errors wrap ErrNotArtifact (wrong magic bytes),
// ErrNewerVersion (a format version above FormatVersion), ErrTruncated
// (fewer bytes than the header announces) or ErrCorrupted (a checksum
// mismatch, trailing bytes or an inconsistent payload).
func Decode(r io.Reader) (*Artifact, error) {
	header, size, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	// Read what is there rather than allocate what the header claims: a
	// short file with a huge length must not cost a gigabyte.
	payload, err := io.ReadAll(io.LimitReader(r, int64(size)))
	if err != nil {
		return nil, fmt.Errorf("model: decode: %w", err)
	}
	var extra [1]byte
	n, _ := io.ReadFull(r, extra[:])
	return decodeChecked(header, payload, size, n > 0)
}

// DecodeBytes is Decode of an artifact already in memory: it reads the
// payload where it is instead of copying it, and keeps no reference to
// data.
func DecodeBytes(data []byte) (*Artifact, error) {
	header, size, err := readHeader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	payload := data[headerSize:]
	trailing := uint64(len(payload)) > size
	if trailing {
		payload = payload[:size]
	}
	return decodeChecked(header, payload, size, trailing)
}

// readHeader reads and checks the fixed header, and returns it with the
// payload length it announces.
func readHeader(r io.Reader) ([]byte, uint64, error) {
	header := make([]byte, headerSize)
	n, err := io.ReadFull(r, header)
	if n < len(artifactMagic) || string(header[:len(artifactMagic)]) != artifactMagic {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, 0, fmt.Errorf("model: decode: %w", err)
		}
		return nil, 0, fmt.Errorf("%w: the file does not start with the artifact magic bytes", ErrNotArtifact)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, 0, fmt.Errorf("%w: %d bytes, shorter than the %d-byte header", ErrTruncated, n, headerSize)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("model: decode: %w", err)
	}
	version := binary.LittleEndian.Uint32(header[8:])
	if version > FormatVersion {
		return nil, 0, fmt.Errorf("%w: format version %d, this program reads up to %d; upgrade tagifai", ErrNewerVersion, version, FormatVersion)
	}
	if version == 0 {
		return nil, 0, fmt.Errorf("%w: format version 0", ErrCorrupted)
	}
	size := binary.LittleEndian.Uint64(header[12:])
	if size > MaxPayloadBytes {
		return nil, 0, fmt.Errorf("%w: payload length %d exceeds %d bytes", ErrCorrupted, size, MaxPayloadBytes)
	}
	return header, size, nil
}

// decodeChecked checks the payload read after header (at most size bytes,
// trailing when more followed) against the header and decodes it.
func decodeChecked(header, payload []byte, size uint64, trailing bool) (*Artifact, error) {
	if uint64(len(payload)) < size {
		return nil, fmt.Errorf("%w: payload has %d of %d bytes", ErrTruncated, len(payload), size)
	}
	if trailing {
		return nil, fmt.Errorf("%w: bytes after the payload", ErrCorrupted)
	}
	sum := sha256.Sum256(payload)
	if !bytes.Equal(sum[:], header[20:20+sha256.Size]) {
		return nil, fmt.Errorf("%w: payload SHA-256 is %x, the header says %x", ErrCorrupted, sum, header[20:20+sha256.Size])
	}
	a, err := decodePayload(payload)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorrupted, err)
	}
	a.FormatVersion = int(binary.LittleEndian.Uint32(header[8:]))
	a.Checksum = hex.EncodeToString(sum[:])
	a.Size = int64(headerSize) + int64(size)
	return a, nil
}

func decodePayload(p []byte) (*Artifact, error) {
	if len(p) < 4 {
		return nil, errors.New("payload too short")
	}
	m := int(binary.LittleEndian.Uint32(p))
	if m > len(p)-4 {
		return nil, errors.New("metadata length exceeds the payload")
	}
	if m > MaxMetadataBytes {
		return nil, fmt.Errorf("metadata of %d bytes exceeds %d", m, MaxMetadataBytes)
	}
	var meta artifactMeta
	if err := json.Unmarshal(p[4:4+m], &meta); err != nil {
		return nil, fmt.Errorf("metadata: %v", err)
	}
	if err := checkMeta(&meta); err != nil {
		return nil, err
	}
	d, k := meta.NumFeatures, len(meta.Classes)
	rest := p[4+m:]
	if want := d*8 + (d+d*k+k)*4; len(rest) != want {
		return nil, fmt.Errorf("arrays are %d bytes, want %d for %d features and %d classes", len(rest), want, d, k)
	}
	keys := make([]uint64, d)
	for i := range keys {
		keys[i] = binary.LittleEndian.Uint64(rest[8*i:])
	}
	rest = rest[8*d:]
	floats := func(n int) []float32 {
		out := make([]float32, n)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(rest[4*i:]))
		}
		rest = rest[4*n:]
		return out
	}
	idf, weights, bias := floats(d), floats(d*k), floats(k)
	if err := checkArrays(keys, meta.NumChar, idf, weights, bias); err != nil {
		return nil, err
	}
	vec := &vectorizer{
		cfg: featureConfig{
			charMin: meta.CharMin, charMax: meta.CharMax, wordMax: meta.WordMax,
			sublinearTF: meta.SublinearTF, wordWeight: meta.WordWeight,
		},
		keys: keys, idf: idf, numChar: meta.NumChar,
	}
	vec.index = newHashIndex(keys)
	return &Artifact{
		RunID: meta.RunID, CreatedAt: meta.CreatedAt, Args: meta.Args, Performance: meta.Performance,
		Baseline:   meta.Baseline,
		Classifier: newClassifier(meta.Classes, meta.Clean, meta.Loss, vec, weights, bias, meta.Threshold),
	}, nil
}

// Save writes a into dir, creating dir if needed: the artifact as
// dir/model.tagifai, written atomically (a temporary file in dir, synced,
// then renamed over the old one), and, for people and diffs, its args as
// dir/args.json and its performance as dir/performance.json.
func Save(dir string, a *Artifact) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	var buf bytes.Buffer
	if err := Encode(&buf, a); err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, ArtifactFile), buf.Bytes()); err != nil {
		return err
	}
	for name, v := range map[string]any{"args.json": a.Args, "performance.json": a.Performance} {
		js, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Errorf("model: save: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(dir, name), append(js, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// writeFileAtomic replaces path with data so that a crash leaves the old
// file or the new one, never a part of it (renameio: a temporary file in
// the same directory, fsync, rename).
func writeFileAtomic(path string, data []byte) error {
	if err := renameio.WriteFile(path, data, 0o644, renameio.WithTempDir(filepath.Dir(path))); err != nil {
		return fmt.Errorf("model: save: %w", err)
	}
	return nil
}

// Load reads the artifact dir/model.tagifai (see Decode).
func Load(dir string) (*Artifact, error) {
	f, err := os.Open(filepath.Join(dir, ArtifactFile))
	if err != nil {
		return nil, fmt.Errorf("model: load: %w", err)
	}
	defer f.Close()
	a, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, f.Name())
	}
	return a, nil
}
