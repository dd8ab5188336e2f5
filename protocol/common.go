package protocol

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/sign"
)

// Payload types: one per object and version (spec/SPEC.md §3).
const (
	CredentialType   = "application/vnd.docket.credential.v1+json"
	AssertionType    = "application/vnd.docket.assertion.v1+json"
	RevocationType   = "application/vnd.docket.revocation.v1+json"
	AnnouncementType = "application/vnd.docket.announcement.v1+json"
	ReceiptType      = "application/vnd.docket.receipt.v1+json"
)

// ID identifies a signed object: lowercase hex SHA-256 of its envelope's
// payload.
type ID string

// IDOf returns the id of a payload.
func IDOf(payload []byte) ID {
	sum := sha256.Sum256(payload)
	return ID(hex.EncodeToString(sum[:]))
}

// Valid reports whether id is 64 lowercase hex characters.
func (id ID) Valid() bool { return len(id) == 64 && isLowerHex(string(id)) }

// UnmarshalText validates an id while decoding.
func (id *ID) UnmarshalText(b []byte) error {
	if v := ID(b); v.Valid() {
		*id = v
		return nil
	}
	return errorf(CodeInvalidField, "id %q is not 64 lowercase hex characters", truncate(string(b)))
}

// Bytes is binary data carried as standard padded base64; decoding rejects
// any other encoding of the same bytes.
type Bytes []byte

var b64 = base64.StdEncoding.Strict()

// MarshalText encodes b as base64.
func (b Bytes) MarshalText() ([]byte, error) {
	out := make([]byte, b64.EncodedLen(len(b)))
	b64.Encode(out, b)
	return out, nil
}

// UnmarshalText decodes strict base64: padded, zero padding bits, no line
// breaks (which the standard decoder would skip).
func (b *Bytes) UnmarshalText(text []byte) error {
	if bytes.ContainsAny(text, "\r\n") {
		return errorf(CodeMalformed, "invalid base64: line breaks")
	}
	out := make([]byte, b64.DecodedLen(len(text)))
	n, err := b64.Decode(out, text)
	if err != nil {
		return wrapf(CodeMalformed, err, "invalid base64")
	}
	*b = out[:n]
	return nil
}

// Window is a closed time interval.
type Window struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
}

// Contains reports whether t lies in [Start, End].
func (w Window) Contains(t time.Time) bool { return !t.Before(w.Start) && !t.After(w.End) }

// openEnvelope decodes an envelope of at most maxSize bytes and checks its
// payload type.
func openEnvelope(data []byte, maxSize int, payloadType, what string) (*dsse.Envelope, error) {
	env, err := dsse.Decode(data, maxSize)
	if err != nil {
		return nil, classify(err, what+" envelope")
	}
	if env.PayloadType != payloadType {
		return nil, errorf(CodeUnknownPayloadType, "%s envelope has payload type %q, want %q", what, truncate(env.PayloadType), payloadType)
	}
	return env, nil
}

// object is a payload that can check its own fields.
type object interface{ Validate() error }

// decodeObject decodes an envelope of at most maxSize bytes with the given
// payload type, and its payload strictly into v, then validates v.
func decodeObject(data []byte, maxSize int, payloadType, what string, v object) (*dsse.Envelope, error) {
	env, err := openEnvelope(data, maxSize, payloadType, what)
	if err != nil {
		return nil, err
	}
	if err := decodeStrict(env.Payload, v, what); err != nil {
		return nil, err
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return env, nil
}

// signObject validates v and signs its encoding under payloadType. It
// returns the envelope and the object's id.
func signObject(key *sign.PrivateKey, payloadType string, v object) ([]byte, ID, error) {
	if err := v.Validate(); err != nil {
		return nil, "", err
	}
	payload, err := marshal(v)
	if err != nil {
		return nil, "", err
	}
	env, err := dsse.Sign(key, payloadType, payload)
	if err != nil {
		return nil, "", err
	}
	return env, IDOf(payload), nil
}

// checkName validates a short identifier: 1..MaxNameLength bytes of
// [a-z0-9._-], starting with a letter or digit.
func checkName(field, s string) error {
	if s == "" {
		return errorf(CodeMalformed, "%s is missing", field)
	}
	if len(s) > MaxNameLength {
		return errorf(CodeOversize, "%s is %d bytes, limit %d", field, len(s), MaxNameLength)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || (i > 0 && (c == '.' || c == '_' || c == '-'))
		if !ok {
			return errorf(CodeInvalidField, "%s %q: only a-z, 0-9, '.', '_', '-' allowed, starting with a letter or digit", field, truncate(s))
		}
	}
	return nil
}

// checkText validates free text: valid UTF-8 without control characters,
// at most limit bytes; empty allowed only if optional.
func checkText(field, s string, limit int, optional bool) error {
	if s == "" {
		if optional {
			return nil
		}
		return errorf(CodeMalformed, "%s is missing", field)
	}
	if len(s) > limit {
		return errorf(CodeOversize, "%s is %d bytes, limit %d", field, len(s), limit)
	}
	if !utf8.ValidString(s) {
		return errorf(CodeInvalidField, "%s is not valid UTF-8", field)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return errorf(CodeInvalidField, "%s contains a control character", field)
		}
	}
	return nil
}

// checkRegion validates an ISO 3166-1 alpha-2 code, optionally followed by
// an ISO 3166-2 subdivision ("DE", "DE-BY").
func checkRegion(s string) error {
	upper := func(c byte) bool { return 'A' <= c && c <= 'Z' }
	alnum := func(c byte) bool { return upper(c) || '0' <= c && c <= '9' }
	ok := len(s) >= 2 && upper(s[0]) && upper(s[1])
	if ok && len(s) > 2 {
		ok = len(s) >= 4 && len(s) <= 6 && s[2] == '-'
		for i := 3; ok && i < len(s); i++ {
			ok = alnum(s[i])
		}
	}
	if !ok {
		return errorf(CodeInvalidField, "region %q is not an ISO 3166 code such as \"DE\" or \"DE-BY\"", truncate(s))
	}
	return nil
}

// checkTime validates a required timestamp: present and in UTC.
func checkTime(field string, t time.Time) error {
	if t.IsZero() {
		return errorf(CodeMalformed, "%s is missing", field)
	}
	if _, off := t.Zone(); off != 0 {
		return errorf(CodeInvalidField, "%s must be in UTC", field)
	}
	return nil
}

// checkValidity validates a not_before/not_after pair.
func checkValidity(notBefore, notAfter time.Time) error {
	if err := checkTime("not_before", notBefore); err != nil {
		return err
	}
	if err := checkTime("not_after", notAfter); err != nil {
		return err
	}
	if !notAfter.After(notBefore) {
		return errorf(CodeInvalidField, "not_after %s is not after not_before %s", notAfter.Format(time.RFC3339), notBefore.Format(time.RFC3339))
	}
	return nil
}
