package observe

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sync"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// errDiscarded is returned when anacrolix reads a piece whose bytes the
// observer has already hashed and dropped. The observer never uploads, so
// only a misconfiguration reaches it.
var errDiscarded = errors.New("piece data was hashed and discarded")

// discardStorage is a storage.ClientImpl that holds a piece's bytes in
// memory only until the piece is hashed, then drops them and keeps just
// the completion state. Nothing is written to disk.
type discardStorage struct {
	// verdict is told, for every hashed piece, whether it matched the
	// torrent's v1 piece hash (checked here, independently of anacrolix),
	// and on a match the piece's bytes, which it must not retain.
	verdict func(index int, hash string, data []byte, ok bool)
}

func (s *discardStorage) OpenTorrent(_ context.Context, info *metainfo.Info, _ metainfo.Hash) (storage.TorrentImpl, error) {
	if len(info.Pieces) != 20*info.NumPieces() {
		return storage.TorrentImpl{}, fmt.Errorf("failed to open torrent: v1 piece hashes missing")
	}
	pieces := make([]*memPiece, info.NumPieces())
	for i := range pieces {
		p := info.Piece(i)
		pieces[i] = &memPiece{
			index:    i,
			length:   p.Length(),
			expected: hex.EncodeToString(info.Pieces[20*i : 20*i+20]),
			verdict:  s.verdict,
		}
	}
	return storage.TorrentImpl{
		PieceWithHash: func(p metainfo.Piece, _ g.Option[[]byte]) storage.PieceImpl { return pieces[p.Index()] },
		Close:         func() error { return nil },
	}, nil
}

// memPiece buffers one piece until it is hashed.
type memPiece struct {
	index    int
	length   int64
	expected string // lowercase hex SHA-1 from the torrent
	verdict  func(index int, hash string, data []byte, ok bool)

	mu       sync.Mutex
	buf      []byte // nil when no chunk is held
	complete bool
}

func (p *memPiece) ReadAt(b []byte, off int64) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.complete {
		return 0, errDiscarded
	}
	if p.buf == nil || off >= p.length {
		return 0, io.EOF
	}
	n := copy(b, p.buf[off:])
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

func (p *memPiece) WriteAt(b []byte, off int64) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if off < 0 || off+int64(len(b)) > p.length {
		return 0, fmt.Errorf("failed to write piece %d: %d bytes at %d exceed length %d", p.index, len(b), off, p.length)
	}
	if p.buf == nil {
		p.buf = make([]byte, p.length)
	}
	return copy(p.buf[off:], b), nil
}

// MarkComplete is called once anacrolix's hash check passed. The piece is
// hashed again here, so a verified piece is one whose bytes this package
// saw match the torrent, then its bytes are dropped.
func (p *memPiece) MarkComplete() error {
	p.mu.Lock()
	data := p.buf
	var sum string
	if data != nil {
		h := sha1.Sum(data)
		sum = hex.EncodeToString(h[:])
	}
	ok := sum == p.expected
	p.buf = nil
	p.complete = ok
	p.mu.Unlock()
	if !ok {
		data = nil
	}
	p.verdict(p.index, p.expected, data, ok)
	if !ok {
		return fmt.Errorf("failed to verify piece %d: hash mismatch", p.index)
	}
	return nil
}

// MarkNotComplete is called after a failed hash check.
func (p *memPiece) MarkNotComplete() error {
	p.mu.Lock()
	hadData := p.buf != nil
	p.buf = nil
	p.complete = false
	p.mu.Unlock()
	if hadData {
		p.verdict(p.index, p.expected, nil, false)
	}
	return nil
}

func (p *memPiece) Completion() storage.Completion {
	p.mu.Lock()
	defer p.mu.Unlock()
	return storage.Completion{Ok: true, Complete: p.complete}
}
