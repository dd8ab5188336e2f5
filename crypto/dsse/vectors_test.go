package dsse_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/spec"
)

// envelopeCodes are the spec codes a vector may expect because an envelope
// itself is unreadable; for every other expectation all envelopes decode.
var envelopeCodes = []string{"MALFORMED", "OVERSIZE", "UNKNOWN_FIELD", "DUPLICATE_KEY"}

// TestVectors runs every spec vector at the envelope layer: envelopes of
// vectors that expect acceptance, or a failure past decoding, must decode;
// a grant the vector's registrar signed must verify under that registrar.
func TestVectors(t *testing.T) {
	vectors, err := spec.Vectors()
	if err != nil {
		t.Fatal(err)
	}
	codes := spec.Codes()
	for _, vec := range vectors {
		t.Run(vec.Name, func(t *testing.T) {
			t.Parallel()
			if vec.Expect != spec.ExpectAccept && !slices.Contains(codes, vec.Expect) {
				t.Fatalf("vector expects %q, neither accept nor an error code", vec.Expect)
			}
			envelopes := slices.Concat(vec.Chain, vec.Revocations, []string{bundledEnvelope(vec.Assertion), vec.Revocation})
			strict := !slices.Contains(envelopeCodes, vec.Expect)
			registrars := map[sign.KeyID]*sign.PublicKey{}
			for _, p := range vec.Registrars {
				k, err := sign.ParsePublicKeyPEM([]byte(p))
				if err != nil {
					t.Fatal(err)
				}
				registrars[k.ID()] = k
			}
			for i, raw := range envelopes {
				if raw == "" {
					continue
				}
				env, err := dsse.Decode([]byte(raw), 8<<20)
				if err != nil {
					if strict {
						t.Fatalf("envelope %d does not decode: %v", i, err)
					}
					continue
				}
				if i == 0 && vec.Expect == spec.ExpectAccept {
					reg, ok := registrars[env.KeyID]
					if !ok {
						t.Fatalf("accepted vector's grant is signed by %s, not a registrar", env.KeyID)
					}
					if err := env.Verify(reg); err != nil {
						t.Fatalf("accepted vector's grant does not verify: %v", err)
					}
				}
			}
		})
	}
}

// bundledEnvelope returns the envelope an assertion bundle carries (SPEC.md
// §5.7), or the bundle itself if it has none to offer.
func bundledEnvelope(bundle string) string {
	var b struct {
		Envelope json.RawMessage `json:"envelope"`
	}
	if bundle == "" || json.Unmarshal([]byte(bundle), &b) != nil || b.Envelope == nil {
		return bundle
	}
	return string(b.Envelope)
}
