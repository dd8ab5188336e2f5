package protocol

import (
	"errors"
	"fmt"
)

// Code is a stable error code from spec/SPEC.md §8. Codes never change
// meaning; new ones may be added.
type Code string

// The error codes. Each one's meaning is the sentence beside it; SPEC.md has
// the same table.
const (
	CodeMalformed              Code = "MALFORMED"                // not valid JSON, truncated, wrong types, bad base64, missing field
	CodeOversize               Code = "OVERSIZE"                 // a byte, count or length limit exceeded
	CodeUnknownField           Code = "UNKNOWN_FIELD"            // a JSON member the spec does not define
	CodeDuplicateKey           Code = "DUPLICATE_KEY"            // a JSON member given twice
	CodeUnknownPayloadType     Code = "UNKNOWN_PAYLOAD_TYPE"     // the envelope's payloadType is not the expected object and version
	CodeInvalidField           Code = "INVALID_FIELD"            // a field's value is outside its domain
	CodeBadContentID           Code = "BAD_CONTENT_ID"           // a content id is not btih:, btmh: or bt2file: in canonical form
	CodeBadSignature           Code = "BAD_SIGNATURE"            // the signature does not verify
	CodeWrongKey               Code = "WRONG_KEY"                // signed by a key other than the one that must sign
	CodeUntrustedRegistrar     Code = "UNTRUSTED_REGISTRAR"      // the chain's root is not issued by a trusted registrar
	CodeCredentialExpired      Code = "CREDENTIAL_EXPIRED"       // a credential of the chain is past not_after
	CodeCredentialNotYetValid  Code = "CREDENTIAL_NOT_YET_VALID" // a credential of the chain is before not_before
	CodeCredentialRevoked      Code = "CREDENTIAL_REVOKED"       // a credential of the chain is revoked
	CodeWorkNotCovered         Code = "WORK_NOT_COVERED"         // the content id is not among the credential's works
	CodeOutOfScope             Code = "OUT_OF_SCOPE"             // the ISP is outside the credential's scope
	CodeChainTooDeep           Code = "CHAIN_TOO_DEEP"           // more than one delegation
	CodeDelegationWider        Code = "DELEGATION_WIDER"         // a delegation grants more than its parent holds
	CodeChainBroken            Code = "CHAIN_BROKEN"             // links do not name each other, or the assertion names another credential
	CodeExpired                Code = "EXPIRED"                  // the assertion is past not_after
	CodeNotYetValid            Code = "NOT_YET_VALID"            // the assertion is before not_before
	CodeLifetimeTooLong        Code = "LIFETIME_TOO_LONG"        // not_after - not_before exceeds the verifier's maximum
	CodeReplayed               Code = "REPLAYED"                 // the assertion id was seen before
	CodeNoSection              Code = "NO_SECTION"               // the assertion has no sealed section for this ISP
	CodeSectionUnreadable      Code = "SECTION_UNREADABLE"       // the section does not open with this ISP's identity, or names another ISP
	CodeSectionMismatch        Code = "SECTION_MISMATCH"         // a sealed section does not match the size and digest the assertion signs
	CodeAddressNotGlobal       Code = "ADDRESS_NOT_GLOBAL"       // a peer address is not global unicast
	CodeEvidenceOutsideWindow  Code = "EVIDENCE_OUTSIDE_WINDOW"  // an evidence timestamp lies outside the observation window
	CodeEvidenceInvalid        Code = "EVIDENCE_INVALID"         // evidence inconsistent with its grade or the torrent
	CodeCommitmentMismatch     Code = "COMMITMENT_MISMATCH"      // the sealed peers do not hash to the public commitment root
	CodeCountMismatch          Code = "COUNT_MISMATCH"           // the sealed peers do not match the public counts
	CodeRevocationUnauthorized Code = "REVOCATION_UNAUTHORIZED"  // a revocation signed by a key that may not revoke that credential
	CodeUntrustedISP           Code = "UNTRUSTED_ISP"            // an announcement signed by a key that is not a trusted ISP key
)

// Codes lists every code, in the order of the spec's table.
var Codes = []Code{
	CodeMalformed, CodeOversize, CodeUnknownField, CodeDuplicateKey,
	CodeUnknownPayloadType, CodeInvalidField, CodeBadContentID,
	CodeBadSignature, CodeWrongKey, CodeUntrustedRegistrar,
	CodeCredentialExpired, CodeCredentialNotYetValid, CodeCredentialRevoked,
	CodeWorkNotCovered, CodeOutOfScope, CodeChainTooDeep,
	CodeDelegationWider, CodeChainBroken, CodeExpired, CodeNotYetValid,
	CodeLifetimeTooLong, CodeReplayed, CodeNoSection, CodeSectionUnreadable,
	CodeSectionMismatch,
	CodeAddressNotGlobal, CodeEvidenceOutsideWindow, CodeEvidenceInvalid,
	CodeCommitmentMismatch, CodeCountMismatch, CodeRevocationUnauthorized,
	CodeUntrustedISP,
}

// Error is a rejection: a stable code, a sentence for humans, and the
// underlying cause if any.
type Error struct {
	Code Code
	Msg  string
	Err  error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Msg)
}

func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the code of the first *Error in err's chain, or "" if there
// is none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

func wrapf(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}
