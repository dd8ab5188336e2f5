package main

import (
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/docket-project/docket/crypto/sign"
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
	assertion := c.flags.String("assertion", "", "assertion `FILE` (required)")
	var chain, registrars, revocations stringList
	c.flags.Var(&chain, "chain", "credential `CRED` of the chain, root first (required, repeatable)")
	c.flags.Var(&registrars, "registrar", "trusted registrar public key `PUB` (required, repeatable)")
	c.flags.Var(&revocations, "revocation", "revocation `FILE` of a credential of the chain (repeatable)")
	isp := c.flags.String("isp", "", "`NAME` of the verifying ISP; needs --identity")
	region := c.flags.String("region", "", "the verifying ISP's ISO 3166 region `CC`")
	identity := c.flags.String("identity", "", "the verifying ISP's age identity `AGE`")
	var at timeFlag
	c.flags.Var(&at, "now", "verify as of RFC 3339 `TIME` (default: now)")
	maxLife := c.flags.Duration("max-life", protocol.DefaultMaxAssertionLife, "longest assertion life `DURATION` accepted")
	var permit prefixList
	c.flags.Var(&permit, "permit-prefix", "accept peer addresses in `CIDR` although not global unicast: laboratory networks only (repeatable)")
	c.run = func(_ []string, stdout io.Writer) error {
		switch {
		case *assertion == "" || len(chain) == 0 || len(registrars) == 0:
			return usagef(c.name, "--assertion, --chain and --registrar are required")
		case (*isp == "") != (*identity == ""):
			return usagef(c.name, "--isp and --identity go together")
		case *region != "" && *isp == "":
			return usagef(c.name, "--region needs --isp")
		case *maxLife <= 0:
			return usagef(c.name, "--max-life must be positive")
		}
		in := verifyInput{now: at.or(time.Now().UTC())}
		var err error
		if in.assertion, err = readEnvelope(*assertion, protocol.MaxAssertionBundle); err != nil {
			return err
		}
		for _, path := range chain {
			data, err := readEnvelope(path, protocol.MaxCredentialEnvelope)
			if err != nil {
				return err
			}
			in.chain = append(in.chain, data)
		}
		for _, path := range registrars {
			key, err := readPublicKey(path)
			if err != nil {
				return err
			}
			in.registrars = append(in.registrars, key)
		}
		for _, path := range revocations {
			data, err := readEnvelope(path, protocol.MaxRevocationEnvelope)
			if err != nil {
				return err
			}
			in.revocations = append(in.revocations, namedFile{path, data})
		}
		if *isp != "" {
			id, err := readIdentity(*identity)
			if err != nil {
				return err
			}
			in.isp = &protocol.ISP{Name: *isp, Region: *region, Identity: id}
		}
		in.maxLife, in.permit = *maxLife, permit
		return verify(stdout, in)
	}
	return c
}

// namedFile is a file's name and contents.
type namedFile struct {
	name string
	data []byte
}

// verifyInput is everything verify reads before it decides.
type verifyInput struct {
	assertion   []byte
	chain       [][]byte
	registrars  []*sign.PublicKey
	revocations []namedFile
	isp         *protocol.ISP
	maxLife     time.Duration
	permit      []netip.Prefix
	now         time.Time
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
// not verify is an error, not a verdict.
func verify(stdout io.Writer, in verifyInput) error {
	// The revocation check reads revoked, which is filled only once the
	// chain the revocations are checked against has been verified.
	revoked := map[protocol.ID]bool{}
	v := protocol.NewVerifier(in.registrars,
		protocol.WithRevoked(func(id protocol.ID) bool { return revoked[id] }),
		protocol.WithMaxLife(in.maxLife),
		protocol.WithPermittedPrefixes(in.permit...))
	chain, err := v.VerifyChain(in.chain, in.now)
	if err != nil {
		return reject(stdout, err)
	}
	for _, f := range in.revocations {
		sr, err := v.VerifyRevocation(f.data, chain)
		if err != nil {
			return annotate(f.name, err)
		}
		revoked[sr.Revocation.Credential] = true
	}
	va, err := v.Verify(in.assertion, chain, in.isp, in.now)
	if err != nil {
		return reject(stdout, err)
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
