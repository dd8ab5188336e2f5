package main

import (
	"fmt"
	"io"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

func assertBuildCommand() *command {
	c := newCommand("assert build")
	c.summary = "turn an observation into a signed, sealed assertion"
	c.synopsis = "--key KEY --credential CRED --observation OBS --directory DIR [--not-before TIME] [--life DURATION] --out FILE"
	c.description = `
As a claimant, turn what was observed of a swarm into an assertion. Each peer
of --observation (a JSON protocol.Observation) is routed to an ISP by
longest-prefix match over --directory (a JSON protocol.Directory: each ISP's
name, region, age recipient and prefixes). Each ISP serving a peer gets a
section sealed to its recipient; the public part carries only counts and a
commitment root. --key must be the subject of --credential, the last
credential of the claimant's chain.

Prints the assertion id and the number of peers sealed for each ISP.`
	c.example = `
docket assert build --key keys/holder.key --credential holder.cred.json \
  --observation observation.json --directory directory.json --out assertion.json`
	key := c.flags.String("key", "", "the claimant's signing `KEY` (required)")
	credPath := c.flags.String("credential", "", "the claimant's credential `CRED`, the leaf of its chain (required)")
	obsPath := c.flags.String("observation", "", "observation JSON `FILE` (required)")
	dirPath := c.flags.String("directory", "", "ISP directory JSON `FILE` (required)")
	var notBefore timeFlag
	c.flags.Var(&notBefore, "not-before", "start of validity, RFC 3339 `TIME`, not before the observation's end (default: now, or the observation's end if later)")
	life := c.flags.Duration("life", protocol.DefaultAssertionLife, "validity `DURATION` from --not-before")
	out := c.flags.String("out", "", "`FILE` to write the assertion to (required)")
	force := c.flags.Bool("force", false, "replace --out if it exists")
	c.run = func(_ []string, stdout io.Writer) error {
		if *key == "" || *credPath == "" || *obsPath == "" || *dirPath == "" || *out == "" {
			return usagef(c.name, "--key, --credential, --observation, --directory and --out are required")
		}
		if *life <= 0 {
			return usagef(c.name, "--life must be positive")
		}
		signer, err := readPrivateKey(*key)
		if err != nil {
			return err
		}
		cred, err := readCredential(*credPath)
		if err != nil {
			return err
		}
		if signer.Public().ID() != cred.Subject.ID() {
			return fmt.Errorf("failed to build assertion: --key %s (key id %s) is not the subject of %s (key id %s)", *key, signer.Public().ID(), *credPath, cred.Subject.ID())
		}
		var obs protocol.Observation
		if err := readJSON(*obsPath, &obs); err != nil {
			return err
		}
		var dir protocol.Directory
		if err := readJSON(*dirPath, &dir); err != nil {
			return err
		}
		opts := protocol.BuildOptions{Credential: cred.ID, NotBefore: notBefore.or(defaultNotBefore(obs)), Life: *life}
		return build(stdout, signer, obs, dir, opts, *out, *force)
	}
	return c
}

// defaultNotBefore is now, or the observation's end rounded up to the
// second if that is later: an assertion cannot start before what it
// reports has been seen.
func defaultNotBefore(obs protocol.Observation) time.Time {
	t, end := now(), obs.Observed.End.UTC()
	if end.After(t) {
		t = end.Truncate(time.Second)
		if t.Before(end) {
			t = t.Add(time.Second)
		}
	}
	return t
}

// build makes the assertion, writes it to out and prints its id and counts.
func build(stdout io.Writer, key *sign.PrivateKey, obs protocol.Observation, dir protocol.Directory, opts protocol.BuildOptions, out string, force bool) error {
	env, id, err := protocol.BuildAssertion(key, obs, dir, opts)
	if err != nil {
		return err
	}
	// Read the counts back from what was signed.
	sa, err := protocol.DecodeAssertion(env)
	if err != nil {
		return err
	}
	if err := writeFiles(force, outFile{path: out, data: env, perm: 0o644}); err != nil {
		return err
	}
	a := &sa.Assertion
	fmt.Fprintf(stdout, "assertion id: %s\n", id)
	fmt.Fprintf(stdout, "valid:        %s to %s\n", a.NotBefore.Format(time.RFC3339), a.NotAfter.Format(time.RFC3339))
	fmt.Fprintf(stdout, "peers:        %d\n", a.Peers)
	for _, s := range a.Sections {
		fmt.Fprintf(stdout, "  served by %s: %d\n", s.ISP, a.PeersPerISP[s.ISP])
	}
	return nil
}
