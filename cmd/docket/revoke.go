package main

import (
	"fmt"
	"io"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

func revokeCommand() *command {
	c := newCommand("revoke")
	c.summary = "revoke a credential"
	c.synopsis = "--key KEY --credential CRED --reason TEXT [--at TIME] --out FILE"
	c.description = `
Sign a revocation of --credential. Verifiers accept it only if --key issued
that credential or, for a delegation, is the registrar at the root of its
chain. ISPs pass revocations to "docket verify --revocation".

Prints the revocation id.`
	c.example = `
docket revoke --key keys/registrar.key --credential holder.cred.json \
  --reason "rights transferred" --out revocation.json`
	key := c.flags.String("key", "", "the revoking signing `KEY` (required)")
	credPath := c.flags.String("credential", "", "the credential `CRED` to revoke (required)")
	reason := c.flags.String("reason", "", "why, for humans: `TEXT` (required)")
	var at timeFlag
	c.flags.Var(&at, "at", "when the revocation is made, RFC 3339 `TIME` (default: now)")
	out := c.flags.String("out", "", "`FILE` to write the revocation to (required)")
	force := c.flags.Bool("force", false, "replace --out if it exists")
	c.run = func(_ []string, stdout io.Writer) error {
		if *key == "" || *credPath == "" || *reason == "" || *out == "" {
			return usagef(c.name, "--key, --credential, --reason and --out are required")
		}
		signer, err := readPrivateKey(*key)
		if err != nil {
			return err
		}
		cred, err := readCredential(*credPath)
		if err != nil {
			return err
		}
		r := protocol.Revocation{Credential: cred.ID, Reason: *reason, RevokedAt: at.or(now())}
		return revoke(stdout, signer, r, *out, *force)
	}
	return c
}

// revoke signs r, writes it to out and prints its id.
func revoke(stdout io.Writer, key *sign.PrivateKey, r protocol.Revocation, out string, force bool) error {
	env, id, err := protocol.SignRevocation(key, r)
	if err != nil {
		return err
	}
	if err := writeFiles(force, outFile{path: out, data: env, perm: 0o644}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revocation id: %s\n", id)
	return nil
}
