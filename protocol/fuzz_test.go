package protocol_test

import (
	"reflect"
	"testing"

	"github.com/go-json-experiment/json"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/protocol"
	"github.com/docket-project/docket/spec"
)

// seeds adds every envelope of the vectors picked by pick to f's corpus and
// fails if there are none, so a fuzz target never runs unseeded.
func seeds(f *testing.F, pick func(spec.Vector) []string) {
	f.Helper()
	n := 0
	for _, v := range loadVectors(f) {
		for _, s := range pick(v) {
			if s != "" {
				f.Add([]byte(s))
				n++
			}
		}
	}
	if n == 0 {
		f.Fatal("no seeds found in spec/vectors")
	}
}

// roundTrip re-encodes a decoded payload and decodes it again: the result
// must equal the first decoding.
func roundTrip[T any](t *testing.T, first *T, decode func([]byte) (*T, error)) {
	t.Helper()
	out, err := json.Marshal(first, json.Deterministic(true))
	if err != nil {
		t.Fatalf("re-encoding a decoded object failed: %v", err)
	}
	second, err := decode(out)
	if err != nil {
		t.Fatalf("re-encoded object does not decode: %v\n%s", err, out)
	}
	if !reflect.DeepEqual(first, second) {
		t.Fatalf("decode→encode→decode changed the object:\n%+v\n%+v", first, second)
	}
}

func decodePayload[T any](data []byte) (*T, error) {
	var v T
	if err := json.Unmarshal(data, &v, json.RejectUnknownMembers(true)); err != nil {
		return nil, err
	}
	return &v, nil
}

func FuzzDecodeCredential(f *testing.F) {
	seeds(f, func(v spec.Vector) []string { return v.Chain })
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := protocol.DecodeCredential(data)
		if err != nil {
			if protocol.CodeOf(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		if sc.Subject == nil || sc.ID != protocol.IDOf(sc.Envelope.Payload) {
			t.Fatal("decoded credential lacks its subject key or id")
		}
		roundTrip(t, &sc.Credential, decodePayload[protocol.Credential])
	})
}

func FuzzDecodeAssertion(f *testing.F) {
	seeds(f, func(v spec.Vector) []string { return []string{v.Assertion} })
	f.Fuzz(func(t *testing.T, data []byte) {
		sa, err := protocol.DecodeAssertion(data)
		if err != nil {
			if protocol.CodeOf(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		roundTrip(t, &sa.Assertion, decodePayload[protocol.Assertion])
	})
}

func FuzzDecodeRevocation(f *testing.F) {
	seeds(f, func(v spec.Vector) []string { return append([]string{v.Revocation}, v.Revocations...) })
	f.Fuzz(func(t *testing.T, data []byte) {
		sr, err := protocol.DecodeRevocation(data)
		if err != nil {
			if protocol.CodeOf(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		roundTrip(t, &sr.Revocation, decodePayload[protocol.Revocation])
	})
}

// FuzzDecodeSection is seeded with the plaintext of every section the
// vectors' ISPs can open.
func FuzzDecodeSection(f *testing.F) {
	seeds(f, func(v spec.Vector) []string {
		if v.ISP == nil || v.Assertion == "" {
			return nil
		}
		sa, err := protocol.DecodeAssertion([]byte(v.Assertion))
		if err != nil {
			return nil
		}
		id, err := seal.ParseIdentityFile([]byte(v.ISP.Identity))
		if err != nil {
			f.Fatal(err)
		}
		sealed, ok := sa.Sealed[v.ISP.Name]
		if !ok {
			return nil
		}
		pt, err := seal.Open(sealed, id, protocol.MaxSectionPlaintext)
		if err != nil {
			return nil
		}
		return []string{string(pt)}
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := protocol.DecodeSection(data)
		if err != nil {
			if protocol.CodeOf(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		roundTrip(t, sc, decodePayload[protocol.SectionContent])
	})
}

func FuzzParseContentID(f *testing.F) {
	for _, s := range []string{
		"btih:c9e15763f722f23e98a29decdfae341b98d53056",
		"btmh:1220d8f0c1b2a39485766758493a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c",
		"bt2file:5f4dcc3b5aa765d61d8327deb882cf99e1b4b3e0c7d1a3f2a9e8d7c6b5a49382",
		"magnet:?xt=urn:btih:c9e15763f722f23e98a29decdfae341b98d53056",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := protocol.ParseContentID(s)
		if err != nil {
			if protocol.CodeOf(err) != protocol.CodeBadContentID {
				t.Fatalf("want BAD_CONTENT_ID, got %v", err)
			}
			return
		}
		if string(id) != s {
			t.Fatalf("parsed %q as %q", s, id)
		}
		wantLen := map[protocol.ContentKind]int{protocol.KindV1Infohash: 20, protocol.KindV2Infohash: 32, protocol.KindV2File: 32}[id.Kind()]
		if len(id.Digest()) != wantLen {
			t.Fatalf("%s: digest of %d bytes", s, len(id.Digest()))
		}
	})
}

func FuzzDecodeAnnouncement(f *testing.F) {
	seeds(f, func(v spec.Vector) []string { return []string{v.Announcement} })
	f.Fuzz(func(t *testing.T, data []byte) {
		sa, err := protocol.DecodeAnnouncement(data)
		if err != nil {
			if protocol.CodeOf(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		roundTrip(t, &sa.Announcement, decodePayload[protocol.Announcement])
	})
}

func FuzzDecodeReceipt(f *testing.F) {
	seeds(f, func(v spec.Vector) []string { return []string{v.Receipt} })
	f.Fuzz(func(t *testing.T, data []byte) {
		sr, err := protocol.DecodeReceipt(data)
		if err != nil {
			if protocol.CodeOf(err) == "" {
				t.Fatalf("error without a code: %v", err)
			}
			return
		}
		roundTrip(t, &sr.Receipt, decodePayload[protocol.Receipt])
	})
}
