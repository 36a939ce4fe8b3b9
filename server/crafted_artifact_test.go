package server

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

// craftArtifact sets key of an encoded artifact's JSON metadata to value
// and frames the payload again with a valid checksum, as a crafted upload
// would (see model.Encode for the layout).
func craftArtifact(t *testing.T, data []byte, key string, value any) []byte {
	t.Helper()
	const headerSize = 8 + 4 + 8 + sha256.Size
	payload := data[headerSize:]
	m := binary.LittleEndian.Uint32(payload)
	var meta map[string]any
	require.NoError(t, json.Unmarshal(payload[4:4+m], &meta))
	meta[key] = value
	js, err := json.Marshal(meta)
	require.NoError(t, err)
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(js)))
	out = append(append(out, js...), payload[4+m:]...)
	sum := sha256.Sum256(out)
	framed := append([]byte(nil), data[:12]...)
	framed = binary.LittleEndian.AppendUint64(framed, uint64(len(out)))
	framed = append(framed, sum[:]...)
	return append(framed, out...)
}
