package main

import (
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/docket-project/docket/protocol"
)

func verifyCommand() *command {
	c := newCommand("verify")
	c.summary = "check an assertion as an ISP would, offline"
	c.synopsis = "--assertion FILE --chain CRED [--chain DELEG] --registrar PUB [flags]"
	c.description = `
Run the verification of spec/SPEC.md §6 on an assertion: the credential
chain (root first) up to a trusted --registrar, each --revocation of a
credential of the chain, the assertion's signature, time, work and scope,
and, given --isp and --identity, the ISP's sealed section: its peers, their
commitment and their evidence. Without --isp only the public checks run, as
an auditor would.

Prints a JSON verdict. On acceptance, exits 0 and lists the ISP's own peers
with their evidence grade; on rejection, exits 1 with the error code.
Writes no files.`
	c.example = `
docket verify --assertion assertion.json --chain holder.cred.json \
  --registrar keys/registrar.pub --isp isp-a --region DE \
  --identity keys/isp-a.age --revocation revocation.json`
	f := addVerifyFlags(c.flags)
	c.run = func(_ []string, stdout io.Writer) error {
		in, err := f.input(c.name)
		if err != nil {
			return err
		}
		return verify(stdout, in)
	}
	return c
}

// verdict is the JSON verify prints.
type verdict struct {
	Verdict    string             `json:"verdict"`
	Code       protocol.Code      `json:"code,omitzero"`
	Message    string             `json:"message,omitzero"`
	ID         protocol.ID        `json:"id,omitzero"`
	Content    protocol.ContentID `json:"content,omitzero"`
	Until      time.Time          `json:"until,omitzero"`
	LocalPeers []localPeer        `json:"local_peers,omitzero"`
}

// localPeer is a peer the verifying ISP serves.
type localPeer struct {
	Addr  netip.Addr     `json:"addr"`
	Grade protocol.Grade `json:"grade"`
}

// verify decides on an assertion and prints the verdict. A rejection is
// returned as the *protocol.Error that caused it; a revocation that does
// not verify is an error, not a verdict (see verifyAssertion).
func verify(stdout io.Writer, in verifyInput) error {
	va, err := verifyAssertion(stdout, in)
	if err != nil {
		return err
	}
	out := verdict{Verdict: "accept", ID: va.ID, Content: va.Assertion.Content, Until: va.Until}
	for _, p := range va.Local() {
		out.LocalPeers = append(out.LocalPeers, localPeer{Addr: p.Addr, Grade: p.Evidence.Grade})
	}
	return writeJSON(stdout, out)
}

// reject prints the rejection verdict for err and returns err.
func reject(stdout io.Writer, err error) error {
	var perr *protocol.Error
	if !errors.As(err, &perr) {
		return err
	}
	if werr := writeJSON(stdout, verdict{Verdict: "reject", Code: perr.Code, Message: perr.Msg}); werr != nil {
		return werr
	}
	return err
}
