// Package sign holds Docket's signing keys: Ed25519 and ECDSA P-256 keys in
// PEM, signing and verification through sigstore's signature package, and
// key ids.
//
// A key id is the lowercase hex SHA-256 of the key's DER-encoded
// SubjectPublicKeyInfo. Only Ed25519 and ECDSA P-256 (with SHA-256) keys are
// accepted; anything else is rejected with ErrUnsupportedKey.
package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	"golang.org/x/crypto/cryptobyte"
	"golang.org/x/crypto/cryptobyte/asn1"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// Algorithm names a signing algorithm Docket accepts.
type Algorithm string

// The accepted algorithms.
const (
	Ed25519   Algorithm = "ed25519"
	ECDSAP256 Algorithm = "ecdsa-p256"
)

// ErrUnsupportedKey is returned for keys of any other type or curve.
var ErrUnsupportedKey = errors.New("unsupported key: only ed25519 and ecdsa-p256 are accepted")

// ErrBadSignature is returned when a signature does not verify.
var ErrBadSignature = errors.New("signature does not verify")

// KeyID identifies a public key: lowercase hex SHA-256 of its DER
// SubjectPublicKeyInfo (64 characters).
type KeyID string

// Valid reports whether id is 64 lowercase hex characters.
func (id KeyID) Valid() bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// PublicKey is a parsed, accepted verification key.
type PublicKey struct {
	key      crypto.PublicKey
	der      []byte
	id       KeyID
	alg      Algorithm
	verifier signature.Verifier
}

// PrivateKey is a signing key together with its public half.
type PrivateKey struct {
	key    crypto.PrivateKey
	signer signature.Signer
	public *PublicKey
}

// Generate makes a new private key for alg.
func Generate(alg Algorithm) (*PrivateKey, error) {
	var priv crypto.PrivateKey
	switch alg {
	case Ed25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("failed to generate ed25519 key: %w", err)
		}
		priv = k
	case ECDSAP256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("failed to generate ecdsa key: %w", err)
		}
		priv = k
	default:
		return nil, fmt.Errorf("%w: algorithm %q", ErrUnsupportedKey, alg)
	}
	return NewPrivateKey(priv)
}

// NewPrivateKey wraps an ed25519.PrivateKey or a P-256 *ecdsa.PrivateKey.
func NewPrivateKey(priv crypto.PrivateKey) (*PrivateKey, error) {
	var pub crypto.PublicKey
	switch k := priv.(type) {
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: ed25519 private key of %d bytes", ErrUnsupportedKey, len(k))
		}
		pub = k.Public()
	case *ecdsa.PrivateKey:
		pub = k.Public()
	default:
		return nil, fmt.Errorf("%w: private key of type %T", ErrUnsupportedKey, priv)
	}
	public, err := NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	signer, err := signature.LoadSigner(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("failed to load signer: %w", err)
	}
	return &PrivateKey{key: priv, signer: signer, public: public}, nil
}

// NewPublicKey wraps an ed25519.PublicKey or a P-256 *ecdsa.PublicKey.
func NewPublicKey(pub crypto.PublicKey) (*PublicKey, error) {
	var alg Algorithm
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: ed25519 key of %d bytes", ErrUnsupportedKey, len(k))
		}
		alg = Ed25519
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("%w: ecdsa curve %s", ErrUnsupportedKey, k.Curve.Params().Name)
		}
		alg = ECDSAP256
	default:
		return nil, fmt.Errorf("%w: public key of type %T", ErrUnsupportedKey, pub)
	}
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return nil, fmt.Errorf("failed to marshal public key: %w", err)
	}
	verifier, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("failed to load verifier: %w", err)
	}
	sum := sha256.Sum256(der)
	return &PublicKey{key: pub, der: der, id: KeyID(hex.EncodeToString(sum[:])), alg: alg, verifier: verifier}, nil
}

// ParsePublicKeyDER parses a DER SubjectPublicKeyInfo. The encoding must be
// canonical: re-encoding the parsed key must give the same bytes, so that a
// key has exactly one id.
func ParsePublicKeyDER(der []byte) (*PublicKey, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("failed to parse public key: %w", err)
	}
	k, err := NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(k.der, der) {
		return nil, fmt.Errorf("failed to parse public key: non-canonical encoding")
	}
	return k, nil
}

// ParsePublicKeyPEM parses a PEM "PUBLIC KEY" block.
func ParsePublicKeyPEM(data []byte) (*PublicKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("failed to parse public key PEM: %w", err)
	}
	return NewPublicKey(pub)
}

// ParsePrivateKeyPEM parses an unencrypted PKCS#8 "PRIVATE KEY" PEM block.
func ParsePrivateKeyPEM(data []byte) (*PrivateKey, error) {
	priv, err := cryptoutils.UnmarshalPEMToPrivateKey(data, cryptoutils.SkipPassword)
	if err != nil {
		return nil, fmt.Errorf("failed to parse private key PEM: %w", err)
	}
	return NewPrivateKey(priv)
}

// MarshalPEM encodes the key as a PKCS#8 "PRIVATE KEY" PEM block.
func (k *PrivateKey) MarshalPEM() ([]byte, error) {
	out, err := cryptoutils.MarshalPrivateKeyToPEM(k.key)
	if err != nil {
		return nil, fmt.Errorf("failed to marshal private key: %w", err)
	}
	return out, nil
}

// Public returns the public half.
func (k *PrivateKey) Public() *PublicKey { return k.public }

// Sign signs msg: Ed25519 over msg itself, ECDSA P-256 over its SHA-256 (ASN.1
// DER signature).
func (k *PrivateKey) Sign(msg []byte) ([]byte, error) {
	sig, err := k.signer.SignMessage(bytes.NewReader(msg))
	if err != nil {
		return nil, fmt.Errorf("failed to sign: %w", err)
	}
	return sig, nil
}

// ID returns the key id.
func (k *PublicKey) ID() KeyID { return k.id }

// Algorithm returns the key's algorithm.
func (k *PublicKey) Algorithm() Algorithm { return k.alg }

// DER returns the DER SubjectPublicKeyInfo. The caller must not modify it.
func (k *PublicKey) DER() []byte { return k.der }

// CryptoPublicKey returns the underlying standard library key.
func (k *PublicKey) CryptoPublicKey() crypto.PublicKey { return k.key }

// MarshalPEM encodes the key as a "PUBLIC KEY" PEM block.
func (k *PublicKey) MarshalPEM() ([]byte, error) {
	out, err := cryptoutils.MarshalPublicKeyToPEM(k.key)
	if err != nil {
		return nil, fmt.Errorf("failed to marshal public key: %w", err)
	}
	return out, nil
}

// Equal reports whether k and other are the same key.
func (k *PublicKey) Equal(other *PublicKey) bool {
	return other != nil && k.id == other.id
}

// Verify checks sig over msg. It returns an error wrapping ErrBadSignature if
// the signature does not verify. ECDSA signatures must be ASN.1 DER; the raw
// r||s form that sigstore would also take is refused, so that a signature
// has one encoding.
func (k *PublicKey) Verify(msg, sig []byte) error {
	if k.alg == ECDSAP256 && !isDERSignature(sig) {
		return fmt.Errorf("%w: ecdsa signature is not ASN.1 DER", ErrBadSignature)
	}
	if err := k.verifier.VerifySignature(bytes.NewReader(sig), bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("%w: %w", ErrBadSignature, err)
	}
	return nil
}

// isDERSignature reports whether sig is exactly one DER SEQUENCE of two
// minimally encoded INTEGERs.
func isDERSignature(sig []byte) bool {
	var inner cryptobyte.String
	var r, s big.Int
	input := cryptobyte.String(sig)
	return input.ReadASN1(&inner, asn1.SEQUENCE) && input.Empty() &&
		inner.ReadASN1Integer(&r) && inner.ReadASN1Integer(&s) && inner.Empty()
}
