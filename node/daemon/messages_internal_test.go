package daemon

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// TestAssertionMessages checks how a logged bundle becomes gossip
// messages: one when it fits, otherwise one per group of sections, each
// a valid message whose proof proves the assertion's object; and the
// strict decoding of messages.
func TestAssertionMessages(t *testing.T) {
	ctx := context.Background()
	key, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	content := protocol.ContentID("btih:c9e15763f722f23e98a29decdfae341b98d53056")
	cred, credID, err := protocol.IssueCredential(key, protocol.Credential{
		Subject: protocol.Subject{Name: "Holder", PublicKey: key.Public().DER()},
		Works:   []protocol.Work{{ID: "w", Title: "W", Content: []protocol.ContentID{content}}},
		Scope:   protocol.Scope{Regions: []string{"DE"}}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := protocol.Directory{}
	obs := protocol.Observation{Content: content, Swarm: content, PieceCount: 10,
		Observed: protocol.Window{Start: now.Add(-10 * time.Minute), End: now}}
	for i, name := range []string{"isp-a", "isp-b", "isp-c"} {
		id, err := seal.GenerateIdentity()
		if err != nil {
			t.Fatal(err)
		}
		pfx := netip.MustParsePrefix(fmt.Sprintf("198.51.100.%d/26", 64*i))
		dir.ISPs = append(dir.ISPs, protocol.DirectoryEntry{Name: name, Region: "DE", Recipient: id.Recipient().String(), Prefixes: []netip.Prefix{pfx}})
		obs.Peers = append(obs.Peers, protocol.ObservedPeer{Addr: pfx.Addr().Next(), Evidence: protocol.Evidence{
			Grade: protocol.GradeVerifiedTransfer, Port: 6881, Source: "tracker", Transport: "tcp",
			FirstSeen: now.Add(-9 * time.Minute), LastSeen: now.Add(-5 * time.Minute), PeerID: fmt.Sprintf("%040x", i+1), Bytes: 1,
			Pieces: []protocol.PieceProof{{Index: i, Hash: fmt.Sprintf("%040x", i+7), At: now.Add(-8 * time.Minute)}},
		}})
	}
	bundle, _, err := protocol.BuildAssertion(key, obs, dir, protocol.BuildOptions{Credential: credID, NotBefore: now})
	if err != nil {
		t.Fatal(err)
	}
	skey, vkey, err := note.GenerateKey(rand.Reader, "docket.test/log")
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := note.NewSigner(skey)
	verifier, _ := note.NewVerifier(vkey)
	l, err := tlog.Open(ctx, tlog.Config{Dir: t.TempDir(), Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close(ctx)
	proof, err := l.Submit(ctx, tlog.KindAssertion, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(proof.More) < 3 {
		t.Fatalf("the log's proof covers %d entries; want the object and the sections' parts", 1+len(proof.More))
	}
	chain := [][]byte{cred}

	check := func(m []byte) *protocol.SignedAssertion {
		t.Helper()
		am, sa, err := checkAssertionMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		n, err := objectEntries(sa)
		if err != nil {
			t.Fatal(err)
		}
		if 1+len(am.Proof.More) != n {
			t.Errorf("the message's proof covers %d entries, the object has %d", 1+len(am.Proof.More), n)
		}
		object, _ := protocol.EncodeBundle(sa.RawEnvelope, nil)
		entries, _ := tlog.Entries(tlog.KindAssertion, object)
		if _, err := am.Proof.Verify(entries, verifier); err != nil {
			t.Errorf("the message's proof does not prove the object: %v", err)
		}
		return sa
	}

	whole, err := assertionMessages(bundle, chain, proof, 1<<20)
	if err != nil || len(whole) != 1 {
		t.Fatalf("with room: %d messages, %v", len(whole), err)
	}
	if sa := check(whole[0]); len(sa.Sealed) != 3 {
		t.Errorf("the whole message carries %d sections, want 3", len(sa.Sealed))
	}

	// Just too small for the whole: split, every section in one message.
	split, err := assertionMessages(bundle, chain, proof, len(whole[0])-1)
	if err != nil {
		t.Fatal(err)
	}
	if len(split) < 2 {
		t.Fatalf("%d messages, want a split", len(split))
	}
	carried := map[string]int{}
	for _, m := range split {
		if len(m) > len(whole[0])-1 {
			t.Errorf("a message of %d bytes exceeds the limit", len(m))
		}
		for isp := range check(m).Sealed {
			carried[isp]++
		}
	}
	if len(carried) != 3 || carried["isp-a"] != 1 || carried["isp-b"] != 1 || carried["isp-c"] != 1 {
		t.Errorf("sections carried: %v, want each once", carried)
	}
	if _, err := assertionMessages(bundle, chain, proof, 1000); err == nil || !strings.Contains(err.Error(), "alone has") {
		t.Errorf("a limit too small for one section: %v", err)
	}

	// Strict decoding.
	for _, bad := range []string{
		`{"bundle":"e30=","chain":["e30="],"proof":{"index":0,"checkpoint":"x","inclusion":[]},"extra":1}`,
		`{"bundle":"e30=","bundle":"e30=","chain":["e30="],"proof":{"index":0,"checkpoint":"x","inclusion":[]}}`,
		`{"bundle":"e30=","chain":["e30="],"proof":{"index":0,"checkpoint":"","inclusion":[]}}`,
		`{"bundle":"e30=","chain":[],"proof":{"index":0,"checkpoint":"x","inclusion":[]}}`,
		`{"bundle":"e30=","chain":["e30=","e30=","e30="],"proof":{"index":0,"checkpoint":"x","inclusion":[]}}`,
		`{"bundle":"e30=","chain":["e30="],"proof":{"index":0,"checkpoint":"x","inclusion":[],"mode":1}}`,
		`[]`,
	} {
		if _, err := DecodeAssertionMessage([]byte(bad)); err == nil || protocol.CodeOf(err) == "" {
			t.Errorf("DecodeAssertionMessage(%s) = %v, want a coded rejection", bad, err)
		}
	}
	// A message whose chain is not the assertion's is rejected by every
	// node.
	am, err := DecodeAssertionMessage(whole[0])
	if err != nil {
		t.Fatal(err)
	}
	other, _, err := protocol.IssueCredential(key, protocol.Credential{
		Subject: protocol.Subject{Name: "Other", PublicKey: key.Public().DER()},
		Works:   []protocol.Work{{ID: "w", Title: "W", Content: []protocol.ContentID{content}}},
		Scope:   protocol.Scope{Regions: []string{"FR"}}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	am.Chain = [][]byte{other}
	wrong, _ := encodeJSON(am)
	if _, _, err := checkAssertionMessage(wrong); protocol.CodeOf(err) != protocol.CodeChainBroken {
		t.Errorf("a message whose chain is not the assertion's: %v, want CHAIN_BROKEN", err)
	}
}
