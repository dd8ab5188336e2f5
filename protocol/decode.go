package protocol

import (
	"errors"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/docket-project/docket/crypto/dsse"
)

// decodeStrict parses data into v: unknown members, duplicate members,
// trailing data and invalid UTF-8 are errors. Errors carry a spec code.
func decodeStrict(data []byte, v any, what string) error {
	err := json.Unmarshal(data, v, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	return classify(err, what)
}

// classify maps a decoding error to its spec code, keeping a code that a
// field's own decoder already chose.
func classify(err error, what string) error {
	var perr *Error
	switch {
	case errors.As(err, &perr):
		return &Error{Code: perr.Code, Msg: what + ": " + perr.Msg, Err: err}
	case errors.Is(err, dsse.ErrOversize):
		return wrapf(CodeOversize, err, "%s too large", what)
	case errors.Is(err, json.ErrUnknownName):
		return wrapf(CodeUnknownField, err, "%s has a member the spec does not define", what)
	case errors.Is(err, jsontext.ErrDuplicateName):
		return wrapf(CodeDuplicateKey, err, "%s has a member given twice", what)
	default:
		return wrapf(CodeMalformed, err, "%s is not well-formed", what)
	}
}

func marshal(v any) ([]byte, error) {
	return json.Marshal(v, json.Deterministic(true))
}
