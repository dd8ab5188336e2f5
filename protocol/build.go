package protocol

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/docket-project/docket/crypto/commit"
	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
)

// Observation is what a claimant saw of one swarm: the input to
// BuildAssertion.
type Observation struct {
	Content    ContentID      `json:"content"`
	Swarm      ContentID      `json:"swarm"`
	PieceCount int            `json:"piece_count"`
	Observed   Window         `json:"observed"`
	Peers      []ObservedPeer `json:"peers"`
}

// ObservedPeer is one peer of an Observation.
type ObservedPeer struct {
	Addr     netip.Addr `json:"addr"`
	Evidence Evidence   `json:"evidence"`
}

// Directory maps ISPs to the prefixes they serve and the age recipients
// their sections are sealed to.
type Directory struct {
	ISPs []DirectoryEntry `json:"isps"`
}

// DirectoryEntry is one ISP of a Directory.
type DirectoryEntry struct {
	Name      string         `json:"name"`
	Region    string         `json:"region"`
	Recipient string         `json:"recipient"`
	Prefixes  []netip.Prefix `json:"prefixes"`
}

// Validate checks that every entry has a valid, distinct name, a region
// and a recipient.
func (d *Directory) Validate() error {
	seen := map[string]bool{}
	for _, e := range d.ISPs {
		if err := checkName("directory isp", e.Name); err != nil {
			return err
		}
		if seen[e.Name] {
			return errorf(CodeInvalidField, "directory lists ISP %s twice", e.Name)
		}
		seen[e.Name] = true
		if err := checkRegion(e.Region); err != nil {
			return err
		}
		if _, err := seal.ParseRecipient(e.Recipient); err != nil {
			return wrapf(CodeInvalidField, err, "directory entry %s", e.Name)
		}
	}
	return nil
}

// Route returns the name of the ISP whose prefix is the longest match for
// addr, or "" if none serves it.
func (d *Directory) Route(addr netip.Addr) string {
	best, bestBits := "", -1
	for _, isp := range d.ISPs {
		for _, p := range isp.Prefixes {
			if p.Contains(addr) && p.Bits() > bestBits {
				best, bestBits = isp.Name, p.Bits()
			}
		}
	}
	return best
}

// BuildOptions are the claimant's choices for BuildAssertion.
type BuildOptions struct {
	// Credential is the id of the claimant's credential.
	Credential ID
	// NotBefore is the start of validity; Life its length
	// (DefaultAssertionLife if zero).
	NotBefore time.Time
	Life      time.Duration
}

// BuildAssertion turns an observation into a signed assertion, returned as
// a bundle with every sealed section, and its id. Peers are
// routed to ISPs by longest-prefix match over dir, each addressed ISP gets a
// section sealed to its recipient holding the whole swarm with evidence for
// its own peers, and the public part carries counts and the commitment root.
// ISPs serving none of the peers get no section.
func BuildAssertion(key *sign.PrivateKey, obs Observation, dir Directory, opts BuildOptions) ([]byte, ID, error) {
	if err := dir.Validate(); err != nil {
		return nil, "", err
	}
	life := opts.Life
	if life == 0 {
		life = DefaultAssertionLife
	}
	if len(obs.Peers) == 0 {
		return nil, "", errorf(CodeMalformed, "observation has no peers")
	}
	peers := slices.Clone(obs.Peers)
	slices.SortFunc(peers, func(a, b ObservedPeer) int { return a.Addr.Compare(b.Addr) })
	salts := make([]Bytes, len(peers))
	leaves := make([][]byte, len(peers))
	owner := make([]string, len(peers))
	perISP := map[string]int{}
	for i, p := range peers {
		if i > 0 && peers[i-1].Addr == p.Addr {
			return nil, "", errorf(CodeInvalidField, "peer %s listed twice", p.Addr)
		}
		salts[i] = make(Bytes, commit.SaltSize)
		if _, err := rand.Read(salts[i]); err != nil {
			return nil, "", fmt.Errorf("failed to draw salt: %w", err)
		}
		leaf, err := commit.Leaf(salts[i], p.Addr)
		if err != nil {
			return nil, "", err
		}
		leaves[i] = leaf
		owner[i] = dir.Route(p.Addr)
		if owner[i] != "" {
			perISP[owner[i]]++
		}
	}
	a := Assertion{
		Claimant:       key.Public().ID(),
		Credential:     opts.Credential,
		Content:        obs.Content,
		Swarm:          obs.Swarm,
		PieceCount:     obs.PieceCount,
		Observed:       obs.Observed,
		NotBefore:      opts.NotBefore,
		NotAfter:       opts.NotBefore.Add(life),
		Peers:          len(peers),
		PeersPerISP:    perISP,
		CommitmentRoot: commit.Root(leaves),
	}
	for _, p := range peers {
		if err := checkEvidence(&p.Evidence, &a); err != nil {
			return nil, "", &Error{Code: err.Code, Msg: "peer " + p.Addr.String() + ": " + err.Msg}
		}
	}
	var sealed []SealedSection
	isps := slices.Clone(dir.ISPs)
	slices.SortFunc(isps, func(a, b DirectoryEntry) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	for _, isp := range isps {
		if perISP[isp.Name] == 0 {
			continue
		}
		content := SectionContent{ISP: isp.Name, Peers: make([]Peer, len(peers))}
		for i, p := range peers {
			content.Peers[i] = Peer{Addr: p.Addr, Salt: salts[i]}
			if owner[i] == isp.Name {
				content.Peers[i].Evidence = &p.Evidence
			}
		}
		plaintext, err := marshal(&content)
		if err != nil {
			return nil, "", err
		}
		recipient, err := seal.ParseRecipient(isp.Recipient)
		if err != nil {
			return nil, "", wrapf(CodeInvalidField, err, "directory entry %s", isp.Name)
		}
		data, err := seal.Seal(plaintext, recipient)
		if err != nil {
			return nil, "", err
		}
		sum := sha256.Sum256(data)
		a.Sections = append(a.Sections, Section{ISP: isp.Name, Recipient: isp.Recipient, SHA256: sum[:], Size: len(data)})
		sealed = append(sealed, SealedSection{ISP: isp.Name, Data: data})
	}
	if len(a.Sections) == 0 {
		return nil, "", errorf(CodeNoSection, "no peer is served by any ISP of the directory")
	}
	env, id, err := signObject(key, AssertionType, &a)
	if err != nil {
		return nil, "", err
	}
	bundle, err := EncodeBundle(env, sealed)
	if err != nil {
		return nil, "", err
	}
	if len(bundle) > MaxAssertionBundle {
		return nil, "", errorf(CodeOversize, "the full bundle would be %d bytes, limit %d: split the swarm or address fewer ISPs", len(bundle), MaxAssertionBundle)
	}
	return bundle, id, nil
}
