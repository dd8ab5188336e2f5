// Package commit computes Docket's salted peer commitments and the RFC 6962
// Merkle tree over them.
//
// Each peer address of an assertion gets a fresh random salt. Its leaf is
//
//	leaf = SHA-256(0x00 || "docket-peer-v1" || 0x00 || salt || addr16)
//
// (the RFC 6962 leaf hash of the domain-separated data), where addr16 is the
// 16-byte form of the address (IPv4 as IPv4-mapped IPv6). The assertion's
// public part carries only the root over all leaves, in the order the
// assertion lists them; the salts travel sealed. Opening one leaf (salt,
// address, index, inclusion proof) proves that the assertion named that
// address, and reveals nothing about any other leaf.
package commit

import (
	"crypto"
	_ "crypto/sha256" // registers SHA-256 for the RFC 6962 hasher
	"errors"
	"fmt"
	"net/netip"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// SaltSize is the size in bytes of a peer salt.
const SaltSize = 16

// HashSize is the size of leaf hashes and roots.
const HashSize = 32

const domain = "docket-peer-v1\x00"

// ErrBadSalt is returned for a salt that is not SaltSize bytes.
var ErrBadSalt = errors.New("peer salt must be 16 bytes")

var hasher = rfc6962.New(crypto.SHA256)

var factory = &compact.RangeFactory{Hash: hasher.HashChildren}

// Leaf returns the leaf hash committing to addr under salt.
func Leaf(salt []byte, addr netip.Addr) ([]byte, error) {
	if len(salt) != SaltSize {
		return nil, fmt.Errorf("%w: got %d", ErrBadSalt, len(salt))
	}
	a16 := addr.Unmap().As16()
	buf := make([]byte, 0, len(domain)+SaltSize+16)
	buf = append(buf, domain...)
	buf = append(buf, salt...)
	buf = append(buf, a16[:]...)
	return hasher.HashLeaf(buf), nil
}

// Root returns the RFC 6962 Merkle tree hash over leaves, in order.
func Root(leaves [][]byte) []byte {
	if len(leaves) == 0 {
		return hasher.EmptyRoot()
	}
	return subtreeHash(leaves)
}

func subtreeHash(leaves [][]byte) []byte {
	r := factory.NewEmptyRange(0)
	for _, l := range leaves {
		// Append fails only on a wrong-sized range, which cannot happen here.
		if err := r.Append(l, nil); err != nil {
			panic(err)
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		panic(err)
	}
	return root
}

// InclusionProof returns the RFC 6962 inclusion proof of leaves[index].
func InclusionProof(leaves [][]byte, index uint64) ([][]byte, error) {
	size := uint64(len(leaves))
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("failed to build inclusion proof: %w", err)
	}
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		begin, end := id.Coverage()
		hashes[i] = subtreeHash(leaves[begin:end])
	}
	out, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("failed to build inclusion proof: %w", err)
	}
	return out, nil
}

// VerifyInclusion checks that leaf is at index in the tree of size leaves
// with the given root.
func VerifyInclusion(leaf []byte, index, size uint64, proofHashes [][]byte, root []byte) error {
	if err := proof.VerifyInclusion(hasher, index, size, leaf, proofHashes, root); err != nil {
		return fmt.Errorf("failed to verify peer inclusion: %w", err)
	}
	return nil
}
