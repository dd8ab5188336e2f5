package main

import (
	"fmt"
	"io"
	"time"

	"filippo.io/age"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

func assertInspectCommand() *command {
	c := newCommand("assert inspect")
	c.summary = "show an assertion's public part, or open one ISP's section"
	c.synopsis = "FILE [--identity AGE [--isp NAME]] [--extract-section NAME --out FILE]"
	c.description = `
Print the public part of the assertion FILE as JSON: what anyone can see,
with the sealed sections shown only by ISP, recipient and size. With
--identity, also open the section sealed to that age identity (or the one of
--isp) and print its peers under "opened". With --extract-section, write
that ISP's sealed section to --out as an age file, which
"age -d -i IDENTITY FILE" opens.

Inspect checks the file's form, not its signature or its contents: use
"docket verify" to decide whether to act on it.`
	c.example = `
docket assert inspect assertion.json
docket assert inspect assertion.json --identity keys/isp-a.age
docket assert inspect assertion.json --extract-section isp-a --out isp-a.section.age
docket assert inspect assertion.json --bundle-for isp-a --out isp-a.bundle.json`
	c.args = 1
	identity := c.flags.String("identity", "", "age identity `AGE` whose section to open")
	isp := c.flags.String("isp", "", "`NAME` of the ISP whose section --identity opens (default: the section sealed to it)")
	extract := c.flags.String("extract-section", "", "`NAME` of the ISP whose sealed section to write to --out")
	bundleFor := c.flags.String("bundle-for", "", "`NAME` of an ISP: write to --out the bundle as sent to it, with only its sealed section")
	out := c.flags.String("out", "", "`FILE` to write the extracted section or bundle to")
	force := c.flags.Bool("force", false, "replace --out if it exists")
	c.run = func(args []string, stdout io.Writer) error {
		switch {
		case *isp != "" && *identity == "":
			return usagef(c.name, "--isp needs --identity")
		case *extract != "" && *bundleFor != "":
			return usagef(c.name, "--extract-section and --bundle-for are exclusive")
		case (*extract == "" && *bundleFor == "") != (*out == ""):
			return usagef(c.name, "--extract-section or --bundle-for needs --out, and --out needs one of them")
		}
		data, err := readEnvelope(args[0], protocol.MaxAssertionBundle)
		if err != nil {
			return err
		}
		sa, err := protocol.DecodeAssertion(data)
		if err != nil {
			return annotate(args[0], err)
		}
		view := publicView(sa)
		if *identity != "" {
			id, err := readIdentity(*identity)
			if err != nil {
				return err
			}
			if view.Opened, err = openSection(sa, *isp, id); err != nil {
				return err
			}
		}
		if *extract != "" {
			sealed, ok := sa.Sealed[*extract]
			if !ok {
				return fmt.Errorf("failed to extract section: %s carries no section for %q", args[0], *extract)
			}
			if err := writeFiles(*force, outFile{path: *out, data: sealed, perm: 0o644}); err != nil {
				return err
			}
		}
		if *bundleFor != "" {
			if _, ok := sa.Sealed[*bundleFor]; !ok {
				return fmt.Errorf("failed to make bundle: %s carries no section for %q", args[0], *bundleFor)
			}
			bundle, err := sa.Bundle(*bundleFor)
			if err != nil {
				return err
			}
			if err := writeFiles(*force, outFile{path: *out, data: bundle, perm: 0o644}); err != nil {
				return err
			}
		}
		return writeJSON(stdout, view)
	}
	return c
}

// assertionView is the public part of an assertion as inspect prints it.
type assertionView struct {
	ID             protocol.ID              `json:"id"`
	Claimant       sign.KeyID               `json:"claimant"`
	Credential     protocol.ID              `json:"credential"`
	Content        protocol.ContentID       `json:"content"`
	Swarm          protocol.ContentID       `json:"swarm"`
	PieceCount     int                      `json:"piece_count"`
	Observed       protocol.Window          `json:"observed"`
	NotBefore      time.Time                `json:"not_before"`
	NotAfter       time.Time                `json:"not_after"`
	Peers          int                      `json:"peers"`
	PeersPerISP    map[string]int           `json:"peers_per_isp"`
	CommitmentRoot protocol.Bytes           `json:"commitment_root"`
	Sections       []sectionView            `json:"sections"`
	Opened         *protocol.SectionContent `json:"opened,omitzero"`
}

// sectionView describes a sealed section without its ciphertext.
type sectionView struct {
	ISP       string `json:"isp"`
	Recipient string `json:"recipient"`
	Size      int    `json:"size"`
}

func publicView(sa *protocol.SignedAssertion) *assertionView {
	a := &sa.Assertion
	v := &assertionView{
		ID:             sa.ID,
		Claimant:       a.Claimant,
		Credential:     a.Credential,
		Content:        a.Content,
		Swarm:          a.Swarm,
		PieceCount:     a.PieceCount,
		Observed:       a.Observed,
		NotBefore:      a.NotBefore,
		NotAfter:       a.NotAfter,
		Peers:          a.Peers,
		PeersPerISP:    a.PeersPerISP,
		CommitmentRoot: a.CommitmentRoot,
	}
	for _, s := range a.Sections {
		v.Sections = append(v.Sections, sectionView{ISP: s.ISP, Recipient: s.Recipient, Size: s.Size})
	}
	return v
}

// openSection opens the section of isp, or if isp is empty the one sealed
// to id's recipient, and decodes it.
func openSection(sa *protocol.SignedAssertion, isp string, id *age.X25519Identity) (*protocol.SectionContent, error) {
	a := &sa.Assertion
	recipient := id.Recipient().String()
	if isp == "" {
		for _, s := range a.Sections {
			if s.Recipient == recipient {
				isp = s.ISP
			}
		}
		if isp == "" {
			return nil, fmt.Errorf("failed to open section: no section is sealed to %s", recipient)
		}
	}
	sealed, ok := sa.Sealed[isp]
	if !ok {
		return nil, fmt.Errorf("failed to open section: the bundle carries no section for %q", isp)
	}
	plaintext, err := seal.Open(sealed, id, protocol.MaxSectionPlaintext)
	if err != nil {
		return nil, fmt.Errorf("failed to open section for %s: %w", isp, err)
	}
	sc, err := protocol.DecodeSection(plaintext)
	if err != nil {
		return nil, annotate("section for "+isp, err)
	}
	return sc, nil
}
