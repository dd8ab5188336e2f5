package protocol_test

import (
	"crypto/sha256"
	"testing"

	"github.com/docket-project/docket/protocol"
)

// TestV2ContentIDs checks that the v2 helpers produce canonical ids of the
// right kind whose digest is the hash they were given.
func TestV2ContentIDs(t *testing.T) {
	t.Parallel()
	infohash := sha256.Sum256([]byte("d4:name3:abce"))
	root := sha256.Sum256([]byte("a file's pieces root"))
	for _, tc := range []struct {
		id     protocol.ContentID
		kind   protocol.ContentKind
		digest [32]byte
	}{
		{protocol.V2ContentID(infohash), protocol.KindV2Infohash, infohash},
		{protocol.FileRootContentID(root), protocol.KindV2File, root},
	} {
		parsed, err := protocol.ParseContentID(string(tc.id))
		if err != nil {
			t.Errorf("%s is not canonical: %v", tc.id, err)
			continue
		}
		if parsed != tc.id || parsed.Kind() != tc.kind || string(parsed.Digest()) != string(tc.digest[:]) {
			t.Errorf("%s: kind %s digest %x, want %s %x", tc.id, parsed.Kind(), parsed.Digest(), tc.kind, tc.digest)
		}
	}
	// The spec's example: btmh ids carry the sha2-256 multihash prefix.
	var d [32]byte
	copy(d[:], []byte{0xd8, 0xf0, 0xc1, 0xb2})
	if got := protocol.V2ContentID(d); got[:13] != "btmh:1220d8f0" || len(got) != 5+4+64 {
		t.Errorf("V2ContentID = %s", got)
	}
}
