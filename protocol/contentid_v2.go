package protocol

import "fmt"

// V2ContentID returns the btmh content id of a BitTorrent v2 infohash, the
// SHA-256 of the bencoded info dictionary (spec/SPEC.md §2), written as a
// sha2-256 multihash: "btmh:1220" and 64 lowercase hex digits.
func V2ContentID(infohash [32]byte) ContentID {
	return ContentID(fmt.Sprintf("btmh:1220%x", infohash))
}

// FileRootContentID returns the bt2file content id of one file of a v2
// torrent: its BEP 52 pieces root (spec/SPEC.md §2), the same in every v2
// torrent that carries the file.
func FileRootContentID(piecesRoot [32]byte) ContentID {
	return ContentID(fmt.Sprintf("bt2file:%x", piecesRoot))
}
