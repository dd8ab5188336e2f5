package main

import (
	"flag"
	"io"
	"net/netip"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

// verifyFlags are the flags of the verbs that verify an assertion as an
// ISP would: verify and policy check.
type verifyFlags struct {
	assertion, isp, region, identity *string
	chain, registrars, revocations   stringList
	at                               timeFlag
	maxLife                          *time.Duration
	permit                           prefixList
}

// addVerifyFlags defines the verification flags on fs.
func addVerifyFlags(fs *flag.FlagSet) *verifyFlags {
	f := &verifyFlags{}
	f.assertion = fs.String("assertion", "", "assertion `FILE` (required)")
	fs.Var(&f.chain, "chain", "credential `CRED` of the chain, root first (required, repeatable)")
	fs.Var(&f.registrars, "registrar", "trusted registrar public key `PUB` (required, repeatable)")
	fs.Var(&f.revocations, "revocation", "revocation `FILE` of a credential of the chain (repeatable)")
	f.isp = fs.String("isp", "", "`NAME` of the verifying ISP; needs --identity")
	f.region = fs.String("region", "", "the verifying ISP's ISO 3166 region `CC`")
	f.identity = fs.String("identity", "", "the verifying ISP's age identity `AGE`")
	fs.Var(&f.at, "now", "verify as of RFC 3339 `TIME` (default: now)")
	f.maxLife = fs.Duration("max-life", protocol.DefaultMaxAssertionLife, "longest assertion life `DURATION` accepted")
	fs.Var(&f.permit, "permit-prefix", "accept peer addresses in `CIDR` although not global unicast: laboratory networks only (repeatable)")
	return f
}

// input checks how the flags combine and reads the files they name, for
// the verb called verb.
func (f *verifyFlags) input(verb string) (verifyInput, error) {
	switch {
	case *f.assertion == "" || len(f.chain) == 0 || len(f.registrars) == 0:
		return verifyInput{}, usagef(verb, "--assertion, --chain and --registrar are required")
	case (*f.isp == "") != (*f.identity == ""):
		return verifyInput{}, usagef(verb, "--isp and --identity go together")
	case *f.region != "" && *f.isp == "":
		return verifyInput{}, usagef(verb, "--region needs --isp")
	case *f.maxLife <= 0:
		return verifyInput{}, usagef(verb, "--max-life must be positive")
	}
	in := verifyInput{now: f.at.or(time.Now().UTC()), maxLife: *f.maxLife, permit: f.permit}
	var err error
	if in.assertion, err = readEnvelope(*f.assertion, protocol.MaxAssertionBundle); err != nil {
		return verifyInput{}, err
	}
	for _, path := range f.chain {
		data, err := readEnvelope(path, protocol.MaxCredentialEnvelope)
		if err != nil {
			return verifyInput{}, err
		}
		in.chain = append(in.chain, data)
	}
	for _, path := range f.registrars {
		key, err := readPublicKey(path)
		if err != nil {
			return verifyInput{}, err
		}
		in.registrars = append(in.registrars, key)
	}
	for _, path := range f.revocations {
		data, err := readEnvelope(path, protocol.MaxRevocationEnvelope)
		if err != nil {
			return verifyInput{}, err
		}
		in.revocations = append(in.revocations, namedFile{path, data})
	}
	if *f.isp != "" {
		id, err := readIdentity(*f.identity)
		if err != nil {
			return verifyInput{}, err
		}
		in.isp = &protocol.ISP{Name: *f.isp, Region: *f.region, Identity: id}
	}
	return in, nil
}

// namedFile is a file's name and contents.
type namedFile struct {
	name string
	data []byte
}

// verifyInput is everything a verification reads before it decides.
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

// verifyAssertion verifies the assertion. A rejection is printed as the
// verdict and returned as the *protocol.Error that caused it; a revocation
// that does not verify is an error, not a verdict.
func verifyAssertion(stdout io.Writer, in verifyInput) (*protocol.VerifiedAssertion, error) {
	// The revocation check reads revoked, which is filled only once the
	// chain the revocations are checked against has been verified.
	revoked := map[protocol.ID]bool{}
	v := protocol.NewVerifier(in.registrars,
		protocol.WithRevoked(func(id protocol.ID) bool { return revoked[id] }),
		protocol.WithMaxLife(in.maxLife),
		protocol.WithPermittedPrefixes(in.permit...))
	chain, err := v.VerifyChain(in.chain, in.now)
	if err != nil {
		return nil, reject(stdout, err)
	}
	for _, f := range in.revocations {
		sr, err := v.VerifyRevocation(f.data, chain)
		if err != nil {
			return nil, annotate(f.name, err)
		}
		revoked[sr.Revocation.Credential] = true
	}
	va, err := v.Verify(in.assertion, chain, in.isp, in.now)
	if err != nil {
		return nil, reject(stdout, err)
	}
	return va, nil
}
