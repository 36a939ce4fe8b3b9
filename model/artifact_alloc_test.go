package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"runtime"
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
	// The test is not parallel, so no other test allocates meanwhile.
	const runs = 10
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		_, _ = Decode(bytes.NewReader(input))
	}
	runtime.ReadMemStats(&after)
	allocated := int64(after.TotalAlloc-before.TotalAlloc) / runs
	assert.Less(t, allocated, int64(1<<20), "decoding %d bytes allocated %d bytes", len(input), allocated)
}
