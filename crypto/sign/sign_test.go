package sign_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/docket-project/docket/crypto/sign"
)

var algorithms = []sign.Algorithm{sign.Ed25519, sign.ECDSAP256}

func generate(t testing.TB, alg sign.Algorithm) *sign.PrivateKey {
	t.Helper()
	k, err := sign.Generate(alg)
	if err != nil {
		t.Fatalf("Generate(%s): %v", alg, err)
	}
	return k
}

func signMsg(t testing.TB, k *sign.PrivateKey, msg []byte) []byte {
	t.Helper()
	sig, err := k.Sign(msg)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return sig
}

// pemBlock encodes der as a PEM block of the given type.
func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k := generate(t, alg)
			pub := k.Public()
			if pub.Algorithm() != alg {
				t.Errorf("Algorithm() = %q, want %q", pub.Algorithm(), alg)
			}
			if !pub.ID().Valid() {
				t.Errorf("ID() = %q is not a valid key id", pub.ID())
			}

			privPEM, err := k.MarshalPEM()
			if err != nil {
				t.Fatalf("PrivateKey.MarshalPEM: %v", err)
			}
			if !bytes.HasPrefix(privPEM, []byte("-----BEGIN PRIVATE KEY-----\n")) {
				t.Errorf("private key PEM is not a PKCS#8 PRIVATE KEY block:\n%s", privPEM)
			}
			k2, err := sign.ParsePrivateKeyPEM(privPEM)
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			if k2.Public().ID() != pub.ID() || !k2.Public().Equal(pub) {
				t.Errorf("private PEM round trip changed key id: %s, want %s", k2.Public().ID(), pub.ID())
			}
			if k2.Public().Algorithm() != alg {
				t.Errorf("parsed private key has algorithm %q, want %q", k2.Public().Algorithm(), alg)
			}

			pubPEM, err := pub.MarshalPEM()
			if err != nil {
				t.Fatalf("PublicKey.MarshalPEM: %v", err)
			}
			if !bytes.HasPrefix(pubPEM, []byte("-----BEGIN PUBLIC KEY-----\n")) {
				t.Errorf("public key PEM is not a PUBLIC KEY block:\n%s", pubPEM)
			}
			pub2, err := sign.ParsePublicKeyPEM(pubPEM)
			if err != nil {
				t.Fatalf("ParsePublicKeyPEM: %v", err)
			}
			if !pub2.Equal(pub) || pub2.ID() != pub.ID() {
				t.Errorf("public PEM round trip changed key id: %s, want %s", pub2.ID(), pub.ID())
			}

			pub3, err := sign.ParsePublicKeyDER(pub.DER())
			if err != nil {
				t.Fatalf("ParsePublicKeyDER: %v", err)
			}
			if !pub3.Equal(pub) {
				t.Errorf("DER round trip changed key id: %s, want %s", pub3.ID(), pub.ID())
			}

			msg := []byte("docket round trip message")
			for _, signer := range []*sign.PrivateKey{k, k2} {
				sig := signMsg(t, signer, msg)
				for _, verifier := range []*sign.PublicKey{pub, pub2, pub3} {
					if err := verifier.Verify(msg, sig); err != nil {
						t.Errorf("Verify: %v", err)
					}
				}
			}
		})
	}
}

// TestSignatureFormat checks the documented signature formats with the
// standard library alone: Ed25519 over the message itself, ECDSA P-256 as
// ASN.1 DER over the message's SHA-256.
func TestSignatureFormat(t *testing.T) {
	t.Parallel()
	msg := []byte("docket signature format")
	digest := sha256.Sum256(msg)
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k := generate(t, alg)
			sig := signMsg(t, k, msg)
			var ok bool
			switch pub := k.Public().CryptoPublicKey().(type) {
			case ed25519.PublicKey:
				ok = ed25519.Verify(pub, msg, sig)
			case *ecdsa.PublicKey:
				ok = ecdsa.VerifyASN1(pub, digest[:], sig)
			default:
				t.Fatalf("CryptoPublicKey() has type %T", pub)
			}
			if !ok {
				t.Errorf("standard library rejects the %s signature %x", alg, sig)
			}
		})
	}
}

// TestKeyID recomputes key ids independently of the package.
func TestKeyID(t *testing.T) {
	t.Parallel()
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			pub := generate(t, alg).Public()
			der, err := x509.MarshalPKIXPublicKey(pub.CryptoPublicKey())
			if err != nil {
				t.Fatalf("x509.MarshalPKIXPublicKey: %v", err)
			}
			sum := sha256.Sum256(der)
			if want := sign.KeyID(hex.EncodeToString(sum[:])); pub.ID() != want {
				t.Errorf("ID() = %s, want %s", pub.ID(), want)
			}
			if !bytes.Equal(pub.DER(), der) {
				t.Errorf("DER() = %x, want %x", pub.DER(), der)
			}
		})
	}
}

// TestKeyIDKnownAnswer checks the key id of the RFC 8032 §7.1 TEST 1 key,
// whose SubjectPublicKeyInfo is built here by hand (RFC 8410 §4).
func TestKeyIDKnownAnswer(t *testing.T) {
	t.Parallel()
	seed, _ := hex.DecodeString("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
	wantPub, _ := hex.DecodeString("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
	k, err := sign.NewPrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatalf("NewPrivateKey: %v", err)
	}
	if got := k.Public().CryptoPublicKey().(ed25519.PublicKey); !bytes.Equal(got, wantPub) {
		t.Fatalf("public key = %x, want %x", []byte(got), wantPub)
	}
	spki := append([]byte{0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00}, wantPub...)
	sum := sha256.Sum256(spki)
	if want := sign.KeyID(hex.EncodeToString(sum[:])); k.Public().ID() != want {
		t.Errorf("ID() = %s, want %s", k.Public().ID(), want)
	}
}

func TestUnsupportedKeys(t *testing.T) {
	t.Parallel()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edPub := edPriv.Public().(ed25519.PublicKey)

	pkix := func(pub any) []byte {
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	pkcs8 := func(priv any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}

	tests := []struct {
		name string
		try  func() error
	}{
		{"Generate rsa", func() error { _, err := sign.Generate("rsa"); return err }},
		{"Generate empty", func() error { _, err := sign.Generate(""); return err }},
		{"NewPrivateKey rsa", func() error { _, err := sign.NewPrivateKey(rsaKey); return err }},
		{"NewPrivateKey p384", func() error { _, err := sign.NewPrivateKey(p384); return err }},
		{"NewPrivateKey ed25519 of 63 bytes", func() error { _, err := sign.NewPrivateKey(edPriv[:63]); return err }},
		{"NewPrivateKey ed25519 of 32 bytes", func() error { _, err := sign.NewPrivateKey(edPriv[:32]); return err }},
		{"NewPrivateKey ed25519 of 16 bytes", func() error { _, err := sign.NewPrivateKey(edPriv[:16]); return err }},
		{"NewPrivateKey ed25519 pointer", func() error { _, err := sign.NewPrivateKey(&edPriv); return err }},
		{"NewPrivateKey nil", func() error { _, err := sign.NewPrivateKey(nil); return err }},
		{"NewPublicKey rsa", func() error { _, err := sign.NewPublicKey(&rsaKey.PublicKey); return err }},
		{"NewPublicKey p384", func() error { _, err := sign.NewPublicKey(&p384.PublicKey); return err }},
		{"NewPublicKey ed25519 of 31 bytes", func() error { _, err := sign.NewPublicKey(edPub[:31]); return err }},
		{"NewPublicKey ed25519 of 33 bytes", func() error {
			_, err := sign.NewPublicKey(ed25519.PublicKey(append(bytes.Clone(edPub), 0)))
			return err
		}},
		{"NewPublicKey ed25519 empty", func() error { _, err := sign.NewPublicKey(ed25519.PublicKey{}); return err }},
		{"NewPublicKey ed25519 private key", func() error { _, err := sign.NewPublicKey(edPriv); return err }},
		{"NewPublicKey nil", func() error { _, err := sign.NewPublicKey(nil); return err }},
		{"ParsePublicKeyDER rsa", func() error { _, err := sign.ParsePublicKeyDER(pkix(&rsaKey.PublicKey)); return err }},
		{"ParsePublicKeyDER p384", func() error { _, err := sign.ParsePublicKeyDER(pkix(&p384.PublicKey)); return err }},
		{"ParsePublicKeyPEM rsa", func() error {
			_, err := sign.ParsePublicKeyPEM(pemBlock("PUBLIC KEY", pkix(&rsaKey.PublicKey)))
			return err
		}},
		{"ParsePublicKeyPEM p384", func() error {
			_, err := sign.ParsePublicKeyPEM(pemBlock("PUBLIC KEY", pkix(&p384.PublicKey)))
			return err
		}},
		{"ParsePrivateKeyPEM rsa", func() error {
			_, err := sign.ParsePrivateKeyPEM(pemBlock("PRIVATE KEY", pkcs8(rsaKey)))
			return err
		}},
		{"ParsePrivateKeyPEM p384", func() error {
			_, err := sign.ParsePrivateKeyPEM(pemBlock("PRIVATE KEY", pkcs8(p384)))
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.try(); !errors.Is(err, sign.ErrUnsupportedKey) {
				t.Errorf("got error %v, want one wrapping ErrUnsupportedKey", err)
			}
		})
	}
}

// TestInvalidKeys checks that malformed keys of an accepted type are
// rejected, with any error.
func TestInvalidKeys(t *testing.T) {
	t.Parallel()
	offCurve := &ecdsa.PublicKey{Curve: elliptic.P256(), X: big.NewInt(1), Y: big.NewInt(1)}
	tests := []struct {
		name string
		try  func() error
	}{
		{"NewPublicKey off-curve p256 point", func() error { _, err := sign.NewPublicKey(offCurve); return err }},
		{"ParsePublicKeyPEM empty", func() error { _, err := sign.ParsePublicKeyPEM(nil); return err }},
		{"ParsePublicKeyPEM garbage", func() error { _, err := sign.ParsePublicKeyPEM([]byte("not a key")); return err }},
		{"ParsePrivateKeyPEM empty", func() error { _, err := sign.ParsePrivateKeyPEM(nil); return err }},
		{"ParsePrivateKeyPEM public key", func() error {
			pubPEM, err := generate(t, sign.Ed25519).Public().MarshalPEM()
			if err != nil {
				t.Fatal(err)
			}
			_, err = sign.ParsePrivateKeyPEM(pubPEM)
			return err
		}},
		{"ParsePrivateKeyPEM encrypted", func() error {
			block := pemBlock("ENCRYPTED PRIVATE KEY", []byte{0x30, 0x00})
			_, err := sign.ParsePrivateKeyPEM(block)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if err := tt.try(); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestBadSignature(t *testing.T) {
	t.Parallel()
	msg := []byte("docket message")
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			k := generate(t, alg)
			other := generate(t, alg)
			sig := signMsg(t, k, msg)

			type attempt struct {
				name     string
				msg, sig []byte
			}
			attempts := []attempt{
				{"another message", []byte("docket message!"), sig},
				{"empty message", nil, sig},
				{"signature by another key", msg, signMsg(t, other, msg)},
				{"signature over another message", msg, signMsg(t, k, []byte("another"))},
				{"empty signature", msg, nil},
				{"truncated signature", msg, sig[:len(sig)-1]},
				{"extended signature", msg, append(bytes.Clone(sig), 0)},
			}
			for i := range sig {
				flipped := bytes.Clone(sig)
				flipped[i] ^= 0x01
				attempts = append(attempts, attempt{fmt.Sprintf("signature byte %d flipped", i), msg, flipped})
			}
			for _, a := range attempts {
				if err := k.Public().Verify(a.msg, a.sig); !errors.Is(err, sign.ErrBadSignature) {
					t.Errorf("%s: got error %v, want one wrapping ErrBadSignature", a.name, err)
				}
			}
		})
	}
}

// TestParsePublicKeyDERStrict checks that only the canonical DER encoding of
// a key is accepted, so that a key has exactly one id.
func TestParsePublicKeyDERStrict(t *testing.T) {
	t.Parallel()
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			t.Parallel()
			der := generate(t, alg).Public().DER()
			var spki struct {
				Algorithm asn1.RawValue
				Key       asn1.RawValue
			}
			if rest, err := asn1.Unmarshal(der, &spki); err != nil || len(rest) != 0 {
				t.Fatalf("failed to split SubjectPublicKeyInfo: %v", err)
			}
			var algID []asn1.RawValue // the AlgorithmIdentifier's elements
			if _, err := asn1.Unmarshal(spki.Algorithm.FullBytes, &algID); err != nil {
				t.Fatalf("failed to split AlgorithmIdentifier: %v", err)
			}
			null := []byte{0x05, 0x00}

			tests := []struct {
				name string
				der  []byte
				// x509Accepts says the standard library parser takes the
				// encoding, so that only the canonical check rejects it.
				x509Accepts bool
			}{
				{"trailing zero byte", append(bytes.Clone(der), 0), false},
				{"trailing SEQUENCE", append(bytes.Clone(der), 0x30, 0x00), false},
				{"extra element in SubjectPublicKeyInfo", seq(spki.Algorithm.FullBytes, spki.Key.FullBytes, null), true},
				{"non-minimal length", longFormSeq(spki.Algorithm.FullBytes, spki.Key.FullBytes), false},
				{"indefinite length", append(append([]byte{0x30, 0x80}, der[2:]...), 0, 0), false},
				{"truncated", der[:len(der)-1], false},
				{"empty", nil, false},
			}
			if alg == sign.ECDSAP256 {
				extraAlg := seq(algID[0].FullBytes, algID[1].FullBytes, null)
				tests = append(tests, struct {
					name        string
					der         []byte
					x509Accepts bool
				}{"extra element in AlgorithmIdentifier", seq(extraAlg, spki.Key.FullBytes), true})
			} else {
				withNull := seq(algID[0].FullBytes, null)
				tests = append(tests, struct {
					name        string
					der         []byte
					x509Accepts bool
				}{"NULL parameters", seq(withNull, spki.Key.FullBytes), false})
			}

			for _, tt := range tests {
				if _, err := x509.ParsePKIXPublicKey(tt.der); (err == nil) != tt.x509Accepts {
					t.Errorf("%s: x509.ParsePKIXPublicKey error %v, test expects it to accept: %v", tt.name, err, tt.x509Accepts)
				}
				if k, err := sign.ParsePublicKeyDER(tt.der); err == nil {
					t.Errorf("%s: ParsePublicKeyDER(%x) accepted, key id %s", tt.name, tt.der, k.ID())
				}
			}
		})
	}
}

// seq returns a DER SEQUENCE of the given encoded elements (short-form
// length only).
func seq(elems ...[]byte) []byte {
	content := bytes.Join(elems, nil)
	if len(content) > 127 {
		panic("seq: content too long for short-form length")
	}
	return append([]byte{0x30, byte(len(content))}, content...)
}

// longFormSeq is seq with a needless long-form length, which DER forbids.
func longFormSeq(elems ...[]byte) []byte {
	content := bytes.Join(elems, nil)
	return append([]byte{0x30, 0x81, byte(len(content))}, content...)
}

func TestKeyIDValid(t *testing.T) {
	t.Parallel()
	valid := strings.Repeat("0123456789abcdef", 4)
	tests := []struct {
		id   string
		want bool
	}{
		{valid, true},
		{strings.Repeat("0", 64), true},
		{strings.Repeat("f", 64), true},
		{"", false},
		{valid[:63], false},
		{valid + "0", false},
		{strings.ToUpper(valid), false},
		{valid[:63] + "A", false},
		{valid[:63] + "g", false},
		{valid[:63] + " ", false},
		{" " + valid[:63], false},
		{valid[:63] + "\x00", false},
		{valid[:62] + "é", false}, // 64 bytes, 63 characters
		{strings.Repeat("0", 32), false},
	}
	for _, tt := range tests {
		if got := sign.KeyID(tt.id).Valid(); got != tt.want {
			t.Errorf("KeyID(%q).Valid() = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func ExamplePublicKey_Verify() {
	key, err := sign.Generate(sign.Ed25519)
	if err != nil {
		panic(err)
	}
	msg := []byte("hello, docket")
	sig, err := key.Sign(msg)
	if err != nil {
		panic(err)
	}
	fmt.Println("key id length:", len(key.Public().ID()))
	fmt.Println("verified:", key.Public().Verify(msg, sig) == nil)
	err = key.Public().Verify([]byte("hello, world"), sig)
	fmt.Println("other message rejected:", errors.Is(err, sign.ErrBadSignature))
	// Output:
	// key id length: 64
	// verified: true
	// other message rejected: true
}
