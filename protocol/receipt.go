package protocol

import (
	"time"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/sign"
)

// MaxReceiptEnvelope is the size limit of a receipt envelope in bytes
// (spec/SPEC.md §13).
const MaxReceiptEnvelope = 16 << 10

// Verdict is what an ISP did with an assertion.
type Verdict string

// The verdicts of a receipt.
const (
	// VerdictApplied: the ISP enforces Pairs pairs until Until.
	VerdictApplied Verdict = "applied"
	// VerdictRejected: the ISP refused the assertion with Code.
	VerdictRejected Verdict = "rejected"
)

// Receipt is an ISP's signed account of what it did with one assertion
// (spec/SPEC.md §13). It names no address: only the assertion, the number
// of pairs and the time enforcement ends, or the rejection code.
type Receipt struct {
	// ISP is the ISP's name.
	ISP string `json:"isp"`
	// Issuer is the key id of the ISP's signing key.
	Issuer sign.KeyID `json:"issuer"`
	// Assertion is the id of the assertion the receipt is about.
	Assertion ID `json:"assertion"`
	// Verdict is applied or rejected.
	Verdict Verdict `json:"verdict"`
	// Pairs is the number of pairs enforced (applied only; may be 0 when
	// no pair crosses the ISP's network).
	Pairs int `json:"pairs,omitzero"`
	// Until is when enforcement ends (applied only).
	Until time.Time `json:"until,omitzero"`
	// Code is the rejection's error code, from §8 or the ISP policy codes
	// of §11 (rejected only).
	Code string `json:"code,omitzero"`
	// IssuedAt is when the ISP reached its verdict.
	IssuedAt time.Time `json:"issued_at"`
}

// Validate checks the receipt's fields.
func (r *Receipt) Validate() error {
	if err := checkName("isp", r.ISP); err != nil {
		return err
	}
	if !r.Issuer.Valid() {
		return errorf(CodeMalformed, "issuer %q is not a key id", truncate(string(r.Issuer)))
	}
	if !r.Assertion.Valid() {
		return errorf(CodeMalformed, "assertion is missing")
	}
	if err := checkTime("issued_at", r.IssuedAt); err != nil {
		return err
	}
	switch r.Verdict {
	case VerdictApplied:
		if r.Code != "" {
			return errorf(CodeInvalidField, "an applied receipt carries code %q", truncate(r.Code))
		}
		if r.Pairs < 0 {
			return errorf(CodeInvalidField, "pairs %d is negative", r.Pairs)
		}
		if err := checkTime("until", r.Until); err != nil {
			return err
		}
		if r.Until.Before(r.IssuedAt) {
			return errorf(CodeInvalidField, "until %s is before issued_at %s", r.Until.Format(time.RFC3339), r.IssuedAt.Format(time.RFC3339))
		}
	case VerdictRejected:
		if r.Pairs != 0 || !r.Until.IsZero() {
			return errorf(CodeInvalidField, "a rejected receipt carries pairs or until")
		}
		if !validCodeName(r.Code) {
			return errorf(CodeInvalidField, "code %q is not an error code: 1 to 64 of A-Z, 0-9 and '_', starting with a letter", truncate(r.Code))
		}
	case "":
		return errorf(CodeMalformed, "verdict is missing")
	default:
		return errorf(CodeInvalidField, "verdict %q is neither applied nor rejected", truncate(string(r.Verdict)))
	}
	return nil
}

// validCodeName reports whether s has the syntax of an error code.
func validCodeName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// SignedReceipt is a decoded receipt envelope whose fields are valid.
type SignedReceipt struct {
	ID       ID
	Receipt  Receipt
	Envelope *dsse.Envelope
}

// DecodeReceipt decodes and validates a receipt envelope without checking
// its signature.
func DecodeReceipt(data []byte) (*SignedReceipt, error) {
	sr := &SignedReceipt{}
	env, err := decodeObject(data, MaxReceiptEnvelope, ReceiptType, "receipt", &sr.Receipt)
	if err != nil {
		return nil, err
	}
	sr.ID, sr.Envelope = IDOf(env.Payload), env
	return sr, nil
}

// SignReceipt validates r, sets its Issuer to key's id and signs it.
func SignReceipt(key *sign.PrivateKey, r Receipt) ([]byte, ID, error) {
	r.Issuer = key.Public().ID()
	return signObject(key, ReceiptType, &r)
}

// VerifyReceipt decodes a receipt and checks that it is signed by key, the
// signing key of the ISP it names (WRONG_KEY, BAD_SIGNATURE).
func VerifyReceipt(data []byte, key *sign.PublicKey) (*SignedReceipt, error) {
	sr, err := DecodeReceipt(data)
	if err != nil {
		return nil, err
	}
	if sr.Receipt.Issuer != key.ID() {
		return nil, errorf(CodeWrongKey, "receipt is issued by %s, not by the ISP's key %s", sr.Receipt.Issuer, key.ID())
	}
	if err := verifySignature(sr.Envelope, key, "receipt"); err != nil {
		return nil, err
	}
	return sr, nil
}
