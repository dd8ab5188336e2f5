package main

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
)

func keygenCommand() *command {
	c := newCommand("keygen")
	c.summary = "generate a signing key and an age identity"
	c.synopsis = "--out DIR --name NAME [--alg ALG]"
	c.description = `
Generate a signing key and an age identity for one party (registrar, rights
holder, agent or ISP) and write three files:

  DIR/NAME.key  the signing key, PKCS#8 PEM, mode 0600
  DIR/NAME.pub  its public key, PEM: what others pass to --subject or --registrar
  DIR/NAME.age  an age identity file, mode 0600, readable by the age tool

Prints the key id and the age recipient an ISP publishes in its directory
entry. Existing files are never overwritten.`
	c.example = `
docket keygen --out keys --name registrar
docket keygen --out keys --name isp-a --alg ecdsa-p256`
	out := c.flags.String("out", "", "directory `DIR` to write the files to (required)")
	name := c.flags.String("name", "", "base `NAME` of the files (required)")
	alg := c.flags.String("alg", string(sign.Ed25519), "signing algorithm `ALG`: ed25519 or ecdsa-p256")
	c.run = func(_ []string, stdout io.Writer) error {
		if *out == "" || *name == "" {
			return usagef(c.name, "--out and --name are required")
		}
		if !validFileName(*name) {
			return usagef(c.name, "--name %q: use letters, digits, '.', '_' and '-', starting with a letter or digit", *name)
		}
		switch a := sign.Algorithm(*alg); a {
		case sign.Ed25519, sign.ECDSAP256:
			return keygen(stdout, *out, *name, a)
		}
		return usagef(c.name, "--alg %q: use ed25519 or ecdsa-p256", *alg)
	}
	return c
}

// keygen writes dir/name.key, .pub and .age and prints the key id and
// recipient.
func keygen(stdout io.Writer, dir, name string, alg sign.Algorithm) error {
	key, err := sign.Generate(alg)
	if err != nil {
		return err
	}
	keyPEM, err := key.MarshalPEM()
	if err != nil {
		return err
	}
	pubPEM, err := key.Public().MarshalPEM()
	if err != nil {
		return err
	}
	id, err := seal.GenerateIdentity()
	if err != nil {
		return err
	}
	base := filepath.Join(dir, name)
	err = writeFiles(false,
		outFile{path: base + ".key", data: keyPEM, perm: 0o600},
		outFile{path: base + ".pub", data: pubPEM, perm: 0o644},
		outFile{path: base + ".age", data: seal.IdentityFile(id, time.Now()), perm: 0o600},
	)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "key id:        %s\n", key.Public().ID())
	fmt.Fprintf(stdout, "age recipient: %s\n", id.Recipient())
	return nil
}

// validFileName reports whether name is a plain file name of letters,
// digits, '.', '_' and '-' that does not start with a dot or dash.
func validFileName(name string) bool {
	if name == "" {
		return false
	}
	for i, c := range name {
		letter := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !letter && (i == 0 || c != '.' && c != '_' && c != '-') {
			return false
		}
	}
	return true
}
