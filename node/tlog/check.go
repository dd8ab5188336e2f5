package tlog

import (
	"bytes"
	"fmt"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/docket-project/docket/protocol"
)

// Kind is the kind of signed object an entry holds.
type Kind string

// The kinds of entry. KindAuto asks Check to detect the kind.
const (
	KindAuto         Kind = ""
	KindCredential   Kind = "credential"
	KindRevocation   Kind = "revocation"
	KindAssertion    Kind = "assertion"
	KindAnnouncement Kind = "announcement"
	KindReceipt      Kind = "receipt"
)

// MaxEntrySize is the largest entry of the log, in bytes: a
// c2sp.org/tlog-tiles entry bundle gives each entry's length in two bytes.
// A longer record is stored in part entries (see Part).
const MaxEntrySize = 1<<16 - 1

// MaxSubmissionSize is the largest submission the log reads, in bytes: the
// largest object the spec allows, an assertion bundle of
// protocol.MaxAssertionBundle bytes. Each kind has its own, lower or equal,
// limit (spec/SPEC.md §3.5).
const MaxSubmissionSize = protocol.MaxAssertionBundle

// Check reports whether data is one well-formed Docket signed object of the
// given kind, or of any kind if kind is KindAuto, and returns its kind. It
// decodes data with protocol.DecodeCredential, DecodeRevocation,
// DecodeAssertion, DecodeAnnouncement or DecodeReceipt, so it checks
// structure and signature-independent validity only: it verifies no
// signature and judges no policy or trust. A Log whose Config names
// registrars also verifies signatures before it appends (see Config); a
// client can check only what Check does without the log's state.
//
// A rejection is an error for which protocol.CodeOf returns the code: the
// decoder's (protocol.CodeOversize for an object over its kind's limit),
// protocol.CodeOversize for data longer than MaxSubmissionSize, or
// protocol.CodeUnknownPayloadType for an unknown kind or payload type.
// Check is pure: it does no I/O.
func Check(kind Kind, data []byte) (Kind, error) {
	d, err := decode(kind, data)
	return d.kind, err
}

// decoded is a submission that Check accepts, decoded: exactly one of the
// pointers is set, the one of its kind.
type decoded struct {
	kind         Kind
	data         []byte
	credential   *protocol.SignedCredential
	revocation   *protocol.SignedRevocation
	assertion    *protocol.SignedAssertion
	announcement *protocol.SignedAnnouncement
	receipt      *protocol.SignedReceipt
}

// decode is Check, keeping the decoded object.
func decode(kind Kind, data []byte) (decoded, error) {
	d := decoded{kind: kind, data: data}
	if len(data) > MaxSubmissionSize {
		return d, &protocol.Error{Code: protocol.CodeOversize,
			Msg: fmt.Sprintf("submission is %d bytes, more than the largest object the spec allows (%d)", len(data), MaxSubmissionSize)}
	}
	var err error
	if kind == KindAuto {
		if d.kind, err = detect(data); err != nil {
			return d, err
		}
	}
	switch d.kind {
	case KindCredential:
		d.credential, err = protocol.DecodeCredential(data)
	case KindRevocation:
		d.revocation, err = protocol.DecodeRevocation(data)
	case KindAssertion:
		d.assertion, err = protocol.DecodeAssertion(data)
	case KindAnnouncement:
		d.announcement, err = protocol.DecodeAnnouncement(data)
	case KindReceipt:
		d.receipt, err = protocol.DecodeReceipt(data)
	default:
		return d, &protocol.Error{Code: protocol.CodeUnknownPayloadType,
			Msg: fmt.Sprintf("unknown kind %q: use credential, revocation, assertion, announcement or receipt", d.kind)}
	}
	return d, err
}

// detect tells the kind of an object from its members: a bundle has
// "envelope", an envelope has "payloadType". It reads only as far as it
// needs and is lenient on purpose: the decoder of the kind it returns
// applies the strict rules, and reports their codes.
func detect(data []byte) (Kind, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return KindAuto, &protocol.Error{Code: protocol.CodeMalformed, Msg: "entry is not a JSON object", Err: err}
	}
	var typ *string
	for dec.PeekKind() == '"' {
		name, err := dec.ReadToken()
		if err != nil {
			break
		}
		switch name.String() {
		case "envelope":
			return KindAssertion, nil
		case "payloadType":
			// The last one, as encoding/json reads it: the strict decoder
			// then rejects a repeated member.
			v, err := dec.ReadToken()
			if err != nil || v.Kind() != '"' {
				return KindAuto, &protocol.Error{Code: protocol.CodeMalformed, Msg: "payloadType is not a string", Err: err}
			}
			s := v.String()
			typ = &s
			continue
		}
		if err := dec.SkipValue(); err != nil {
			break
		}
	}
	if typ != nil {
		return kindOf(*typ)
	}
	return KindAuto, &protocol.Error{Code: protocol.CodeMalformed,
		Msg: "entry is neither an envelope (payloadType) nor an assertion bundle (envelope)"}
}

// kindOf returns the kind of a standalone envelope's payload type.
func kindOf(payloadType string) (Kind, error) {
	switch payloadType {
	case protocol.CredentialType:
		return KindCredential, nil
	case protocol.RevocationType:
		return KindRevocation, nil
	case protocol.AnnouncementType:
		return KindAnnouncement, nil
	case protocol.ReceiptType:
		return KindReceipt, nil
	}
	// An assertion envelope travels in a bundle (SPEC §5.7), never alone.
	return KindAuto, &protocol.Error{Code: protocol.CodeUnknownPayloadType,
		Msg: fmt.Sprintf("payloadType %q is not a credential, revocation, announcement or receipt; an assertion is submitted as its bundle", payloadType)}
}
