package audit

import (
	"bytes"
	"context"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/tessera/api"
	"github.com/transparency-dev/tessera/api/layout"
)

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// locate compares the leaf hashes of the entries read, 32 bytes each in
// leaves, with the log's level-0 hash tiles. If the tiles hash to the
// checkpoint's root, it returns the first entry whose hash differs from its
// tile's; otherwise, or if the tiles cannot be read, -1.
func locate(ctx context.Context, src source, cp *log.Checkpoint, leaves []byte) int64 {
	tree := rangeFactory.NewEmptyRange(0)
	first := int64(-1)
	for ri := range layout.Range(0, cp.Size, cp.Size) {
		data, err := src.ReadTile(ctx, 0, ri.Index, layout.PartialTileSize(0, ri.Index, cp.Size))
		if err != nil {
			return -1
		}
		var tile api.HashTile
		if err := tile.UnmarshalText(data); err != nil || len(tile.Nodes) < int(ri.N) {
			return -1
		}
		for j, h := range tile.Nodes[:ri.N] {
			i := ri.Index*layout.TileWidth + uint64(j)
			if err := tree.Append(h, nil); err != nil {
				return -1
			}
			if first < 0 && (uint64(len(leaves)) < (i+1)*32 || !bytes.Equal(h, leaves[i*32:(i+1)*32])) {
				first = int64(i)
			}
		}
	}
	root, err := tree.GetRootHash(nil)
	if err != nil || !bytes.Equal(root, cp.Hash) {
		return -1
	}
	return first
}
