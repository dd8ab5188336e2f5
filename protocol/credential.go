package protocol

import (
	"slices"
	"time"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/sign"
)

// Credential grants its subject's key the right to claim the listed works,
// inside a scope, for a time (spec/SPEC.md §4). A registrar issues one to a
// rights holder; a rights holder may delegate a narrower one to an agent,
// naming its own credential as Parent.
type Credential struct {
	// Issuer is the key id of the signer: a registrar's key, or for a
	// delegation the parent credential's subject key.
	Issuer sign.KeyID `json:"issuer"`
	// Parent is the id of the credential this one is delegated from; empty
	// for a registrar's grant.
	Parent ID `json:"parent,omitzero"`
	// Subject is who may make claims with this credential.
	Subject Subject `json:"subject"`
	// Works are what the subject may claim.
	Works []Work `json:"works"`
	// Scope is which ISPs the subject may address.
	Scope Scope `json:"scope"`
	// NotBefore and NotAfter bound the credential's validity.
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
}

// Subject is a credential's holder.
type Subject struct {
	// Name is a human-readable name of the holder.
	Name string `json:"name"`
	// PublicKey is the holder's DER SubjectPublicKeyInfo.
	PublicKey Bytes `json:"public_key"`
}

// Work is one work and the content ids that carry it.
type Work struct {
	// ID is the registrar's identifier for the work.
	ID string `json:"id"`
	// Title is the work's title, for humans.
	Title string `json:"title"`
	// Content lists the content ids of the work.
	Content []ContentID `json:"content"`
}

// Scope says which ISPs a credential's holder may address: an ISP is in
// scope if its name is in ISPs or its region is in Regions (a country code
// covers all its subdivisions).
type Scope struct {
	ISPs    []string `json:"isps,omitzero"`
	Regions []string `json:"regions,omitzero"`
}

// Covers reports whether the ISP with the given name and region is in scope.
func (s Scope) Covers(isp, region string) bool {
	if slices.Contains(s.ISPs, isp) {
		return true
	}
	for _, r := range s.Regions {
		if r == region || (len(region) > 2 && len(r) == 2 && region[:2] == r && region[2] == '-') {
			return true
		}
	}
	return false
}

// contains reports whether every ISP and region of inner is also in s.
func (s Scope) contains(inner Scope) bool {
	for _, isp := range inner.ISPs {
		if !slices.Contains(s.ISPs, isp) {
			return false
		}
	}
	for _, r := range inner.Regions {
		if !s.Covers("", r) {
			return false
		}
	}
	return true
}

// Covers reports whether content is among the credential's works.
func (c *Credential) Covers(content ContentID) bool {
	for _, w := range c.Works {
		if slices.Contains(w.Content, content) {
			return true
		}
	}
	return false
}

// Validate checks the credential's fields against the spec's domains and
// limits. It does not check signatures or time.
func (c *Credential) Validate() error {
	if !c.Issuer.Valid() {
		return errorf(CodeMalformed, "issuer %q is not a key id", truncate(string(c.Issuer)))
	}
	if err := checkText("subject.name", c.Subject.Name, MaxTitleLength, false); err != nil {
		return err
	}
	if len(c.Subject.PublicKey) == 0 {
		return errorf(CodeMalformed, "subject.public_key is missing")
	}
	if _, err := sign.ParsePublicKeyDER(c.Subject.PublicKey); err != nil {
		return wrapf(CodeInvalidField, err, "subject.public_key is not an accepted key")
	}
	if len(c.Works) == 0 {
		return errorf(CodeMalformed, "works is empty")
	}
	if len(c.Works) > MaxWorks {
		return errorf(CodeOversize, "%d works, limit %d", len(c.Works), MaxWorks)
	}
	seenWork := make(map[string]bool, len(c.Works))
	for _, w := range c.Works {
		if err := checkName("work id", w.ID); err != nil {
			return err
		}
		if seenWork[w.ID] {
			return errorf(CodeInvalidField, "work %q listed twice", w.ID)
		}
		seenWork[w.ID] = true
		if err := checkText("work title", w.Title, MaxTitleLength, false); err != nil {
			return err
		}
		if len(w.Content) == 0 {
			return errorf(CodeMalformed, "work %q has no content ids", w.ID)
		}
		if len(w.Content) > MaxContentIDsPerWork {
			return errorf(CodeOversize, "work %q has %d content ids, limit %d", w.ID, len(w.Content), MaxContentIDsPerWork)
		}
		for _, id := range w.Content {
			if _, err := ParseContentID(string(id)); err != nil {
				return err
			}
		}
	}
	n := len(c.Scope.ISPs) + len(c.Scope.Regions)
	if n == 0 {
		return errorf(CodeMalformed, "scope names no ISP and no region")
	}
	if n > MaxScopeEntries {
		return errorf(CodeOversize, "scope has %d entries, limit %d", n, MaxScopeEntries)
	}
	for _, isp := range c.Scope.ISPs {
		if err := checkName("scope isp", isp); err != nil {
			return err
		}
	}
	for _, r := range c.Scope.Regions {
		if err := checkRegion(r); err != nil {
			return err
		}
	}
	return checkValidity(c.NotBefore, c.NotAfter)
}

// SignedCredential is a decoded credential envelope whose fields are valid.
// Its signature is not yet verified.
type SignedCredential struct {
	ID         ID
	Credential Credential
	Subject    *sign.PublicKey
	Envelope   *dsse.Envelope
}

// DecodeCredential decodes and validates a credential envelope without
// checking its signature.
func DecodeCredential(data []byte) (*SignedCredential, error) {
	sc := &SignedCredential{}
	env, err := decodeObject(data, MaxCredentialEnvelope, CredentialType, "credential", &sc.Credential)
	if err != nil {
		return nil, err
	}
	sc.ID, sc.Envelope = IDOf(env.Payload), env
	// Validate parsed the key already; parse again to keep it.
	sc.Subject, _ = sign.ParsePublicKeyDER(sc.Credential.Subject.PublicKey)
	return sc, nil
}

// Delegate issues a delegation of parent to child's subject: it sets
// child.Parent, checks that key is parent's subject, that parent is a
// registrar's grant (chains hold one delegation at most) and that child is
// no wider than parent, then signs with IssueCredential.
func Delegate(key *sign.PrivateKey, parent *SignedCredential, child Credential) ([]byte, ID, error) {
	if !key.Public().Equal(parent.Subject) {
		return nil, "", errorf(CodeWrongKey, "only the subject of credential %s may delegate it", parent.ID)
	}
	if parent.Credential.Parent != "" {
		return nil, "", errorf(CodeChainTooDeep, "credential %s is itself a delegation", parent.ID)
	}
	child.Parent = parent.ID
	if err := checkNarrower(&parent.Credential, &child); err != nil {
		return nil, "", err
	}
	return IssueCredential(key, child)
}

// IssueCredential validates c, sets its Issuer to key's id and signs it. It
// returns the envelope and the credential's id.
func IssueCredential(key *sign.PrivateKey, c Credential) ([]byte, ID, error) {
	c.Issuer = key.Public().ID()
	return signObject(key, CredentialType, &c)
}
