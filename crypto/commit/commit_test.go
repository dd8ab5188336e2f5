package commit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"testing"

	"github.com/docket-project/docket/crypto/commit"
)

// salt returns a deterministic SaltSize-byte salt derived from n.
func salt(n byte) []byte {
	return bytes.Repeat([]byte{n}, commit.SaltSize)
}

func leaf(t testing.TB, s []byte, addr string) []byte {
	t.Helper()
	l, err := commit.Leaf(s, netip.MustParseAddr(addr))
	if err != nil {
		t.Fatalf("Leaf(%x, %s): %v", s, addr, err)
	}
	return l
}

// leaves returns n distinct leaf hashes.
func leaves(t testing.TB, n int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		addr := netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})
		out[i] = leaf(t, salt(byte(i)), addr.String())
	}
	return out
}

// refHashChildren is RFC 6962's interior node hash.
func refHashChildren(l, r []byte) []byte {
	h := sha256.New()
	h.Write([]byte{0x01})
	h.Write(l)
	h.Write(r)
	return h.Sum(nil)
}

// splitPoint is the largest power of two smaller than n (n > 1).
func splitPoint(n int) int {
	return 1 << (bits.Len(uint(n-1)) - 1)
}

// refMTH is MTH from RFC 6962 §2.1 over already hashed leaves.
func refMTH(hashes [][]byte) []byte {
	switch n := len(hashes); n {
	case 0:
		sum := sha256.Sum256(nil)
		return sum[:]
	case 1:
		return hashes[0]
	default:
		k := splitPoint(n)
		return refHashChildren(refMTH(hashes[:k]), refMTH(hashes[k:]))
	}
}

// refPath is PATH from RFC 6962 §2.1.1: the audit path of hashes[m].
func refPath(m int, hashes [][]byte) [][]byte {
	n := len(hashes)
	if n <= 1 {
		return nil
	}
	k := splitPoint(n)
	if m < k {
		return append(refPath(m, hashes[:k]), refMTH(hashes[k:]))
	}
	return append(refPath(m-k, hashes[k:]), refMTH(hashes[:k]))
}

func TestSplitPoint(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]int{2: 1, 3: 2, 4: 2, 5: 4, 8: 4, 9: 8, 70: 64} {
		if got := splitPoint(n); got != want {
			t.Errorf("splitPoint(%d) = %d, want %d", n, got, want)
		}
	}
}

// TestLeafKnownAnswer recomputes a leaf from the formula in the package
// documentation.
func TestLeafKnownAnswer(t *testing.T) {
	t.Parallel()
	s := []byte("0123456789abcdef")
	tests := []struct {
		addr   string
		addr16 string // hex
	}{
		{"192.0.2.1", "00000000000000000000ffffc0000201"},
		{"::ffff:192.0.2.1", "00000000000000000000ffffc0000201"},
		{"2001:db8::1", "20010db8000000000000000000000001"},
	}
	for _, tt := range tests {
		addr16, _ := hex.DecodeString(tt.addr16)
		h := sha256.New()
		h.Write([]byte{0x00})
		h.Write([]byte("docket-peer-v1"))
		h.Write([]byte{0x00})
		h.Write(s)
		h.Write(addr16)
		if got, want := leaf(t, s, tt.addr), h.Sum(nil); !bytes.Equal(got, want) {
			t.Errorf("Leaf(%q, %s) = %x, want %x", s, tt.addr, got, want)
		}
	}
}

func TestLeafInputs(t *testing.T) {
	t.Parallel()
	base := leaf(t, salt(1), "192.0.2.1")
	if len(base) != commit.HashSize {
		t.Fatalf("leaf has %d bytes, want %d", len(base), commit.HashSize)
	}
	saltLastBit := salt(1)
	saltLastBit[commit.SaltSize-1] ^= 1
	tests := []struct {
		name  string
		salt  []byte
		addr  string
		equal bool
	}{
		{"same inputs", salt(1), "192.0.2.1", true},
		{"IPv4-mapped IPv6 form", salt(1), "::ffff:192.0.2.1", true},
		{"another salt", salt(2), "192.0.2.1", false},
		{"salt differing in its last bit", saltLastBit, "192.0.2.1", false},
		{"another IPv4 address", salt(1), "192.0.2.2", false},
		{"IPv4-compatible IPv6 form", salt(1), "::192.0.2.1", false},
		{"IPv6 address", salt(1), "2001:db8::1", false},
	}
	for _, tt := range tests {
		got := leaf(t, tt.salt, tt.addr)
		if bytes.Equal(got, base) != tt.equal {
			t.Errorf("%s: Leaf = %x, base leaf %x, want equal: %v", tt.name, got, base, tt.equal)
		}
	}
}

func TestLeafBadSalt(t *testing.T) {
	t.Parallel()
	addr := netip.MustParseAddr("192.0.2.1")
	for _, n := range []int{0, 1, commit.SaltSize - 1, commit.SaltSize + 1, 32} {
		if _, err := commit.Leaf(make([]byte, n), addr); !errors.Is(err, commit.ErrBadSalt) {
			t.Errorf("salt of %d bytes: got error %v, want ErrBadSalt", n, err)
		}
	}
	if _, err := commit.Leaf(nil, addr); !errors.Is(err, commit.ErrBadSalt) {
		t.Errorf("nil salt: got error %v, want ErrBadSalt", err)
	}
}

func TestRootEmpty(t *testing.T) {
	t.Parallel()
	// RFC 6962 §2.1: MTH({}) = SHA-256().
	const want = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	for _, in := range [][][]byte{nil, {}} {
		if got := hex.EncodeToString(commit.Root(in)); got != want {
			t.Errorf("Root(%#v) = %s, want %s", in, got, want)
		}
	}
}

func TestRootSingle(t *testing.T) {
	t.Parallel()
	l := leaves(t, 1)
	if got := commit.Root(l); !bytes.Equal(got, l[0]) {
		t.Errorf("Root of one leaf = %x, want the leaf %x", got, l[0])
	}
}

func TestRootMatchesReference(t *testing.T) {
	t.Parallel()
	all := leaves(t, 70)
	seen := make(map[string]int)
	for n := 1; n <= len(all); n++ {
		in := all[:n]
		before := bytes.Join(in, nil)
		got := commit.Root(in)
		if want := refMTH(in); !bytes.Equal(got, want) {
			t.Errorf("Root of %d leaves = %x, want %x", n, got, want)
		}
		if !bytes.Equal(bytes.Join(in, nil), before) {
			t.Errorf("Root of %d leaves modified its input", n)
		}
		if m, ok := seen[string(got)]; ok {
			t.Errorf("trees of %d and %d leaves have the same root", m, n)
		}
		seen[string(got)] = n
	}
}

func TestRootOrderMatters(t *testing.T) {
	t.Parallel()
	l := leaves(t, 5)
	swapped := [][]byte{l[1], l[0], l[2], l[3], l[4]}
	if bytes.Equal(commit.Root(l), commit.Root(swapped)) {
		t.Error("swapping two leaves left the root unchanged")
	}
}

func TestInclusion(t *testing.T) {
	t.Parallel()
	all := leaves(t, 41)
	bogus := sha256.Sum256([]byte("not a leaf"))
	for size := 1; size <= 40; size++ {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			in := all[:size]
			root := commit.Root(in)
			n := uint64(size)
			for i := range n {
				p, err := commit.InclusionProof(in, i)
				if err != nil {
					t.Fatalf("InclusionProof(%d of %d): %v", i, size, err)
				}
				if want := refPath(int(i), in); !equalHashes(p, want) {
					t.Errorf("InclusionProof(%d of %d) = %x, want RFC 6962 PATH %x", i, size, p, want)
				}
				if err := commit.VerifyInclusion(in[i], i, n, p, root); err != nil {
					t.Errorf("VerifyInclusion(%d of %d): %v", i, size, err)
				}
				for _, bad := range badProofs(in, i, p, root, bogus[:]) {
					if err := commit.VerifyInclusion(bad.leaf, bad.index, bad.size, bad.proof, bad.root); err == nil {
						t.Errorf("index %d of %d: %s accepted", i, size, bad.name)
					}
				}
			}
		})
	}
}

type inclusionClaim struct {
	name        string
	leaf        []byte
	index, size uint64
	proof       [][]byte
	root        []byte
}

// badProofs returns variants of the valid claim (in[i], i, len(in), p, root)
// that must all fail verification.
func badProofs(in [][]byte, i uint64, p [][]byte, root, bogus []byte) []inclusionClaim {
	n := uint64(len(in))
	valid := inclusionClaim{leaf: in[i], index: i, size: n, proof: p, root: root}
	with := func(name string, edit func(c *inclusionClaim)) inclusionClaim {
		c := valid
		c.name = name
		edit(&c)
		return c
	}
	flip := func(b []byte) []byte {
		b = bytes.Clone(b)
		b[0] ^= 0x01
		return b
	}
	out := []inclusionClaim{
		with("next index", func(c *inclusionClaim) { c.index = (i + 1) % (n + 1) }),
		with("index past the end", func(c *inclusionClaim) { c.index = n }),
		with("modified leaf", func(c *inclusionClaim) { c.leaf = flip(c.leaf) }),
		with("unrelated leaf", func(c *inclusionClaim) { c.leaf = bogus }),
		with("modified root", func(c *inclusionClaim) { c.root = flip(c.root) }),
		with("root of the tree one smaller", func(c *inclusionClaim) { c.root = commit.Root(in[:n-1]) }),
		with("hash appended to proof", func(c *inclusionClaim) { c.proof = append(append([][]byte{}, p...), bogus) }),
		with("size zero", func(c *inclusionClaim) { c.size = 0 }),
		with("short leaf", func(c *inclusionClaim) { c.leaf = c.leaf[:commit.HashSize-1] }),
	}
	if i > 0 {
		out = append(out, with("previous index", func(c *inclusionClaim) { c.index = i - 1 }))
		out = append(out, with("previous leaf", func(c *inclusionClaim) { c.leaf = in[i-1] }))
	}
	if i+1 < n {
		out = append(out, with("next leaf", func(c *inclusionClaim) { c.leaf = in[i+1] }))
	}
	if n > 1 {
		out = append(out, with("proof missing its last hash", func(c *inclusionClaim) { c.proof = p[:len(p)-1] }))
		out = append(out, with("root of one leaf", func(c *inclusionClaim) { c.root = in[0] }))
	}
	for j := range p {
		out = append(out, with(fmt.Sprintf("proof hash %d modified", j), func(c *inclusionClaim) {
			c.proof = append([][]byte{}, p...)
			c.proof[j] = flip(p[j])
		}))
		out = append(out, with(fmt.Sprintf("proof hash %d truncated", j), func(c *inclusionClaim) {
			c.proof = append([][]byte{}, p...)
			c.proof[j] = p[j][:commit.HashSize-1]
		}))
	}
	if len(p) > 1 {
		out = append(out, with("proof hashes swapped", func(c *inclusionClaim) {
			c.proof = append([][]byte{}, p...)
			c.proof[0], c.proof[1] = c.proof[1], c.proof[0]
		}))
	}
	return out
}

func equalHashes(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestInclusionProofIndexOutOfRange(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ size, index uint64 }{{0, 0}, {1, 1}, {5, 5}, {5, 1 << 40}} {
		if p, err := commit.InclusionProof(leaves(t, int(tt.size)), tt.index); err == nil {
			t.Errorf("InclusionProof(index %d of %d) = %x, want an error", tt.index, tt.size, p)
		}
	}
}

func ExampleRoot() {
	fmt.Printf("%x\n", commit.Root(nil))
	// Output: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
}
