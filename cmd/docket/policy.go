package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/enforce/dryrun"
	"github.com/docket-project/docket/node/policy"
	"github.com/docket-project/docket/protocol"
)

func policyCheckCommand() *command {
	c := newCommand("policy check")
	c.summary = "show which pairs an ISP's policy blocks for an assertion"
	c.synopsis = "--policy POLICY --assertion FILE --chain CRED --registrar PUB --isp NAME --identity AGE [flags]"
	c.description = `
Verify an assertion as "docket verify" does, as the ISP given by --isp and
--identity, then apply the ISP's policy (spec/SPEC.md §11): the hard rules
(protected prefixes and the root DNS servers are never blocked; local ends
are the ISP's own peers of an enforced grade), the policy's CEL rules and its
caps, counted as if no pair were installed yet.

--policy names the policy: YAML if the file ends in .yaml or .yml, JSON
otherwise, with the members of policy.Config (own_prefixes, protected,
infrastructure, local_grades, max_ttl, rules, max_pairs_per_assertion,
max_pairs_per_claimant_per_hour, max_pairs_total); unknown members are
errors.

Prints a JSON verdict. On acceptance, exits 0 and lists the pairs to block,
their expiry and what the hard rules left out; on rejection, by the
verification or the policy, exits 1 with the error code. With --pairs-out it
also writes the accepted pairs in the format "docket enforce apply --pairs"
reads; otherwise it writes no files.`
	c.example = `
docket policy check --policy policy.yaml --assertion assertion.json \
  --chain holder.cred.json --registrar keys/registrar.pub \
  --isp isp-a --region DE --identity keys/isp-a.age --pairs-out pairs.json
docket enforce apply --backend dryrun --state state.json --pairs pairs.json`
	policyFile := c.flags.String("policy", "", "the ISP's policy `POLICY`, YAML or JSON (required)")
	pairsOut := c.flags.String("pairs-out", "", "`FILE` to write the accepted pairs to, for docket enforce apply")
	force := c.flags.Bool("force", false, "replace --pairs-out if it exists")
	f := addVerifyFlags(c.flags)
	c.run = func(_ []string, stdout io.Writer) error {
		if *policyFile == "" || *f.isp == "" {
			return usagef(c.name, "--policy, --isp and --identity are required")
		}
		in, err := f.input(c.name)
		if err != nil {
			return err
		}
		p, err := readPolicy(*policyFile)
		if err != nil {
			return err
		}
		v, err := checkPolicy(stdout, p, in)
		if err != nil || *pairsOut == "" {
			return err
		}
		data, err := dryrun.Marshal(v.Pairs)
		if err != nil {
			return err
		}
		return writeFiles(*force, outFile{path: *pairsOut, data: data, perm: 0o644})
	}
	return c
}

// readPolicy reads and compiles a policy file.
func readPolicy(path string) (*policy.Policy, error) {
	var cfg policy.Config
	switch filepath.Ext(path) {
	case ".yaml", ".yml":
		data, err := readFile(path, maxJSONFile)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("failed to parse %s: %w", path, err)
		}
		if err := dec.Decode(new(policy.Config)); !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("failed to parse %s: more than one YAML document", path)
		}
	default:
		if err := readJSON(path, &cfg); err != nil {
			return nil, err
		}
	}
	p, err := policy.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("failed to load %s: %w", path, err)
	}
	return p, nil
}

// policyVerdict is the JSON policy check prints.
type policyVerdict struct {
	Verdict  string             `json:"verdict"`
	Code     policy.Code        `json:"code,omitzero"`
	Message  string             `json:"message,omitzero"`
	ID       protocol.ID        `json:"id,omitzero"`
	Claimant sign.KeyID         `json:"claimant,omitzero"`
	Expires  time.Time          `json:"expires,omitzero"`
	Pairs    []pairJSON         `json:"pairs,omitzero"`
	Excluded *policy.Exclusions `json:"excluded,omitzero"`
}

// pairJSON is one pair to block: a local end and a remote end.
type pairJSON struct {
	Local  netip.Addr `json:"local"`
	Remote netip.Addr `json:"remote"`
}

// checkPolicy verifies the assertion, applies the policy, prints the
// verdict and returns it. A rejection, by the verifier or the policy, is
// returned as the error that caused it.
func checkPolicy(stdout io.Writer, p *policy.Policy, in verifyInput) (*policy.Verdict, error) {
	va, err := verifyAssertion(stdout, in)
	if err != nil {
		return nil, err
	}
	v, err := p.Evaluate(va, in.now, policy.Counters{})
	var rej *policy.Rejection
	if errors.As(err, &rej) {
		if werr := writeJSON(stdout, policyVerdict{Verdict: "reject", Code: rej.Code, Message: rej.Msg}); werr != nil {
			return nil, werr
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	out := policyVerdict{Verdict: "accept", ID: v.Assertion, Claimant: v.Claimant, Expires: v.Expires, Excluded: &v.Excluded}
	for _, pr := range v.Pairs {
		out.Pairs = append(out.Pairs, pairJSON{Local: pr.Local, Remote: pr.Remote})
	}
	return v, writeJSON(stdout, out)
}
