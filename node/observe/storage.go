package observe

import (
	"context"
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
	// shape gives what each piece must hash to.
	shape *shape
	// verdict is told, for every hashed piece, whether it matched every
	// hash the torrent gives for it (checked here, independently of
	// anacrolix), and on a match the piece's bytes, which it must not
	// retain.
	verdict func(index int, data []byte, ok bool)

	mu     sync.Mutex
	pieces []*memPiece // set when the torrent is opened
}

func (s *discardStorage) OpenTorrent(_ context.Context, info *metainfo.Info, _ metainfo.Hash) (storage.TorrentImpl, error) {
	if n := info.NumPieces(); n != len(s.shape.pieces) {
		return storage.TorrentImpl{}, fmt.Errorf("failed to open torrent: %d pieces, expected %d", n, len(s.shape.pieces))
	}
	pieces := make([]*memPiece, len(s.shape.pieces))
	for i := range pieces {
		pieces[i] = &memPiece{index: i, check: &s.shape.pieces[i], verdict: s.verdict}
	}
	s.mu.Lock()
	s.pieces = pieces
	s.mu.Unlock()
	return storage.TorrentImpl{
		PieceWithHash: func(p metainfo.Piece, _ g.Option[[]byte]) storage.PieceImpl { return pieces[p.Index()] },
		Close:         func() error { return nil },
	}, nil
}

// forget marks piece i incomplete, so it is fetched again.
func (s *discardStorage) forget(i int) {
	s.mu.Lock()
	p := s.pieces[i]
	s.mu.Unlock()
	p.mu.Lock()
	p.complete = false
	p.mu.Unlock()
}

// memPiece buffers one piece until it is hashed.
type memPiece struct {
	index   int
	check   *pieceCheck
	verdict func(index int, data []byte, ok bool)

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
	if p.buf == nil || off >= p.check.length {
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
	if off < 0 || off+int64(len(b)) > p.check.length {
		return 0, fmt.Errorf("failed to write piece %d: %d bytes at %d exceed length %d", p.index, len(b), off, p.check.length)
	}
	if p.buf == nil {
		p.buf = make([]byte, p.check.length)
	}
	return copy(p.buf[off:], b), nil
}

// MarkComplete is called once anacrolix's hash check passed. The piece is
// hashed again here against every hash the torrent gives (SHA-1, BEP 52
// Merkle, or both for a hybrid), so a verified piece is one whose bytes
// this package saw match the torrent; then its bytes are dropped.
func (p *memPiece) MarkComplete() error {
	p.mu.Lock()
	data := p.buf
	ok := data != nil && p.check.verify(data)
	p.buf = nil
	p.complete = ok
	p.mu.Unlock()
	if !ok {
		data = nil
	}
	p.verdict(p.index, data, ok)
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
		p.verdict(p.index, nil, false)
	}
	return nil
}

func (p *memPiece) Completion() storage.Completion {
	p.mu.Lock()
	defer p.mu.Unlock()
	return storage.Completion{Ok: true, Complete: p.complete}
}
