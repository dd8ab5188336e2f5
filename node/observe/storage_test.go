package observe

import (
	"crypto/sha1"
	"errors"
	"testing"
)

// TestMemPieceDropsData checks that a piece's bytes are judged against the
// torrent's hash and dropped once hashed, pass or fail.
func TestMemPieceDropsData(t *testing.T) {
	data := []byte("sixteen bytes!!!")
	sum := sha1.Sum(data)
	type verdict struct {
		ok   bool
		data []byte
	}
	var got []verdict
	p := &memPiece{
		index: 3,
		check: &pieceCheck{length: int64(len(data)), v1: sum[:], v1Length: int64(len(data))},
		verdict: func(index int, d []byte, ok bool) {
			if index != 3 {
				t.Errorf("verdict for piece %d", index)
			}
			got = append(got, verdict{ok, d})
		},
	}
	// A corrupted copy fails and is dropped.
	bad := []byte("sixteen bytes!!?")
	if _, err := p.WriteAt(bad[:8], 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteAt(bad[8:], 8); err != nil {
		t.Fatal(err)
	}
	if err := p.MarkNotComplete(); err != nil {
		t.Fatal(err)
	}
	if p.buf != nil || p.Completion().Complete {
		t.Error("failed piece kept data or claims completion")
	}
	// The right bytes pass; afterwards they cannot be read back.
	if _, err := p.WriteAt(data, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := p.WriteAt(data, 1); err == nil {
		t.Error("write past the piece's end accepted")
	}
	if err := p.MarkComplete(); err != nil {
		t.Fatal(err)
	}
	if p.buf != nil || !p.Completion().Complete {
		t.Error("verified piece kept data or is not complete")
	}
	if _, err := p.ReadAt(make([]byte, 4), 0); !errors.Is(err, errDiscarded) {
		t.Errorf("read of a discarded piece: %v", err)
	}
	if len(got) != 2 || got[0].ok || got[0].data != nil || !got[1].ok || string(got[1].data) != string(data) {
		t.Errorf("verdicts %+v", got)
	}
}
