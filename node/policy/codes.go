package policy

import (
	"errors"
	"fmt"
)

// Code is a stable policy rejection code from spec/SPEC.md §11.5. Codes
// never change meaning; new ones may be added.
type Code string

// The rejection codes, in the order of the spec's table.
const (
	// CodeUntilPassed: the assertion's enforcement window (its Until) ends
	// at or before now; it warrants no enforcement.
	CodeUntilPassed Code = "UNTIL_PASSED"
	// CodeNothingToEnforce: no pair survives the hard rules, for example
	// because every local peer is protected, outside the ISP's prefixes
	// or of a grade the ISP does not enforce.
	CodeNothingToEnforce Code = "NOTHING_TO_ENFORCE"
	// CodePolicyDenied: a configured CEL rule evaluated to false or failed.
	CodePolicyDenied Code = "POLICY_DENIED"
	// CodeCapAssertion: the assertion would install more pairs than
	// MaxPairsPerAssertion.
	CodeCapAssertion Code = "CAP_ASSERTION"
	// CodeCapClaimant: the claimant's pairs of the last hour plus the
	// assertion's would exceed MaxPairsPerClaimantPerHour.
	CodeCapClaimant Code = "CAP_CLAIMANT"
	// CodeCapTotal: the installed pairs plus the assertion's new ones would
	// exceed MaxPairsTotal.
	CodeCapTotal Code = "CAP_TOTAL"
)

// Codes lists every code, in the order of the spec's table.
var Codes = []Code{
	CodeUntilPassed, CodeNothingToEnforce, CodePolicyDenied,
	CodeCapAssertion, CodeCapClaimant, CodeCapTotal,
}

// Rejection is the policy's refusal to enforce a verified assertion: a
// stable code and a sentence for humans. Nothing of a rejected assertion
// may be installed.
type Rejection struct {
	Code Code
	Msg  string
}

// Error returns "CODE: sentence".
func (r *Rejection) Error() string { return string(r.Code) + ": " + r.Msg }

func reject(code Code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of the first *Rejection in err's chain, or "" if
// there is none.
func CodeOf(err error) Code {
	var r *Rejection
	if errors.As(err, &r) {
		return r.Code
	}
	return ""
}

// ConfigError is an invalid Config: the field at fault, named as in the
// configuration file ("own_prefixes[1]", "rules[0]"), and why.
type ConfigError struct {
	Field string
	Err   error
}

// Error returns "invalid policy: FIELD: reason".
func (e *ConfigError) Error() string {
	return fmt.Sprintf("invalid policy: %s: %v", e.Field, e.Err)
}

// Unwrap returns the reason.
func (e *ConfigError) Unwrap() error { return e.Err }

func configErrorf(field, format string, args ...any) *ConfigError {
	return &ConfigError{Field: field, Err: fmt.Errorf(format, args...)}
}
