package observe

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math/bits"
	"slices"
	"strings"

	"github.com/anacrolix/torrent/metainfo"

	"github.com/docket-project/docket/protocol"
)

// blockSize is the size of a BEP 52 Merkle tree leaf: every file is hashed
// in 16 KiB blocks.
const blockSize = 16 << 10

// shape is what the metainfo says a swarm is: its infohashes and what each
// piece must hash to. It is built once from the metainfo, checked on the
// way (the v2 piece layers against their files' roots), and read-only
// afterwards.
type shape struct {
	// v1 is set for v1 and hybrid torrents: the SHA-1 of the info dict.
	v1 *[sha1.Size]byte
	// v2 is set for v2 and hybrid torrents: the SHA-256 of the info dict.
	v2 *[sha256.Size]byte
	// pieces holds the expected hashes of every piece.
	pieces []pieceCheck
	// files lists the v2 files with content, in torrent order.
	files []v2File
}

// pieceCheck is what one piece must hash to.
type pieceCheck struct {
	// length is the number of content bytes the piece carries.
	length int64
	// v1 is the piece's SHA-1 from the info dict's "pieces", or nil.
	v1 []byte
	// v1Length is the length the SHA-1 covers: a hybrid torrent's last
	// piece of a file is followed by zero padding up to the next piece.
	v1Length int64
	// v2 is the piece's BEP 52 hash, or nil: its entry in the file's piece
	// layer, or the file's pieces root for a file of one piece.
	v2 []byte
	// v2Leaves is the number of 16 KiB leaves v2 covers (a piece layer
	// entry covers a whole piece length, missing blocks hashing as zero),
	// or 0 for a pieces root, which covers the file's own blocks only.
	v2Leaves int
}

// v2File is one file of a v2 torrent: its pieces root and the half-open
// range of torrent pieces it occupies.
type v2File struct {
	root       [sha256.Size]byte
	begin, end int
}

// view is how an observation presents evidence: the content id claimed,
// the swarm id, the hash kind of piece proofs and the pieces that count.
type view struct {
	content, swarm protocol.ContentID
	// v2 selects the BEP 52 piece hashes over the v1 SHA-1 ones.
	v2 bool
	// begin and end bound the pieces that support a verified-transfer
	// grade: the whole torrent, or the claimed file's pieces.
	begin, end int
}

// parseShape reads a v1, v2 or hybrid torrent's metainfo. It rejects
// metainfo whose hashes cannot be checked: missing or short v1 piece
// hashes, v2 piece layers that do not hash to their file's root, or a
// hybrid whose v1 and v2 layouts disagree.
func parseShape(mi *metainfo.MetaInfo) (*shape, error) {
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, fmt.Errorf("failed to parse info: %w", err)
	}
	if info.PieceLength <= 0 {
		return nil, fmt.Errorf("failed to parse info: piece length %d is not positive", info.PieceLength)
	}
	s := &shape{}
	var v1Pieces int
	if info.HasV1() {
		if len(info.Pieces) == 0 || len(info.Pieces)%sha1.Size != 0 {
			return nil, errors.New("failed to parse info: v1 piece hashes missing or truncated")
		}
		v1Pieces = len(info.Pieces) / sha1.Size
		h := sha1.Sum(mi.InfoBytes)
		s.v1 = &h
	}
	if info.HasV2() {
		h := sha256.Sum256(mi.InfoBytes)
		s.v2 = &h
		if err := s.parseV2(&info, mi.PieceLayers); err != nil {
			return nil, err
		}
	}
	switch {
	case s.v1 == nil && s.v2 == nil:
		return nil, errors.New("failed to parse info: neither v1 nor v2")
	case s.v2 == nil:
		var total int64
		for f := range info.UpvertedV1Files() {
			if f.Length < 0 {
				return nil, fmt.Errorf("failed to parse info: negative file length %d", f.Length)
			}
			total += f.Length
		}
		if want := (total + info.PieceLength - 1) / info.PieceLength; want != int64(v1Pieces) {
			return nil, fmt.Errorf("failed to parse info: %d bytes need %d pieces, the torrent has %d", total, want, v1Pieces)
		}
		s.pieces = make([]pieceCheck, v1Pieces)
		for i := range s.pieces {
			s.pieces[i].length = min(info.PieceLength, total-int64(i)*info.PieceLength)
			s.pieces[i].v1Length = s.pieces[i].length
		}
	case s.v1 != nil:
		if err := s.checkHybrid(&info, v1Pieces); err != nil {
			return nil, err
		}
	}
	if len(s.pieces) == 0 {
		return nil, errors.New("failed to parse info: no pieces")
	}
	if s.v1 != nil {
		for i := range s.pieces {
			s.pieces[i].v1 = info.Pieces[sha1.Size*i : sha1.Size*(i+1)]
		}
	}
	return s, nil
}

// parseV2 fills in the pieces of a v2 file tree and checks each file's
// piece layer against its pieces root.
func (s *shape) parseV2(info *metainfo.Info, layers map[string]string) error {
	pl := info.PieceLength
	if pl < blockSize || pl&(pl-1) != 0 {
		return fmt.Errorf("failed to parse info: v2 piece length %d is not a power of two of at least 16 KiB", pl)
	}
	leavesPerPiece := int(pl / blockSize)
	padHash := merkleRoot(nil, leavesPerPiece)
	var fileErr error
	walkFileTree(&info.FileTree, nil, func(path []string, f metainfo.FileTreeFile) bool {
		name := strings.Join(path, "/")
		if f.Length < 0 {
			fileErr = fmt.Errorf("failed to parse info: file %q has negative length", name)
			return false
		}
		if f.Length == 0 {
			return true
		}
		if len(f.PiecesRoot) != sha256.Size {
			fileErr = fmt.Errorf("failed to parse info: file %q has a pieces root of %d bytes, want 32", name, len(f.PiecesRoot))
			return false
		}
		n := int((f.Length + pl - 1) / pl)
		file := v2File{begin: len(s.pieces), end: len(s.pieces) + n}
		copy(file.root[:], f.PiecesRoot)
		if n == 1 {
			s.pieces = append(s.pieces, pieceCheck{length: f.Length, v2: file.root[:]})
			s.files = append(s.files, file)
			return true
		}
		layer, ok := layers[f.PiecesRoot]
		if !ok || len(layer) != n*sha256.Size {
			fileErr = fmt.Errorf("failed to parse metainfo: file %q needs a piece layer of %d hashes", name, n)
			return false
		}
		hashes := make([][sha256.Size]byte, n)
		for i := range hashes {
			copy(hashes[i][:], layer[sha256.Size*i:])
		}
		if root := merkleRootPadded(hashes, padHash); root != file.root {
			fileErr = fmt.Errorf("failed to parse metainfo: the piece layer of file %q hashes to %x, not its pieces root %x", name, root, file.root)
			return false
		}
		for i := range hashes {
			s.pieces = append(s.pieces, pieceCheck{
				length:   min(pl, f.Length-int64(i)*pl),
				v2:       hashes[i][:],
				v2Leaves: leavesPerPiece,
			})
		}
		s.files = append(s.files, file)
		return true
	})
	return fileErr
}

// walkFileTree calls f for every file of a BEP 52 file tree in torrent
// order (keys sorted), until f returns false. Unlike the metainfo
// package's walkers it never assumes a pieces root is well formed.
func walkFileTree(ft *metainfo.FileTree, path []string, f func(path []string, file metainfo.FileTreeFile) bool) bool {
	if !ft.IsDir() {
		return f(path, ft.File)
	}
	for _, k := range slices.Sorted(maps.Keys(ft.Dir)) {
		if k == metainfo.FileTreePropertiesKey {
			continue
		}
		sub := ft.Dir[k]
		if !walkFileTree(&sub, append(slices.Clip(path), k), f) {
			return false
		}
	}
	return true
}

// checkHybrid checks that a hybrid torrent's v1 file list lays the files
// out exactly as its v2 file tree does (each file starting on a piece
// boundary, the gaps filled by BEP 47 pad files), so that both hash kinds
// describe the same bytes, and sets each piece's v1 length.
func (s *shape) checkHybrid(info *metainfo.Info, v1Pieces int) error {
	if v1Pieces != len(s.pieces) {
		return fmt.Errorf("failed to parse info: hybrid torrent has %d v1 pieces and %d v2 pieces", v1Pieces, len(s.pieces))
	}
	type extent struct{ offset, length int64 }
	var v1, v2 []extent
	var end int64
	for f := range info.UpvertedV1Files() {
		if f.Length < 0 {
			return fmt.Errorf("failed to parse info: negative file length %d", f.Length)
		}
		if f.Length > 0 && !strings.Contains(f.Attr, "p") {
			v1 = append(v1, extent{f.TorrentOffset, f.Length})
		}
		end = f.TorrentOffset + f.Length
	}
	for _, f := range s.files {
		v2 = append(v2, extent{int64(f.begin) * info.PieceLength, 0})
	}
	for i, f := range s.files {
		for p := f.begin; p < f.end; p++ {
			v2[i].length += s.pieces[p].length
		}
	}
	if !slices.Equal(v1, v2) {
		return errors.New("failed to parse info: the hybrid torrent's v1 files are not laid out like its v2 files")
	}
	last := int64(v1Pieces-1) * info.PieceLength
	for i := range s.pieces {
		s.pieces[i].v1Length = info.PieceLength
	}
	s.pieces[v1Pieces-1].v1Length = end - last
	if end <= last || end-last < s.pieces[v1Pieces-1].length {
		return errors.New("failed to parse info: the hybrid torrent's v1 length does not cover its last piece")
	}
	return nil
}

// shortHash is the 20-byte infohash the swarm is joined with: the v1
// infohash, or for a v2-only torrent the truncated v2 infohash (BEP 52).
func (s *shape) shortHash() (h [20]byte) {
	if s.v1 != nil {
		return *s.v1
	}
	copy(h[:], s.v2[:])
	return h
}

// shortHashes returns the 20-byte infohashes peers may handshake with:
// the v1 infohash and the truncated v2 infohash, whichever exist.
func (s *shape) shortHashes() [][20]byte {
	var out [][20]byte
	if s.v1 != nil {
		out = append(out, *s.v1)
	}
	if s.v2 != nil {
		var h [20]byte
		copy(h[:], s.v2[:])
		out = append(out, h)
	}
	return out
}

// contentIDs lists every content id the torrent can be claimed by.
func (s *shape) contentIDs() []protocol.ContentID {
	var out []protocol.ContentID
	if s.v1 != nil {
		out = append(out, protocol.V1ContentID(*s.v1))
	}
	if s.v2 != nil {
		out = append(out, protocol.V2ContentID(*s.v2))
	}
	for _, f := range s.files {
		if id := protocol.FileRootContentID(f.root); !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// defaultView presents a v1 torrent as its btih swarm and a v2 or hybrid
// torrent as its btmh swarm: a hybrid's pieces are checked against both
// hash kinds, and SHA-256 is the stronger one to vouch for.
func (s *shape) defaultView() view {
	if s.v2 != nil {
		v, _ := s.viewOf(protocol.V2ContentID(*s.v2))
		return v
	}
	v, _ := s.viewOf(protocol.V1ContentID(*s.v1))
	return v
}

// viewOf returns the view for content, which must be one of contentIDs.
// A bt2file id is observed in the torrent's btmh swarm, and only pieces of
// that file support a verified-transfer grade.
func (s *shape) viewOf(content protocol.ContentID) (view, error) {
	v := view{content: content, swarm: content, end: len(s.pieces)}
	switch {
	case s.v1 != nil && content == protocol.V1ContentID(*s.v1):
	case s.v2 != nil && content == protocol.V2ContentID(*s.v2):
		v.v2 = true
	case s.v2 != nil && content.Kind() == protocol.KindV2File:
		i := slices.IndexFunc(s.files, func(f v2File) bool { return protocol.FileRootContentID(f.root) == content })
		if i < 0 {
			return view{}, fmt.Errorf("failed to build observation: the torrent has no file %s", content)
		}
		v.swarm, v.v2 = protocol.V2ContentID(*s.v2), true
		v.begin, v.end = s.files[i].begin, s.files[i].end
	default:
		return view{}, fmt.Errorf("failed to build observation: %s does not name this torrent or one of its files", content)
	}
	return v, nil
}

// pieceHash returns piece i's hash as a piece proof writes it for v.
func (s *shape) pieceHash(v view, i int) string {
	if v.v2 {
		return hex.EncodeToString(s.pieces[i].v2)
	}
	return hex.EncodeToString(s.pieces[i].v1)
}

// verify reports whether data, the bytes of a piece, hash to every hash
// the torrent gives for it. The hashes are computed here with the
// standard library, independently of the BitTorrent client.
func (c *pieceCheck) verify(data []byte) bool {
	if int64(len(data)) != c.length {
		return false
	}
	if c.v1 != nil {
		h := sha1.New()
		h.Write(data)
		if pad := c.v1Length - c.length; pad > 0 {
			h.Write(make([]byte, pad))
		}
		if !bytes.Equal(h.Sum(nil), c.v1) {
			return false
		}
	}
	if c.v2 != nil {
		if root := merkleRoot(blockHashes(data), c.v2Leaves); !bytes.Equal(root[:], c.v2) {
			return false
		}
	}
	return true
}

// blockHashes returns the SHA-256 of each 16 KiB block of data, the last
// block possibly shorter: the leaves of a BEP 52 Merkle tree.
func blockHashes(data []byte) [][sha256.Size]byte {
	out := make([][sha256.Size]byte, 0, (len(data)+blockSize-1)/blockSize)
	for len(data) > 0 {
		n := min(len(data), blockSize)
		out = append(out, sha256.Sum256(data[:n]))
		data = data[n:]
	}
	return out
}

// merkleRoot returns the BEP 52 Merkle root of leaves, extended with zero
// leaves to at least minLeaves and then to a power of two.
func merkleRoot(leaves [][sha256.Size]byte, minLeaves int) [sha256.Size]byte {
	n := max(len(leaves), minLeaves, 1)
	layer := make([][sha256.Size]byte, 1<<bits.Len(uint(n-1)))
	copy(layer, leaves)
	return merkleRootPadded(layer, [sha256.Size]byte{})
}

// merkleRootPadded returns the root of a tree whose bottom layer is
// hashes, extended to a power of two with pad.
func merkleRootPadded(hashes [][sha256.Size]byte, pad [sha256.Size]byte) [sha256.Size]byte {
	if len(hashes) == 0 {
		return pad
	}
	layer := slices.Clone(hashes)
	for len(layer)&(len(layer)-1) != 0 {
		layer = append(layer, pad)
	}
	var buf [2 * sha256.Size]byte
	for len(layer) > 1 {
		for i := range len(layer) / 2 {
			copy(buf[:sha256.Size], layer[2*i][:])
			copy(buf[sha256.Size:], layer[2*i+1][:])
			layer[i] = sha256.Sum256(buf[:])
		}
		layer = layer[:len(layer)/2]
	}
	return layer[0]
}
