package daemon

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/p2p"
	"github.com/docket-project/docket/protocol"
)

// maxAnnouncements bounds the announcements a node keeps.
const maxAnnouncements = 4096

// topics returns the gossip topics every node joins, so that it relays
// them whatever its roles.
func (d *Daemon) topics() []p2p.Topic {
	return []p2p.Topic{
		{Name: p2p.TopicAssertion, Validate: d.validateAssertion, Deliver: d.deliverAssertion},
		{Name: p2p.TopicRevocation, Validate: d.validateRevocation, Deliver: d.deliverRevocation},
		{Name: p2p.TopicAnnouncement, Validate: d.validateAnnouncement, Deliver: d.deliverAnnouncement},
	}
}

// verdict counts a validator's verdict and returns err: nil accepts,
// p2p.Ignore drops without blame, anything else rejects.
func (d *Daemon) verdict(topic string, err error) error {
	result, code := "accept", ""
	switch {
	case err == nil:
	case p2p.IsIgnore(err):
		result, code = "ignore", string(protocol.CodeOf(err))
	default:
		result, code = "reject", string(protocol.CodeOf(err))
	}
	d.metrics.gossip.WithLabelValues(topic, result, code).Inc()
	key := result
	if code != "" {
		key += " " + code
	}
	d.gossipMu.Lock()
	if d.gossipCounts[topic] == nil {
		d.gossipCounts[topic] = map[string]uint64{}
	}
	d.gossipCounts[topic][key]++
	d.gossipMu.Unlock()
	return err
}

// validateAssertion checks an assertion message as every node can,
// whatever it trusts: strict decoding of the message, the bundle and the
// chain, that the chain's last credential is the assertion's and names
// its claimant, and the claimant's signature. Those failures reject the
// message (its sender loses score). An assertion outside its validity is
// ignored: not forwarded, and for an ISP it addresses, decided (and
// receipted EXPIRED) without being passed on. Trust in the chain's
// registrar and in the log is left to the ISPs, which may differ.
func (d *Daemon) validateAssertion(_ context.Context, from peer.ID, data []byte) error {
	m, sa, err := checkAssertionMessage(data)
	if err != nil {
		return d.verdict(p2p.TopicAssertion, err)
	}
	if from == d.node.ID() {
		// The node's own publication: the claimant chose to send it.
		return d.verdict(p2p.TopicAssertion, nil)
	}
	now := time.Now()
	switch {
	case now.Add(-protocol.DefaultClockSkew).After(sa.Assertion.NotAfter):
		if d.isp != nil {
			d.isp.offer(job{assertion: m, sa: sa})
		}
		return d.verdict(p2p.TopicAssertion, p2p.Ignore(&protocol.Error{Code: protocol.CodeExpired,
			Msg: fmt.Sprintf("assertion %s expired at %s", sa.ID, sa.Assertion.NotAfter.Format(time.RFC3339))}))
	case now.Add(protocol.DefaultClockSkew).Before(sa.Assertion.NotBefore):
		return d.verdict(p2p.TopicAssertion, p2p.Ignore(&protocol.Error{Code: protocol.CodeNotYetValid,
			Msg: fmt.Sprintf("assertion %s is valid from %s", sa.ID, sa.Assertion.NotBefore.Format(time.RFC3339))}))
	}
	return d.verdict(p2p.TopicAssertion, nil)
}

// checkAssertionMessage decodes an assertion message and checks what
// needs no trust: its structure and the claimant's signature.
func checkAssertionMessage(data []byte) (*AssertionMessage, *protocol.SignedAssertion, error) {
	m, err := DecodeAssertionMessage(data)
	if err != nil {
		return nil, nil, err
	}
	sa, err := protocol.DecodeAssertion(m.Bundle)
	if err != nil {
		return nil, nil, err
	}
	var leaf *protocol.SignedCredential
	for _, c := range m.Chain {
		if leaf, err = protocol.DecodeCredential(c); err != nil {
			return nil, nil, err
		}
	}
	if sa.Assertion.Credential != leaf.ID {
		return nil, nil, &protocol.Error{Code: protocol.CodeChainBroken,
			Msg: fmt.Sprintf("assertion names credential %s, the chain ends in %s", sa.Assertion.Credential, leaf.ID)}
	}
	if sa.Assertion.Claimant != leaf.Subject.ID() {
		return nil, nil, &protocol.Error{Code: protocol.CodeWrongKey,
			Msg: fmt.Sprintf("assertion's claimant %s is not its credential's subject %s", sa.Assertion.Claimant, leaf.Subject.ID())}
	}
	if err := sa.Envelope.Verify(leaf.Subject); err != nil {
		return nil, nil, &protocol.Error{Code: protocol.CodeBadSignature, Msg: "the assertion's signature does not verify", Err: err}
	}
	return m, sa, nil
}

func (d *Daemon) deliverAssertion(msg p2p.Message) {
	if d.isp == nil {
		return
	}
	// The validator checked it; decoding again is cheap.
	m, err := DecodeAssertionMessage(msg.Data)
	if err != nil {
		return
	}
	sa, err := protocol.DecodeAssertion(m.Bundle)
	if err != nil {
		return
	}
	d.isp.offer(job{assertion: m, sa: sa})
}

// validateRevocation checks a revocation message's structure and, when the
// node knows the key that signed it (a trusted registrar's, or the subject
// key of a credential of the chain), its signature. Whether that key may
// revoke the credential is left to the ISPs.
func (d *Daemon) validateRevocation(_ context.Context, _ peer.ID, data []byte) error {
	_, _, err := d.checkRevocationMessage(data)
	return d.verdict(p2p.TopicRevocation, err)
}

func (d *Daemon) checkRevocationMessage(data []byte) (*RevocationMessage, *protocol.SignedRevocation, error) {
	m, err := DecodeRevocationMessage(data)
	if err != nil {
		return nil, nil, err
	}
	sr, err := protocol.DecodeRevocation(m.Revocation)
	if err != nil {
		return nil, nil, err
	}
	keys := slices.Clone(d.set.registrars)
	for _, c := range m.Chain {
		sc, err := protocol.DecodeCredential(c)
		if err != nil {
			return nil, nil, err
		}
		keys = append(keys, sc.Subject)
	}
	if k := keyByID(keys, sr.Revocation.Issuer); k != nil {
		if err := sr.Envelope.Verify(k); err != nil {
			return nil, nil, &protocol.Error{Code: protocol.CodeBadSignature, Msg: "the revocation's signature does not verify", Err: err}
		}
	}
	return m, sr, nil
}

func (d *Daemon) deliverRevocation(msg p2p.Message) {
	if d.isp == nil {
		return
	}
	m, sr, err := d.checkRevocationMessage(msg.Data)
	if err != nil {
		return
	}
	d.isp.offer(job{revocation: m, sr: sr})
}

// validateAnnouncement checks an ISP announcement: strict decoding, its
// validity now (an expired one is ignored), and its signature when the
// node trusts its issuer's key. A node that trusts some ISP keys ignores
// announcements by others; a node that trusts none relays them all, for
// claimants to judge.
func (d *Daemon) validateAnnouncement(_ context.Context, _ peer.ID, data []byte) error {
	_, err := d.checkAnnouncement(data, time.Now())
	return d.verdict(p2p.TopicAnnouncement, err)
}

func (d *Daemon) checkAnnouncement(data []byte, now time.Time) (*protocol.SignedAnnouncement, error) {
	sa, err := protocol.DecodeAnnouncement(data)
	if err != nil {
		return nil, err
	}
	a := sa.Announcement
	switch {
	case now.Add(-protocol.DefaultClockSkew).After(a.NotAfter):
		return nil, p2p.Ignore(&protocol.Error{Code: protocol.CodeExpired, Msg: fmt.Sprintf("announcement of %s expired", a.ISP)})
	case now.Add(protocol.DefaultClockSkew).Before(a.IssuedAt):
		return nil, p2p.Ignore(&protocol.Error{Code: protocol.CodeNotYetValid, Msg: fmt.Sprintf("announcement of %s is not valid yet", a.ISP)})
	}
	keys := d.ispKeys()
	k := keyByID(keys, a.Issuer)
	switch {
	case k != nil:
		if err := sa.Envelope.Verify(k); err != nil {
			return nil, &protocol.Error{Code: protocol.CodeBadSignature, Msg: fmt.Sprintf("announcement of %s: signature does not verify", a.ISP), Err: err}
		}
	case len(keys) > 0:
		return nil, p2p.Ignore(&protocol.Error{Code: protocol.CodeUntrustedISP, Msg: fmt.Sprintf("announcement of %s by untrusted key %s", a.ISP, a.Issuer)})
	}
	return sa, nil
}

// ispKeys are the ISP keys the node checks announcements with: the
// trusted ones and its own.
func (d *Daemon) ispKeys() []*sign.PublicKey {
	keys := d.set.isps
	if d.set.isp != nil {
		keys = append(slices.Clone(keys), d.set.isp.key.Public())
	}
	return keys
}

func (d *Daemon) deliverAnnouncement(msg p2p.Message) {
	sa, err := d.checkAnnouncement(msg.Data, time.Now())
	if err != nil {
		return
	}
	d.learn(msg.Data, sa)
}

// learn keeps an announcement and, on a claimant, rebuilds the directory.
func (d *Daemon) learn(raw []byte, sa *protocol.SignedAnnouncement) {
	if d.anns.add(raw, sa) && d.claimant != nil {
		d.claimant.rebuild()
	}
}

func keyByID(keys []*sign.PublicKey, id sign.KeyID) *sign.PublicKey {
	for _, k := range keys {
		if k.ID() == id {
			return k
		}
	}
	return nil
}

// announcementCache keeps the newest announcement of each ISP name and
// key that passed the node's checks, to build a claimant's directory and
// to answer peers that ask (the announcements protocol).
type announcementCache struct {
	mu    sync.Mutex
	byKey map[annKey]cachedAnnouncement // guarded by mu
}

type annKey struct {
	isp    string
	issuer sign.KeyID
}

type cachedAnnouncement struct {
	raw []byte
	sa  *protocol.SignedAnnouncement
}

// add keeps sa if it is newer than the one kept for its ISP and key, and
// reports whether it did.
func (c *announcementCache) add(raw []byte, sa *protocol.SignedAnnouncement) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byKey == nil {
		c.byKey = map[annKey]cachedAnnouncement{}
	}
	k := annKey{sa.Announcement.ISP, sa.Announcement.Issuer}
	if old, ok := c.byKey[k]; ok {
		oa := old.sa.Announcement
		if !sa.Announcement.IssuedAt.After(oa.IssuedAt) && (!sa.Announcement.IssuedAt.Equal(oa.IssuedAt) || sa.ID <= old.sa.ID) {
			return false
		}
	} else if len(c.byKey) >= maxAnnouncements {
		// Full: make room by dropping the one that expires first.
		var victim annKey
		first := true
		for key, v := range c.byKey {
			if first || v.sa.Announcement.NotAfter.Before(c.byKey[victim].sa.Announcement.NotAfter) {
				victim, first = key, false
			}
		}
		delete(c.byKey, victim)
	}
	c.byKey[k] = cachedAnnouncement{raw: raw, sa: sa}
	return true
}

// valid returns the announcements kept that are valid at now.
func (c *announcementCache) valid(now time.Time) []cachedAnnouncement {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []cachedAnnouncement
	for _, v := range c.byKey {
		if !now.Add(-protocol.DefaultClockSkew).After(v.sa.Announcement.NotAfter) {
			out = append(out, v)
		}
	}
	slices.SortFunc(out, func(a, b cachedAnnouncement) int {
		if a.sa.ID < b.sa.ID {
			return -1
		}
		if a.sa.ID > b.sa.ID {
			return 1
		}
		return 0
	})
	return out
}

func (c *announcementCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byKey)
}

// serveAnnouncements answers the announcements protocol with the valid
// announcements the node keeps, as many as fit the response limit.
func (d *Daemon) serveAnnouncements(_ context.Context, _ peer.ID, _ []byte) ([]byte, error) {
	var resp announcementsResponse
	size := 64
	for _, a := range d.anns.valid(time.Now()) {
		size += base64Len(len(a.raw)) + 3
		if size > announcementsProtocol.MaxResponse {
			break
		}
		resp.Announcements = append(resp.Announcements, a.raw)
	}
	if resp.Announcements == nil {
		resp.Announcements = [][]byte{}
	}
	return encodeJSON(&resp)
}

// fetchAnnouncements asks a peer for the announcements it knows and keeps
// those that pass the node's checks.
func (d *Daemon) fetchAnnouncements(ctx context.Context, p peer.ID) error {
	resp, err := d.node.Request(ctx, p, announcementsProtocol, nil)
	if err != nil {
		return err
	}
	var r announcementsResponse
	if err := decodeJSON(resp, &r); err != nil {
		return err
	}
	now := time.Now()
	for _, raw := range r.Announcements {
		if len(raw) > protocol.MaxAnnouncementEnvelope {
			continue
		}
		if sa, err := d.checkAnnouncement(raw, now); err == nil {
			d.learn(raw, sa)
		}
	}
	return nil
}
