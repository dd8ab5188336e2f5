package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

// defaultValidity is how long a registrar's credential lasts unless told
// otherwise.
const defaultValidity = 365 * 24 * time.Hour

func credentialIssueCommand() *command {
	c := newCommand("credential issue")
	c.summary = "issue a credential to a rights holder (registrar)"
	c.synopsis = "--key KEY --subject PUB --name NAME WORKS SCOPE [VALIDITY] --out FILE"
	c.description = `
As a registrar, grant the holder of the --subject public key the right to
claim works within a scope, for a time. Works are given either as one work
(--work-id, --title and one or more --content) or as a JSON array of works
in --works, each {"id": ..., "title": ..., "content": [...]}. The scope is one
or more --isp names and/or --region codes (ISO 3166, such as DE or DE-BY).
Validity starts at --not-before (default: now) and ends at --not-after or
after --valid.

Prints the credential id.`
	c.example = `
docket credential issue --key keys/registrar.key --subject keys/holder.pub \
  --name "Example Films" --work-id film-1 --title "A Film" \
  --content btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a \
  --isp isp-a --region DE --valid 720h --out holder.cred.json`
	key := c.flags.String("key", "", "the registrar's signing `KEY` (required)")
	subject := c.flags.String("subject", "", "the holder's public key `PUB` (required)")
	name := c.flags.String("name", "", "the holder's `NAME`, for humans (required)")
	out := c.flags.String("out", "", "`FILE` to write the credential to (required)")
	force := c.flags.Bool("force", false, "replace --out if it exists")
	g := addGrantFlags(c.flags, false)
	c.run = func(_ []string, stdout io.Writer) error {
		if *key == "" || *subject == "" || *name == "" || *out == "" {
			return usagef(c.name, "--key, --subject, --name and --out are required")
		}
		works, ok, err := g.works(c.name)
		if err != nil {
			return err
		}
		if !ok {
			return usagef(c.name, "give --work-id, --title and --content, or --works")
		}
		scope, ok := g.scope()
		if !ok {
			return usagef(c.name, "give at least one --isp or --region")
		}
		start := g.notBefore.or(now())
		notBefore, notAfter, err := g.validity(c.name, start, start.Add(g.valid))
		if err != nil {
			return err
		}
		signer, err := readPrivateKey(*key)
		if err != nil {
			return err
		}
		holder, err := readPublicKey(*subject)
		if err != nil {
			return err
		}
		cred := protocol.Credential{
			Subject:   protocol.Subject{Name: *name, PublicKey: holder.DER()},
			Works:     works,
			Scope:     scope,
			NotBefore: notBefore,
			NotAfter:  notAfter,
		}
		return issue(stdout, signer, cred, *out, *force)
	}
	return c
}

func credentialDelegateCommand() *command {
	c := newCommand("credential delegate")
	c.summary = "delegate a narrower credential to an agent (rights holder)"
	c.synopsis = "--key KEY --parent CRED --subject PUB --name NAME [WORKS] [SCOPE] [VALIDITY] --out FILE"
	c.description = `
As a rights holder, delegate part of the credential --parent (issued to the
holder's --key) to the agent holding the --subject public key. Works, scope
and validity take the same flags as "credential issue" and default to the
parent's; a delegation may only narrow them, which verifiers check
(DELEGATION_WIDER). A chain holds at most one delegation.

Prints the credential id.`
	c.example = `
docket credential delegate --key keys/holder.key --parent holder.cred.json \
  --subject keys/agent.pub --name "Example Agent" --isp isp-a --valid 168h \
  --out agent.cred.json`
	key := c.flags.String("key", "", "the holder's signing `KEY`: the parent credential's subject (required)")
	parentPath := c.flags.String("parent", "", "the holder's credential `CRED` (required)")
	subject := c.flags.String("subject", "", "the agent's public key `PUB` (required)")
	name := c.flags.String("name", "", "the agent's `NAME`, for humans (required)")
	out := c.flags.String("out", "", "`FILE` to write the delegation to (required)")
	force := c.flags.Bool("force", false, "replace --out if it exists")
	g := addGrantFlags(c.flags, true)
	c.run = func(_ []string, stdout io.Writer) error {
		if *key == "" || *parentPath == "" || *subject == "" || *name == "" || *out == "" {
			return usagef(c.name, "--key, --parent, --subject, --name and --out are required")
		}
		works, ok, err := g.works(c.name)
		if err != nil {
			return err
		}
		parent, err := readCredential(*parentPath)
		if err != nil {
			return err
		}
		p := &parent.Credential
		if !ok {
			works = p.Works
		}
		scope, ok := g.scope()
		if !ok {
			scope = p.Scope
		}
		notBefore, notAfter, err := g.validity(c.name, p.NotBefore, p.NotAfter)
		if err != nil {
			return err
		}
		signer, err := readPrivateKey(*key)
		if err != nil {
			return err
		}
		agent, err := readPublicKey(*subject)
		if err != nil {
			return err
		}
		cred := protocol.Credential{
			Subject:   protocol.Subject{Name: *name, PublicKey: agent.DER()},
			Works:     works,
			Scope:     scope,
			NotBefore: notBefore,
			NotAfter:  notAfter,
		}
		env, id, err := protocol.Delegate(signer, parent, cred)
		if err != nil {
			return err
		}
		return writeCredential(stdout, env, id, *out, *force)
	}
	return c
}

// issue signs cred with key, writes the envelope to out and prints its id.
func issue(stdout io.Writer, key *sign.PrivateKey, cred protocol.Credential, out string, force bool) error {
	env, id, err := protocol.IssueCredential(key, cred)
	if err != nil {
		return err
	}
	return writeCredential(stdout, env, id, out, force)
}

// writeCredential writes a signed credential to out and prints its id.
func writeCredential(stdout io.Writer, env []byte, id protocol.ID, out string, force bool) error {
	if err := writeFiles(force, outFile{path: out, data: env, perm: 0o644}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "credential id: %s\n", id)
	return nil
}

// grantFlags are the flags that say what a credential grants: works, scope
// and validity.
type grantFlags struct {
	fs        *flag.FlagSet
	workID    string
	title     string
	content   stringList
	worksFile string
	isps      stringList
	regions   stringList
	notBefore timeFlag
	notAfter  timeFlag
	valid     time.Duration
}

// addGrantFlags registers the grant flags on fs. For a delegation, every
// one defaults to the parent credential's value.
func addGrantFlags(fs *flag.FlagSet, delegation bool) *grantFlags {
	g := &grantFlags{fs: fs}
	start, inherited, valid := " (default: now)", "", defaultValidity
	if delegation {
		start, inherited, valid = " (default: the parent's)", " (default: the parent's)", 0
	}
	fs.StringVar(&g.workID, "work-id", "", "`ID` of the one work granted"+inherited)
	fs.StringVar(&g.title, "title", "", "`TITLE` of the one work granted")
	fs.Var(&g.content, "content", "content id `CID` of the work, repeatable: btih:, btmh: or bt2file:")
	fs.StringVar(&g.worksFile, "works", "", "JSON `FILE` holding an array of works, instead of --work-id, --title, --content"+inherited)
	fs.Var(&g.isps, "isp", "`NAME` of an ISP in scope, repeatable"+inherited)
	fs.Var(&g.regions, "region", "ISO 3166 region `CC` in scope, such as DE or DE-BY, repeatable"+inherited)
	fs.Var(&g.notBefore, "not-before", "start of validity, RFC 3339 `TIME`"+start)
	fs.Var(&g.notAfter, "not-after", "end of validity, RFC 3339 `TIME`"+inherited)
	fs.DurationVar(&g.valid, "valid", valid, "validity `DURATION` from --not-before, instead of --not-after")
	return g
}

// works returns the works the flags give, and whether they give any.
func (g *grantFlags) works(verb string) ([]protocol.Work, bool, error) {
	single := g.workID != "" || g.title != "" || len(g.content) > 0
	switch {
	case single && g.worksFile != "":
		return nil, false, usagef(verb, "give either --work-id, --title and --content, or --works")
	case g.worksFile != "":
		var works []protocol.Work
		if err := readJSON(g.worksFile, &works); err != nil {
			return nil, false, err
		}
		return works, true, nil
	case single:
		if g.workID == "" || g.title == "" || len(g.content) == 0 {
			return nil, false, usagef(verb, "--work-id, --title and --content go together")
		}
		ids := make([]protocol.ContentID, len(g.content))
		for i, s := range g.content {
			id, err := protocol.ParseContentID(s)
			if err != nil {
				return nil, false, err
			}
			ids[i] = id
		}
		return []protocol.Work{{ID: g.workID, Title: g.title, Content: ids}}, true, nil
	}
	return nil, false, nil
}

// scope returns the scope the flags give, and whether they give any.
func (g *grantFlags) scope() (protocol.Scope, bool) {
	s := protocol.Scope{ISPs: g.isps, Regions: g.regions}
	return s, len(s.ISPs)+len(s.Regions) > 0
}

// validity returns not_before and not_after from the flags, with defStart
// and defEnd for what they leave out.
func (g *grantFlags) validity(verb string, defStart, defEnd time.Time) (time.Time, time.Time, error) {
	valid := isSet(g.fs, "valid")
	switch {
	case valid && g.notAfter.set:
		return time.Time{}, time.Time{}, usagef(verb, "give either --not-after or --valid")
	case valid && g.valid <= 0:
		return time.Time{}, time.Time{}, usagef(verb, "--valid must be positive")
	}
	start := g.notBefore.or(defStart)
	switch {
	case g.notAfter.set:
		return start, g.notAfter.t, nil
	case valid:
		return start, start.Add(g.valid), nil
	}
	return start, defEnd, nil
}
