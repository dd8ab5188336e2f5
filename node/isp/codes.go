package isp

import (
	"errors"
	"fmt"

	"github.com/docket-project/docket/node/policy"
	"github.com/docket-project/docket/protocol"
)

// Code is a stable rejection code of the ISP node's own steps
// (spec/SPEC.md §13.3): the log inclusion step that §6.4 step 5 leaves to
// the node. Codes never change meaning; new ones may be added.
type Code string

// The pipeline's codes, in the order of the spec's table.
const (
	// CodeNotLogged: the submission carries no inclusion proof.
	CodeNotLogged Code = "NOT_LOGGED"
	// CodeUntrustedLog: the proof's checkpoint is not signed by a trusted
	// log, or is signed by a trusted log's key under another log's origin.
	CodeUntrustedLog Code = "UNTRUSTED_LOG"
	// CodeProofInvalid: the proof is malformed, or does not show the
	// assertion's object in the checkpoint's tree.
	CodeProofInvalid Code = "PROOF_INVALID"
	// CodeLogInconsistent: the checkpoint has the size of one seen before
	// from the same log but another root hash: the log shows different
	// trees to different readers.
	CodeLogInconsistent Code = "LOG_INCONSISTENT"
)

// Codes lists the pipeline's codes, in the order of the spec's table.
var Codes = []Code{CodeNotLogged, CodeUntrustedLog, CodeProofInvalid, CodeLogInconsistent}

// Error is a rejection by one of the pipeline's own steps: a stable code
// and a sentence for humans.
type Error struct {
	Code Code
	Msg  string
	Err  error
}

// Error returns "CODE: sentence[: cause]".
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Msg, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Msg)
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...)}
}

func wrapf(code Code, err error, format string, args ...any) *Error {
	return &Error{Code: code, Msg: fmt.Sprintf(format, args...), Err: err}
}

// CodeOf returns the rejection code err carries: a protocol code
// (spec/SPEC.md §8), a policy code (§11.5) or a pipeline code (§13.3), or
// "" if err is not a rejection.
func CodeOf(err error) string {
	var pe *protocol.Error
	var pr *policy.Rejection
	var ie *Error
	switch {
	case errors.As(err, &pe):
		return string(pe.Code)
	case errors.As(err, &pr):
		return string(pr.Code)
	case errors.As(err, &ie):
		return string(ie.Code)
	}
	return ""
}
