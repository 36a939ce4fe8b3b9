package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDecodeDoesNotTrustTheLength: a short file whose header claims the
// largest payload is refused as truncated without allocating that much.
func TestDecodeDoesNotTrustTheLength(t *testing.T) {
	header := make([]byte, headerSize)
	copy(header, artifactMagic)
	binary.LittleEndian.PutUint32(header[8:], FormatVersion)
	binary.LittleEndian.PutUint64(header[12:], MaxPayloadBytes)
	sum := sha256.Sum256(nil)
	copy(header[20:], sum[:])
	input := append(header, []byte("nine more")...)

	_, err := Decode(bytes.NewReader(input))
	require.True(t, errors.Is(err, ErrTruncated), "got %v", err)
	allocated := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = Decode(bytes.NewReader(input))
		}
	}).AllocedBytesPerOp()
	assert.Less(t, allocated, int64(1<<20), "decoding %d bytes allocated %d bytes", len(input), allocated)
}
