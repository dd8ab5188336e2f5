package observe

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/anacrolix/torrent/merkle"
)

// TestMerkleAgreesWithAnacrolix checks the observer's BEP 52 hashing, done
// with the standard library only, against anacrolix's merkle package on
// data of awkward sizes: a file's pieces root, and a piece layer entry
// (padded to the piece length) for a short last piece.
func TestMerkleAgreesWithAnacrolix(t *testing.T) {
	const pieceLength = 64 << 10
	for _, size := range []int{1, 16 << 10, 16<<10 + 1, 3*16<<10 + 5, 64 << 10, 64<<10 + 1, 200 << 10, 1 << 20} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			data := make([]byte, size)
			rand.Read(data)
			h := merkle.NewHash()
			h.Write(data)
			if got, want := merkleRoot(blockHashes(data), 0), h.Sum(nil); !bytes.Equal(got[:], want) {
				t.Errorf("pieces root %x, anacrolix %x", got, want)
			}
			piece := data[:min(size, pieceLength)]
			ph := merkle.NewHash()
			ph.Write(piece)
			want := ph.SumMinLength(nil, pieceLength)
			if got := merkleRoot(blockHashes(piece), pieceLength/blockSize); !bytes.Equal(got[:], want) {
				t.Errorf("piece layer entry %x, anacrolix %x", got, want)
			}
			c := pieceCheck{length: int64(len(piece)), v2: want, v2Leaves: pieceLength / blockSize}
			if !c.verify(piece) {
				t.Error("verify rejected the right bytes")
			}
			bad := bytes.Clone(piece)
			bad[len(bad)-1] ^= 1
			if c.verify(bad) || c.verify(piece[:len(piece)-1]) {
				t.Error("verify accepted altered or short bytes")
			}
		})
	}
	if pad, want := merkleRoot(nil, pieceLength/blockSize), merkle.Root(make([][32]byte, pieceLength/blockSize)); pad != want {
		t.Errorf("pad hash %x, anacrolix %x", pad, want)
	}
}
