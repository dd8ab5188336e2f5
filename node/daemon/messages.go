package daemon

import (
	"errors"
	"fmt"

	"github.com/go-json-experiment/json"

	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// AssertionMessage is the gossip message of the assertion topic
// (p2p.TopicAssertion): what an ISP's pipeline needs to decide on an
// assertion. It is strict JSON: unknown and duplicate members are errors.
//
//	{"bundle":"<base64 of the assertion bundle>",
//	 "chain":["<base64 of the registrar's grant>", "<base64 of a delegation>"],
//	 "proof":{"index":12,"checkpoint":"…","inclusion":["…"],"more":[…]}}
//
// The bundle carries the sealed sections of the ISPs the message is for:
// every section when the message fits the gossip size limit, otherwise
// the claimant sends several messages, each with some of the sections.
// The proof is the log's answer to the submission of the full bundle,
// cut to the entries of the assertion's object, which is all an ISP
// checks (spec/SPEC.md §13.3).
type AssertionMessage struct {
	// Bundle is the assertion bundle (spec/SPEC.md §5.7).
	Bundle []byte `json:"bundle"`
	// Chain are the credential envelopes of its chain, root first.
	Chain [][]byte `json:"chain"`
	// Proof is a trusted log's inclusion proof of the assertion.
	Proof tlog.Proof `json:"proof"`
}

// RevocationMessage is the gossip message of the revocation topic
// (p2p.TopicRevocation), strict JSON like AssertionMessage:
//
//	{"revocation":"<base64 of the revocation envelope>","chain":["…"]}
//
// Chain, the chain of the revoked credential root first, may be empty: an
// ISP that holds the credential from an assertion it applied needs none,
// and one that does not keeps the revocation until an assertion brings
// the chain.
type RevocationMessage struct {
	// Revocation is the revocation envelope (spec/SPEC.md §7).
	Revocation []byte `json:"revocation"`
	// Chain is the chain of the revoked credential, root first.
	Chain [][]byte `json:"chain,omitempty"`
}

// announcementsResponse is the answer of the announcements protocol: the
// announcement envelopes the node knows.
type announcementsResponse struct {
	Announcements [][]byte `json:"announcements"`
}

// logAddRequest is a request of the log-add protocol: one signed object
// for the log, and its kind ("" to detect it).
type logAddRequest struct {
	Kind   tlog.Kind `json:"kind,omitempty"`
	Object []byte    `json:"object"`
}

// encodeJSON encodes a message deterministically.
func encodeJSON(v any) ([]byte, error) {
	return json.Marshal(v, json.Deterministic(true))
}

// decodeJSON decodes a message strictly.
func decodeJSON(data []byte, v any) error {
	if err := json.Unmarshal(data, v, json.RejectUnknownMembers(true)); err != nil {
		return &protocol.Error{Code: protocol.CodeMalformed, Msg: "not a well-formed message", Err: err}
	}
	return nil
}

// DecodeAssertionMessage decodes an assertion message strictly and checks
// that its members are present and within their limits. It does not
// decode the bundle or the chain.
func DecodeAssertionMessage(data []byte) (*AssertionMessage, error) {
	var m AssertionMessage
	if err := decodeJSON(data, &m); err != nil {
		return nil, err
	}
	switch {
	case len(m.Bundle) == 0:
		return nil, &protocol.Error{Code: protocol.CodeMalformed, Msg: "message has no bundle"}
	case len(m.Bundle) > protocol.MaxAssertionBundle:
		return nil, &protocol.Error{Code: protocol.CodeOversize, Msg: fmt.Sprintf("bundle of %d bytes exceeds %d", len(m.Bundle), protocol.MaxAssertionBundle)}
	case len(m.Chain) == 0:
		return nil, &protocol.Error{Code: protocol.CodeMalformed, Msg: "message has no chain"}
	case len(m.Chain) > protocol.MaxChainLength:
		return nil, &protocol.Error{Code: protocol.CodeChainTooDeep, Msg: fmt.Sprintf("chain of %d credentials, at most %d", len(m.Chain), protocol.MaxChainLength)}
	case m.Proof.Checkpoint == "":
		return nil, &protocol.Error{Code: protocol.CodeMalformed, Msg: "message has no inclusion proof"}
	}
	return &m, nil
}

// DecodeRevocationMessage decodes a revocation message strictly.
func DecodeRevocationMessage(data []byte) (*RevocationMessage, error) {
	var m RevocationMessage
	if err := decodeJSON(data, &m); err != nil {
		return nil, err
	}
	switch {
	case len(m.Revocation) == 0:
		return nil, &protocol.Error{Code: protocol.CodeMalformed, Msg: "message has no revocation"}
	case len(m.Chain) > protocol.MaxChainLength:
		return nil, &protocol.Error{Code: protocol.CodeChainTooDeep, Msg: fmt.Sprintf("chain of %d credentials, at most %d", len(m.Chain), protocol.MaxChainLength)}
	}
	return &m, nil
}

// objectEntries returns the number of log entries of an assertion's
// object: the first entries of the proof of any of its bundles.
func objectEntries(sa *protocol.SignedAssertion) (int, error) {
	object, err := protocol.EncodeBundle(sa.RawEnvelope, nil)
	if err != nil {
		return 0, err
	}
	entries, err := tlog.Entries(tlog.KindAssertion, object)
	if err != nil {
		return 0, err
	}
	return len(entries), nil
}

// assertionMessages returns the gossip messages that carry a logged
// assertion bundle to its ISPs, each at most max bytes: one message with
// the whole bundle if it fits, otherwise bundles with some of the sections
// each, in the order of the assertion's sections. proof must be the log's
// proof of the full bundle.
func assertionMessages(bundle []byte, chain [][]byte, proof *tlog.Proof, max int) ([][]byte, error) {
	sa, err := protocol.DecodeAssertion(bundle)
	if err != nil {
		return nil, err
	}
	n, err := objectEntries(sa)
	if err != nil {
		return nil, err
	}
	cut := *proof
	if len(cut.More) < n-1 {
		return nil, fmt.Errorf("proof covers %d entries, the assertion's object has %d", 1+len(cut.More), n)
	}
	cut.More = cut.More[:n-1]
	if len(cut.More) == 0 {
		cut.More = nil
	}
	encode := func(isps ...string) ([]byte, error) {
		b := bundle
		if isps != nil {
			if b, err = sa.Bundle(isps...); err != nil {
				return nil, err
			}
		}
		return encodeJSON(&AssertionMessage{Bundle: b, Chain: chain, Proof: cut})
	}
	whole, err := encode()
	if err != nil {
		return nil, err
	}
	if len(whole) <= max {
		return [][]byte{whole}, nil
	}
	// Pack sections into messages by their encoded size: a section's
	// bytes are base64 in the bundle, which is base64 in the message.
	object, err := protocol.EncodeBundle(sa.RawEnvelope, nil)
	if err != nil {
		return nil, err
	}
	bare, err := encodeJSON(&AssertionMessage{Bundle: object, Chain: chain, Proof: cut})
	if err != nil {
		return nil, err
	}
	var groups [][]string
	var group []string
	size := len(bare)
	for _, sec := range sa.Assertion.Sections {
		data, ok := sa.Sealed[sec.ISP]
		if !ok {
			continue
		}
		cost := base64Len(base64Len(len(data)) + len(sec.ISP) + 20)
		if len(group) > 0 && size+cost > max {
			groups = append(groups, group)
			group, size = nil, len(bare)
		}
		group = append(group, sec.ISP)
		size += cost
	}
	if len(group) > 0 {
		groups = append(groups, group)
	}
	var out [][]byte
	for _, g := range groups {
		m, err := encode(g...)
		if err != nil {
			return nil, err
		}
		if len(m) <= max {
			out = append(out, m)
			continue
		}
		// The estimate was short: one message per section.
		for _, isp := range g {
			m, err := encode(isp)
			if err != nil {
				return nil, err
			}
			if len(m) > max {
				return nil, fmt.Errorf("the message for %s alone has %d bytes, over the gossip limit of %d", isp, len(m), max)
			}
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("the bundle carries no section to send")
	}
	return out, nil
}

func base64Len(n int) int { return (n + 2) / 3 * 4 }
