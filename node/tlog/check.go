package tlog

import (
	"encoding/json"
	"fmt"

	"github.com/docket-project/docket/protocol"
)

// Kind is the kind of signed object an entry holds.
type Kind string

// The kinds of entry. KindAuto asks Check to detect the kind.
const (
	KindAuto       Kind = ""
	KindCredential Kind = "credential"
	KindRevocation Kind = "revocation"
	KindAssertion  Kind = "assertion"
)

// MaxEntrySize is the largest entry the log accepts, in bytes. A
// c2sp.org/tlog-tiles entry bundle gives each entry's length in two bytes,
// so no tiled log can hold a longer entry; a valid object that is longer
// (an assertion bundle with large sealed sections) is rejected with
// protocol.CodeOversize.
const MaxEntrySize = 1<<16 - 1

// Check reports whether data is one well-formed Docket signed object of the
// given kind, or of any kind if kind is KindAuto, and returns its kind. It
// decodes data with protocol.DecodeCredential, DecodeRevocation or
// DecodeAssertion, so it checks structure and signature-independent
// validity only: it verifies no signature and judges no policy or trust.
//
// A rejection is an error for which protocol.CodeOf returns the code: the
// decoder's, protocol.CodeOversize for an entry longer than MaxEntrySize,
// or protocol.CodeUnknownPayloadType for an unknown kind or payload type.
// Check is pure: it does no I/O.
func Check(kind Kind, data []byte) (Kind, error) {
	if len(data) > MaxEntrySize {
		return kind, &protocol.Error{Code: protocol.CodeOversize,
			Msg: fmt.Sprintf("entry is %d bytes, more than the log's limit of %d", len(data), MaxEntrySize)}
	}
	var err error
	if kind == KindAuto {
		if kind, err = detect(data); err != nil {
			return kind, err
		}
	}
	switch kind {
	case KindCredential:
		_, err = protocol.DecodeCredential(data)
	case KindRevocation:
		_, err = protocol.DecodeRevocation(data)
	case KindAssertion:
		_, err = protocol.DecodeAssertion(data)
	default:
		return kind, &protocol.Error{Code: protocol.CodeUnknownPayloadType,
			Msg: fmt.Sprintf("unknown kind %q: use credential, revocation or assertion", kind)}
	}
	return kind, err
}

// detect tells the kind of an object from its members: a bundle has
// "envelope", an envelope has "payloadType". It is lenient on purpose: the
// decoder of the kind it returns applies the strict rules.
func detect(data []byte) (Kind, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return KindAuto, &protocol.Error{Code: protocol.CodeMalformed,
			Msg: "entry is not a JSON object", Err: err}
	}
	if _, ok := top["envelope"]; ok {
		return KindAssertion, nil
	}
	raw, ok := top["payloadType"]
	if !ok {
		return KindAuto, &protocol.Error{Code: protocol.CodeMalformed,
			Msg: "entry is neither an envelope (payloadType) nor an assertion bundle (envelope)"}
	}
	var typ string
	if err := json.Unmarshal(raw, &typ); err != nil {
		return KindAuto, &protocol.Error{Code: protocol.CodeMalformed, Msg: "payloadType is not a string", Err: err}
	}
	switch typ {
	case protocol.CredentialType:
		return KindCredential, nil
	case protocol.RevocationType:
		return KindRevocation, nil
	}
	// An assertion envelope travels in a bundle (SPEC §5.7), never alone.
	return KindAuto, &protocol.Error{Code: protocol.CodeUnknownPayloadType,
		Msg: fmt.Sprintf("payloadType %q is not a credential or revocation; an assertion is submitted as its bundle", typ)}
}
