// Package dsse implements Dead Simple Signing Envelopes
// (https://github.com/secure-systems-lab/dsse, protocol v1) the way Docket
// uses them: exactly one signature, standard padded base64, strict JSON.
//
// The signed bytes are the pre-authentication encoding
//
//	PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
//
// where LEN is the ASCII decimal byte length and SP one space, so a payload
// can never be read as another type's payload.
//
// An envelope is JSON:
//
//	{"payloadType":"application/vnd.docket.assertion.v1+json",
//	 "payload":"<base64>",
//	 "signatures":[{"keyid":"<64 hex>","sig":"<base64>"}]}
//
// Decode rejects unknown and duplicate members, trailing data, invalid UTF-8,
// non-canonical base64 and envelopes larger than the caller's limit.
package dsse

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json"

	"github.com/docket-project/docket/crypto/sign"
)

// Errors callers branch on. Strict-JSON failures are also reported through
// json.ErrUnknownName and jsontext.ErrDuplicateName, wrapped.
var (
	ErrOversize       = errors.New("envelope larger than the limit")
	ErrMalformed      = errors.New("malformed envelope")
	ErrSignatureCount = errors.New("envelope must carry exactly one signature")
	ErrKeyMismatch    = errors.New("envelope signed by another key")
)

// Envelope is a decoded DSSE envelope.
type Envelope struct {
	PayloadType string
	Payload     []byte
	KeyID       sign.KeyID
	Sig         []byte
}

type wireSignature struct {
	KeyID string      `json:"keyid"`
	Sig   base64Bytes `json:"sig"`
}

type wireEnvelope struct {
	PayloadType string          `json:"payloadType"`
	Payload     base64Bytes     `json:"payload"`
	Signatures  []wireSignature `json:"signatures"`
}

var b64 = base64.StdEncoding.Strict()

// base64Bytes is carried as canonical standard base64: the strict decoder
// rejects missing padding and non-zero padding bits, and line breaks (which
// it would skip) are rejected first. Decoding goes straight from the JSON
// text to bytes, without an intermediate string.
type base64Bytes []byte

func (b base64Bytes) MarshalText() ([]byte, error) {
	return b64.AppendEncode(nil, b), nil
}

func (b *base64Bytes) UnmarshalText(text []byte) error {
	if bytes.ContainsAny(text, "\r\n") {
		return errors.New("non-canonical base64: line breaks")
	}
	out, err := b64.AppendDecode(nil, text)
	if err != nil {
		return fmt.Errorf("invalid base64: %w", err)
	}
	*b = out
	return nil
}

// PAE returns the pre-authentication encoding of payloadType and payload.
func PAE(payloadType string, payload []byte) []byte {
	out := make([]byte, 0, len("DSSEv1")+len(payloadType)+len(payload)+48)
	out = append(out, "DSSEv1 "...)
	out = strconv.AppendInt(out, int64(len(payloadType)), 10)
	out = append(out, ' ')
	out = append(out, payloadType...)
	out = append(out, ' ')
	out = strconv.AppendInt(out, int64(len(payload)), 10)
	out = append(out, ' ')
	return append(out, payload...)
}

// Sign signs payload under payloadType with key and returns the envelope's
// compact JSON encoding.
func Sign(key *sign.PrivateKey, payloadType string, payload []byte) ([]byte, error) {
	sig, err := key.Sign(PAE(payloadType, payload))
	if err != nil {
		return nil, err
	}
	return Encode(&Envelope{PayloadType: payloadType, Payload: payload, KeyID: key.Public().ID(), Sig: sig})
}

// Encode returns the compact JSON encoding of e.
func Encode(e *Envelope) ([]byte, error) {
	w := wireEnvelope{
		PayloadType: e.PayloadType,
		Payload:     e.Payload,
		Signatures:  []wireSignature{{KeyID: string(e.KeyID), Sig: e.Sig}},
	}
	out, err := json.Marshal(&w, json.Deterministic(true))
	if err != nil {
		return nil, fmt.Errorf("failed to encode envelope: %w", err)
	}
	return out, nil
}

// Decode parses an envelope of at most maxSize bytes. It does not verify the
// signature.
func Decode(data []byte, maxSize int) (*Envelope, error) {
	if len(data) > maxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrOversize, len(data), maxSize)
	}
	var w wireEnvelope
	if err := json.Unmarshal(data, &w, json.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if w.PayloadType == "" {
		return nil, fmt.Errorf("%w: missing payloadType", ErrMalformed)
	}
	if len(w.Signatures) != 1 {
		return nil, fmt.Errorf("%w: found %d", ErrSignatureCount, len(w.Signatures))
	}
	payload, sig := []byte(w.Payload), []byte(w.Signatures[0].Sig)
	keyID := sign.KeyID(w.Signatures[0].KeyID)
	if !keyID.Valid() {
		return nil, fmt.Errorf("%w: keyid %q is not 64 lowercase hex characters", ErrMalformed, keyID)
	}
	if len(payload) == 0 || len(sig) == 0 {
		return nil, fmt.Errorf("%w: empty payload or signature", ErrMalformed)
	}
	return &Envelope{PayloadType: w.PayloadType, Payload: payload, KeyID: keyID, Sig: sig}, nil
}

// Verify checks that e is signed by key. It returns an error wrapping
// ErrKeyMismatch if the envelope names another key id, and one wrapping
// sign.ErrBadSignature if the signature does not verify.
func (e *Envelope) Verify(key *sign.PublicKey) error {
	if e.KeyID != key.ID() {
		return fmt.Errorf("%w: envelope names %s, expected %s", ErrKeyMismatch, e.KeyID, key.ID())
	}
	return key.Verify(PAE(e.PayloadType, e.Payload), e.Sig)
}
