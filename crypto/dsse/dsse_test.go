package dsse_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/sign"
)

const (
	testType = "application/vnd.docket.test.v1+json"
	maxSize  = 1 << 16
)

var algorithms = []sign.Algorithm{sign.Ed25519, sign.ECDSAP256}

// testPayload's standard base64 holds '+' and '/' and ends in one '='.
var testPayload = []byte("\xfb\xef\xbe\xff\xff\xff{\"docket\":\"test payload\"}")

func generate(t testing.TB, alg sign.Algorithm) *sign.PrivateKey {
	t.Helper()
	k, err := sign.Generate(alg)
	if err != nil {
		t.Fatalf("Generate(%s): %v", alg, err)
	}
	return k
}

func signEnvelope(t testing.TB, k *sign.PrivateKey, payloadType string, payload []byte) []byte {
	t.Helper()
	data, err := dsse.Sign(k, payloadType, payload)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return data
}

func decode(t testing.TB, data []byte) *dsse.Envelope {
	t.Helper()
	e, err := dsse.Decode(data, maxSize)
	if err != nil {
		t.Fatalf("Decode(%s): %v", data, err)
	}
	return e
}

func TestPAE(t *testing.T) {
	t.Parallel()
	tests := []struct {
		payloadType string
		payload     string
		want        string
	}{
		// The known answer from the DSSE protocol specification.
		{"http://example.com/HelloWorld", "hello world", "DSSEv1 29 http://example.com/HelloWorld 11 hello world"},
		{"", "", "DSSEv1 0  0 "},
		{"a b", "1 2", "DSSEv1 3 a b 3 1 2"},
		{testType, strings.Repeat("x", 1000), "DSSEv1 35 " + testType + " 1000 " + strings.Repeat("x", 1000)},
	}
	for _, tt := range tests {
		if got := string(dsse.PAE(tt.payloadType, []byte(tt.payload))); got != tt.want {
			t.Errorf("PAE(%q, %q) = %q, want %q", tt.payloadType, tt.payload, got, tt.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k := generate(t, alg)
			data := signEnvelope(t, k, testType, testPayload)
			e := decode(t, data)
			if e.PayloadType != testType || !bytes.Equal(e.Payload, testPayload) || e.KeyID != k.Public().ID() {
				t.Errorf("Decode = {%q, %q, %s}, want {%q, %q, %s}",
					e.PayloadType, e.Payload, e.KeyID, testType, testPayload, k.Public().ID())
			}
			if err := e.Verify(k.Public()); err != nil {
				t.Errorf("Verify: %v", err)
			}
			if err := k.Public().Verify(dsse.PAE(testType, testPayload), e.Sig); err != nil {
				t.Errorf("signature is not over PAE(payloadType, payload): %v", err)
			}
			again, err := dsse.Encode(e)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !bytes.Equal(again, data) {
				t.Errorf("Encode(Decode(x)) != x:\n got %s\nwant %s", again, data)
			}
		})
	}
}

// TestWireFormat checks the member names and encodings against the package
// documentation, decoding with an ordinary JSON decoder.
func TestWireFormat(t *testing.T) {
	t.Parallel()
	k := generate(t, sign.Ed25519)
	data := signEnvelope(t, k, testType, testPayload)
	var w struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(data, &w, json.RejectUnknownMembers(true)); err != nil {
		t.Fatalf("envelope %s: %v", data, err)
	}
	if w.PayloadType != testType {
		t.Errorf("payloadType = %q, want %q", w.PayloadType, testType)
	}
	if want := base64.StdEncoding.EncodeToString(testPayload); w.Payload != want {
		t.Errorf("payload = %q, want %q", w.Payload, want)
	}
	if len(w.Signatures) != 1 {
		t.Fatalf("got %d signatures, want 1", len(w.Signatures))
	}
	if w.Signatures[0].KeyID != string(k.Public().ID()) {
		t.Errorf("keyid = %q, want %q", w.Signatures[0].KeyID, k.Public().ID())
	}
	sig, err := base64.StdEncoding.DecodeString(w.Signatures[0].Sig)
	if err != nil {
		t.Fatalf("sig: %v", err)
	}
	if err := k.Public().Verify(dsse.PAE(testType, testPayload), sig); err != nil {
		t.Errorf("sig does not verify: %v", err)
	}
	if bytes.ContainsAny(data, " \n\t\r") {
		t.Errorf("envelope is not compact: %s", data)
	}
}

// envelopeParts are the strings a valid envelope is made of, for building
// variants of it by hand.
type envelopeParts struct {
	typ, payload, keyID, sig string
}

func (p envelopeParts) sigObject() string {
	return fmt.Sprintf(`{"keyid":%q,"sig":%q}`, p.keyID, p.sig)
}

func (p envelopeParts) json() string {
	return fmt.Sprintf(`{"payloadType":%q,"payload":%q,"signatures":[%s]}`, p.typ, p.payload, p.sigObject())
}

func partsOf(t testing.TB, data []byte) envelopeParts {
	t.Helper()
	e := decode(t, data)
	p := envelopeParts{
		typ:     e.PayloadType,
		payload: base64.StdEncoding.EncodeToString(e.Payload),
		keyID:   string(e.KeyID),
		sig:     base64.StdEncoding.EncodeToString(e.Sig),
	}
	if p.json() != string(data) {
		t.Fatalf("envelopeParts.json() = %s, want %s", p.json(), data)
	}
	return p
}

// trailingBits sets the lowest bit of the last character before the padding
// of a padded base64 string: the same bytes with non-zero trailing bits.
func trailingBits(t testing.TB, s string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	i := strings.IndexByte(s, '=') - 1
	if i < 0 {
		t.Fatalf("%q has no padding", s)
	}
	return s[:i] + string(alphabet[strings.IndexByte(alphabet, s[i])|1]) + s[i+1:]
}

func TestDecodeStrict(t *testing.T) {
	t.Parallel()
	k := generate(t, sign.Ed25519)
	valid := signEnvelope(t, k, testType, testPayload)
	p := partsOf(t, valid)
	if !strings.Contains(p.payload, "+") || !strings.Contains(p.payload, "/") || !strings.HasSuffix(p.payload, "=") {
		t.Fatalf("payload base64 %q lacks '+', '/' or padding", p.payload)
	}
	with := func(edit func(p *envelopeParts)) string {
		q := p
		edit(&q)
		return q.json()
	}
	sigObjects := func(objs ...string) string {
		return fmt.Sprintf(`{"payloadType":%q,"payload":%q,"signatures":[%s]}`, p.typ, p.payload, strings.Join(objs, ","))
	}
	urlAlphabet := strings.NewReplacer("+", "-", "/", "_")
	body := strings.TrimPrefix(p.json(), "{") // everything after the opening brace

	tests := []struct {
		name string
		data string
		want []error
	}{
		// Strict JSON.
		{"unknown member", `{"extra":1,` + body, []error{dsse.ErrMalformed, json.ErrUnknownName}},
		{"unknown member at end", strings.TrimSuffix(p.json(), "}") + `,"x":null}`, []error{dsse.ErrMalformed, json.ErrUnknownName}},
		{"unknown member in signature", sigObjects(fmt.Sprintf(`{"keyid":%q,"sig":%q,"cert":""}`, p.keyID, p.sig)), []error{dsse.ErrMalformed, json.ErrUnknownName}},
		{"member name in other case", strings.Replace(p.json(), `"payloadType"`, `"PayloadType"`, 1), []error{dsse.ErrMalformed, json.ErrUnknownName}},
		{"duplicate payloadType", fmt.Sprintf(`{"payloadType":%q,`, p.typ) + body, []error{dsse.ErrMalformed, jsontext.ErrDuplicateName}},
		{"duplicate payload", fmt.Sprintf(`{"payload":%q,`, p.payload) + body, []error{dsse.ErrMalformed, jsontext.ErrDuplicateName}},
		{"duplicate signatures", strings.TrimSuffix(p.json(), "}") + `,"signatures":[]}`, []error{dsse.ErrMalformed, jsontext.ErrDuplicateName}},
		{"duplicate keyid", sigObjects(fmt.Sprintf(`{"keyid":%q,"keyid":%q,"sig":%q}`, p.keyID, p.keyID, p.sig)), []error{dsse.ErrMalformed, jsontext.ErrDuplicateName}},
		{"duplicate through escape", `{"payload\u0054ype":"x",` + body, []error{dsse.ErrMalformed, jsontext.ErrDuplicateName}},
		{"trailing garbage", p.json() + "x", []error{dsse.ErrMalformed}},
		{"trailing object", p.json() + "{}", []error{dsse.ErrMalformed}},
		{"trailing NUL", p.json() + "\x00", []error{dsse.ErrMalformed}},
		{"two envelopes", p.json() + p.json(), []error{dsse.ErrMalformed}},
		{"invalid UTF-8 in payloadType", strings.Replace(p.json(), p.typ, p.typ+"\xff", 1), []error{dsse.ErrMalformed}},
		{"invalid UTF-8 in keyid", strings.Replace(p.json(), p.keyID, p.keyID[:63]+"\xc3", 1), []error{dsse.ErrMalformed}},
		{"invalid UTF-8 in member name", `{"x` + "\xff" + `":1,` + body, []error{dsse.ErrMalformed}},
		{"lone surrogate escape", strings.Replace(p.json(), p.typ, p.typ+`\ud800`, 1), []error{dsse.ErrMalformed}},
		{"not an object", `[` + p.json() + `]`, []error{dsse.ErrMalformed}},
		{"null", `null`, []error{dsse.ErrMalformed}},
		{"empty", ``, []error{dsse.ErrMalformed}},
		{"signatures is an object", fmt.Sprintf(`{"payloadType":%q,"payload":%q,"signatures":%s}`, p.typ, p.payload, p.sigObject()), []error{dsse.ErrMalformed}},
		{"payload is a number", strings.Replace(p.json(), fmt.Sprintf("%q", p.payload), "1", 1), []error{dsse.ErrMalformed}},

		// Required members.
		{"empty payloadType", with(func(q *envelopeParts) { q.typ = "" }), []error{dsse.ErrMalformed}},
		{"missing payloadType", `{` + strings.TrimPrefix(body, fmt.Sprintf(`"payloadType":%q,`, p.typ)), []error{dsse.ErrMalformed}},
		{"empty payload", with(func(q *envelopeParts) { q.payload = "" }), []error{dsse.ErrMalformed}},
		{"null payload", strings.Replace(p.json(), fmt.Sprintf("%q", p.payload), "null", 1), []error{dsse.ErrMalformed}},
		{"empty sig", with(func(q *envelopeParts) { q.sig = "" }), []error{dsse.ErrMalformed}},
		{"missing sig", sigObjects(fmt.Sprintf(`{"keyid":%q}`, p.keyID)), []error{dsse.ErrMalformed}},

		// Exactly one signature.
		{"no signatures", sigObjects(), []error{dsse.ErrSignatureCount}},
		{"null signatures", fmt.Sprintf(`{"payloadType":%q,"payload":%q,"signatures":null}`, p.typ, p.payload), []error{dsse.ErrSignatureCount}},
		{"missing signatures", fmt.Sprintf(`{"payloadType":%q,"payload":%q}`, p.typ, p.payload), []error{dsse.ErrSignatureCount}},
		{"two signatures", sigObjects(p.sigObject(), p.sigObject()), []error{dsse.ErrSignatureCount}},

		// Canonical base64.
		{"unpadded payload", with(func(q *envelopeParts) { q.payload = strings.TrimRight(q.payload, "=") }), []error{dsse.ErrMalformed}},
		{"unpadded sig", with(func(q *envelopeParts) { q.sig = strings.TrimRight(q.sig, "=") }), []error{dsse.ErrMalformed}},
		{"URL alphabet payload", with(func(q *envelopeParts) { q.payload = urlAlphabet.Replace(q.payload) }), []error{dsse.ErrMalformed}},
		{"payload trailing bits", with(func(q *envelopeParts) { q.payload = trailingBits(t, q.payload) }), []error{dsse.ErrMalformed}},
		{"sig trailing bits", with(func(q *envelopeParts) { q.sig = trailingBits(t, q.sig) }), []error{dsse.ErrMalformed}},
		{"payload extra padding", with(func(q *envelopeParts) { q.payload += "=" }), []error{dsse.ErrMalformed}},
		{"payload with newline", with(func(q *envelopeParts) { q.payload = q.payload[:4] + "\n" + q.payload[4:] }), []error{dsse.ErrMalformed}},
		{"payload with CR LF", with(func(q *envelopeParts) { q.payload = q.payload[:8] + "\r\n" + q.payload[8:] }), []error{dsse.ErrMalformed}},
		{"payload with leading newline", with(func(q *envelopeParts) { q.payload = "\n" + q.payload }), []error{dsse.ErrMalformed}},
		{"sig with trailing newline", with(func(q *envelopeParts) { q.sig += "\n" }), []error{dsse.ErrMalformed}},
		{"payload with space", with(func(q *envelopeParts) { q.payload = q.payload[:4] + " " + q.payload[4:] }), []error{dsse.ErrMalformed}},

		// Key id.
		{"keyid uppercase", with(func(q *envelopeParts) { q.keyID = strings.ToUpper(q.keyID) }), []error{dsse.ErrMalformed}},
		{"keyid short", with(func(q *envelopeParts) { q.keyID = q.keyID[:63] }), []error{dsse.ErrMalformed}},
		{"keyid long", with(func(q *envelopeParts) { q.keyID += "0" }), []error{dsse.ErrMalformed}},
		{"keyid not hex", with(func(q *envelopeParts) { q.keyID = q.keyID[:63] + "g" }), []error{dsse.ErrMalformed}},
		{"keyid empty", with(func(q *envelopeParts) { q.keyID = "" }), []error{dsse.ErrMalformed}},
		{"keyid missing", sigObjects(fmt.Sprintf(`{"sig":%q}`, p.sig)), []error{dsse.ErrMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := dsse.Decode([]byte(tt.data), maxSize)
			if err == nil {
				t.Fatalf("Decode(%q) accepted: %+v", tt.data, e)
			}
			for _, want := range tt.want {
				if !errors.Is(err, want) {
					t.Errorf("Decode(%q): error %q does not wrap %q", tt.data, err, want)
				}
			}
		})
	}
}

// TestDecodeLenient lists the variants of an envelope's bytes that Decode
// accepts, since they change only JSON presentation: whitespace between
// tokens, member order and string escapes. The signed bytes stay the same.
func TestDecodeLenient(t *testing.T) {
	t.Parallel()
	k := generate(t, sign.Ed25519)
	p := partsOf(t, signEnvelope(t, k, testType, testPayload))
	tests := []struct {
		name, data string
	}{
		{"whitespace", " \n{ \"payloadType\" :\t" + fmt.Sprintf("%q", p.typ) + ",\r\n" + strings.TrimPrefix(p.json(), fmt.Sprintf(`{"payloadType":%q,`, p.typ)) + "\n"},
		{"member order", fmt.Sprintf(`{"signatures":[{"sig":%q,"keyid":%q}],"payload":%q,"payloadType":%q}`, p.sig, p.keyID, p.payload, p.typ)},
		{"escaped slash", strings.Replace(p.json(), "application/", `application\/`, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := dsse.Decode([]byte(tt.data), maxSize)
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.data, err)
			}
			if err := e.Verify(k.Public()); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestDecodeOversize(t *testing.T) {
	t.Parallel()
	data := signEnvelope(t, generate(t, sign.Ed25519), testType, testPayload)
	if _, err := dsse.Decode(data, len(data)); err != nil {
		t.Errorf("Decode at exactly the limit: %v", err)
	}
	for _, limit := range []int{len(data) - 1, 0, -1} {
		if _, err := dsse.Decode(data, limit); !errors.Is(err, dsse.ErrOversize) {
			t.Errorf("Decode with limit %d of %d bytes: got error %v, want ErrOversize", limit, len(data), err)
		}
	}
	// The limit applies before parsing, so garbage is also reported as oversize.
	if _, err := dsse.Decode(bytes.Repeat([]byte("{"), 100), 99); !errors.Is(err, dsse.ErrOversize) {
		t.Errorf("Decode of oversize garbage: got error %v, want ErrOversize", err)
	}
}

func TestVerify(t *testing.T) {
	t.Parallel()
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k := generate(t, alg)
			other := generate(t, alg)
			otherAlg := generate(t, sign.Ed25519)
			if alg == sign.Ed25519 {
				otherAlg = generate(t, sign.ECDSAP256)
			}
			e := decode(t, signEnvelope(t, k, testType, testPayload))

			for _, key := range []*sign.PrivateKey{other, otherAlg} {
				if err := e.Verify(key.Public()); !errors.Is(err, dsse.ErrKeyMismatch) {
					t.Errorf("Verify with another %s key: got error %v, want ErrKeyMismatch", key.Public().Algorithm(), err)
				}
			}

			// The right key id, but something else changed.
			otherSig := decode(t, signEnvelope(t, other, testType, testPayload)).Sig
			anotherTypeSig := decode(t, signEnvelope(t, k, testType+"x", testPayload)).Sig
			edits := []struct {
				name string
				edit func(e *dsse.Envelope)
			}{
				{"payload modified", func(e *dsse.Envelope) { e.Payload = append(bytes.Clone(e.Payload), '!') }},
				{"payload byte flipped", func(e *dsse.Envelope) { e.Payload = bytes.Clone(e.Payload); e.Payload[0] ^= 1 }},
				{"payloadType modified", func(e *dsse.Envelope) { e.PayloadType += "x" }},
				{"payloadType and payload shifted", func(e *dsse.Envelope) {
					// Same concatenation, different split: PAE must tell them apart.
					e.PayloadType, e.Payload = e.PayloadType+string(e.Payload[:1]), e.Payload[1:]
				}},
				{"signature by another key", func(e *dsse.Envelope) { e.Sig = otherSig }},
				{"signature under another payload type", func(e *dsse.Envelope) { e.Sig = anotherTypeSig }},
				{"signature truncated", func(e *dsse.Envelope) { e.Sig = e.Sig[:len(e.Sig)-1] }},
			}
			for _, tt := range edits {
				m := *e
				tt.edit(&m)
				if err := m.Verify(k.Public()); !errors.Is(err, sign.ErrBadSignature) {
					t.Errorf("%s: got error %v, want sign.ErrBadSignature", tt.name, err)
				}
			}
			if err := e.Verify(k.Public()); err != nil {
				t.Errorf("original envelope no longer verifies: %v", err)
			}
		})
	}
}

// decodeVerify reports whether data decodes and verifies under key, and at
// which step it failed.
func decodeVerify(data []byte, key *sign.PublicKey) (step string, err error) {
	e, err := dsse.Decode(data, maxSize)
	if err != nil {
		return "decode", err
	}
	return "verify", e.Verify(key)
}

// TestEveryMutationRejected checks, per STYLE.md rule 6, that every
// truncation and every single-byte change of a valid envelope fails Decode
// or Verify.
func TestEveryMutationRejected(t *testing.T) {
	t.Parallel()
	replacements := []byte{'"', '{', '}', '[', ']', ' ', ',', ':', '\\', '=', 'A', 'a', '0', '+', '/', 0x00, 0x7f, 0x80, 0xff}
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k := generate(t, alg)
			data := signEnvelope(t, k, testType, testPayload)
			if _, err := decodeVerify(data, k.Public()); err != nil {
				t.Fatalf("valid envelope rejected: %v", err)
			}
			var tried, atVerify int
			check := func(what string, m []byte) {
				tried++
				step, err := decodeVerify(m, k.Public())
				if err == nil {
					t.Errorf("%s accepted: %q", what, m)
				} else if step == "verify" {
					atVerify++
				}
			}
			for i := range data {
				check(fmt.Sprintf("truncation to %d bytes", i), data[:i])
			}
			m := bytes.Clone(data)
			for i, orig := range data {
				for _, b := range append([]byte{orig ^ 0x01, orig ^ 0x80}, replacements...) {
					if b == orig {
						continue
					}
					m[i] = b
					check(fmt.Sprintf("byte %d changed from %q to %q", i, orig, b), m)
				}
				m[i] = orig
			}
			t.Logf("%d-byte envelope: %d mutations rejected, %d of them by Verify", len(data), tried, atVerify)
		})
	}
}

func TestEncodeEmptyEnvelope(t *testing.T) {
	t.Parallel()
	// Encode writes what it is given; Decode is where rules are enforced.
	data, err := dsse.Encode(&dsse.Envelope{})
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	if want := `{"payloadType":"","payload":"","signatures":[{"keyid":"","sig":""}]}`; string(data) != want {
		t.Errorf("Encode(&Envelope{}) = %s, want %s", data, want)
	}
	if _, err := dsse.Decode(data, maxSize); !errors.Is(err, dsse.ErrMalformed) {
		t.Errorf("Decode of the empty envelope: got error %v, want ErrMalformed", err)
	}
}

func FuzzDecode(f *testing.F) {
	var keys []*sign.PublicKey
	for _, alg := range algorithms {
		k := generate(f, alg)
		keys = append(keys, k.Public())
		for _, payload := range [][]byte{testPayload, []byte("x"), []byte(`{"a":[1,2,3]}`)} {
			data := signEnvelope(f, k, testType, payload)
			f.Add(data)
			f.Add(data[:len(data)/2])
		}
	}
	f.Add([]byte(`{"payloadType":"t","payload":"eA==","signatures":[{"keyid":"` + strings.Repeat("0", 64) + `","sig":"eA=="}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := dsse.Decode(data, maxSize)
		if err != nil {
			return
		}
		for _, k := range keys {
			_ = e.Verify(k) // must not panic
		}
		enc, err := dsse.Encode(e)
		if err != nil {
			t.Fatalf("Encode of a decoded envelope: %v", err)
		}
		e2, err := dsse.Decode(enc, maxSize)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))) = %v", data, err)
		}
		if e2.PayloadType != e.PayloadType || !bytes.Equal(e2.Payload, e.Payload) || e2.KeyID != e.KeyID || !bytes.Equal(e2.Sig, e.Sig) {
			t.Fatalf("decode→encode→decode changed the envelope:\n got %+v\nwant %+v", e2, e)
		}
		enc2, err := dsse.Encode(e2)
		if err != nil {
			t.Fatalf("second Encode: %v", err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("Encode is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

func ExamplePAE() {
	fmt.Printf("%s\n", dsse.PAE("http://example.com/HelloWorld", []byte("hello world")))
	// Output: DSSEv1 29 http://example.com/HelloWorld 11 hello world
}
