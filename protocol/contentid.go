package protocol

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// ContentID names content the way BitTorrent does, in one of three
// canonical forms (spec/SPEC.md §2):
//
//	btih:<40 lowercase hex>        BitTorrent v1 infohash (SHA-1 of the info dict)
//	btmh:1220<64 lowercase hex>    BitTorrent v2 infohash as a sha2-256 multihash
//	bt2file:<64 lowercase hex>     BEP 52 pieces root of one file
type ContentID string

// ContentKind is the scheme of a content id.
type ContentKind string

// The content id schemes.
const (
	KindV1Infohash ContentKind = "btih"
	KindV2Infohash ContentKind = "btmh"
	KindV2File     ContentKind = "bt2file"
)

// ParseContentID validates s and returns it as a ContentID.
func ParseContentID(s string) (ContentID, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if !ok {
		return "", errorf(CodeBadContentID, "content id %q has no scheme", truncate(s))
	}
	var hexLen int
	switch ContentKind(kind) {
	case KindV1Infohash:
		hexLen = 40
	case KindV2Infohash:
		if !strings.HasPrefix(rest, "1220") {
			return "", errorf(CodeBadContentID, "content id %q is not a sha2-256 multihash", truncate(s))
		}
		rest = rest[4:]
		hexLen = 64
	case KindV2File:
		hexLen = 64
	default:
		return "", errorf(CodeBadContentID, "content id %q has unknown scheme %q", truncate(s), truncate(kind))
	}
	if len(rest) != hexLen || !isLowerHex(rest) {
		return "", errorf(CodeBadContentID, "content id %q: want %d lowercase hex digits", truncate(s), hexLen)
	}
	return ContentID(s), nil
}

// Kind returns the content id's scheme.
func (c ContentID) Kind() ContentKind {
	kind, _, _ := strings.Cut(string(c), ":")
	return ContentKind(kind)
}

// Digest returns the raw hash the content id names (20 bytes for btih, 32
// for the others).
func (c ContentID) Digest() []byte {
	_, rest, _ := strings.Cut(string(c), ":")
	if c.Kind() == KindV2Infohash {
		rest = rest[4:]
	}
	b, _ := hex.DecodeString(rest)
	return b
}

// UnmarshalText validates a content id while decoding.
func (c *ContentID) UnmarshalText(b []byte) error {
	id, err := ParseContentID(string(b))
	if err != nil {
		return err
	}
	*c = id
	return nil
}

// V1ContentID returns the btih content id of a v1 infohash.
func V1ContentID(infohash [20]byte) ContentID {
	return ContentID(fmt.Sprintf("btih:%x", infohash))
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// truncate shortens attacker-supplied strings before they go into messages.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
