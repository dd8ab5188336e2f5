package protocol_test

import (
	"bytes"
	"testing"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/protocol"
	"github.com/docket-project/docket/spec"
)

func vectorNamed(t testing.TB, name string) spec.Vector {
	t.Helper()
	for _, v := range loadVectors(t) {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("no vector %s", name)
	return spec.Vector{}
}

// mutations returns every truncation of data and every single-byte change
// of it by XOR 0x01 and by replacement with a few structural bytes.
func mutations(data []byte, visit func(kind string, i int, m []byte)) {
	for i := range data {
		visit("truncate", i, data[:i])
	}
	m := bytes.Clone(data)
	for i := range data {
		for _, b := range []byte{data[i] ^ 0x01, '"', '{', ' ', 'A', 0} {
			if b == data[i] {
				continue
			}
			m[i] = b
			visit("change", i, m)
		}
		m[i] = data[i]
	}
}

// TestTamperedCredentialRejected checks that every truncation and every
// single-byte change of a valid credential is rejected.
func TestTamperedCredentialRejected(t *testing.T) {
	t.Parallel()
	vec := vectorNamed(t, "credential-valid")
	registrars, opts, err := verifierOptions(vec)
	if err != nil {
		t.Fatal(err)
	}
	v := protocol.NewVerifier(registrars, opts...)
	if _, err := v.VerifyChain([][]byte{[]byte(vec.Chain[0])}, vec.Now); err != nil {
		t.Fatalf("valid credential rejected: %v", err)
	}
	mutations([]byte(vec.Chain[0]), func(kind string, i int, m []byte) {
		if _, err := v.VerifyChain([][]byte{m}, vec.Now); err == nil {
			t.Errorf("%s at byte %d accepted", kind, i)
		} else if protocol.CodeOf(err) == "" {
			t.Errorf("%s at byte %d: error without a code: %v", kind, i, err)
		}
	})
}

// TestTamperedAssertionRejected checks that every truncation and every
// single-byte change of a valid assertion is rejected by the ISP.
func TestTamperedAssertionRejected(t *testing.T) {
	t.Parallel()
	vec := vectorNamed(t, "assertion-valid")
	registrars, opts, err := verifierOptions(vec)
	if err != nil {
		t.Fatal(err)
	}
	v := protocol.NewVerifier(registrars, opts...)
	chain, err := v.VerifyChain([][]byte{[]byte(vec.Chain[0])}, vec.Now)
	if err != nil {
		t.Fatal(err)
	}
	id, err := seal.ParseIdentityFile([]byte(vec.ISP.Identity))
	if err != nil {
		t.Fatal(err)
	}
	isp := &protocol.ISP{Name: vec.ISP.Name, Region: vec.ISP.Region, Identity: id}
	if _, err := v.Verify([]byte(vec.Assertion), chain, isp, vec.Now); err != nil {
		t.Fatalf("valid assertion rejected: %v", err)
	}
	mutations([]byte(vec.Assertion), func(kind string, i int, m []byte) {
		if _, err := v.Verify(m, chain, isp, vec.Now); err == nil {
			t.Errorf("%s at byte %d accepted", kind, i)
		} else if protocol.CodeOf(err) == "" {
			t.Errorf("%s at byte %d: error without a code: %v", kind, i, err)
		}
	})
}
