package tlog_test

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// mustRefuse submits an object that the log must refuse with code, and
// checks that the tree did not change.
func (tl *testLog) mustRefuse(t *testing.T, object []byte, code protocol.Code) {
	t.Helper()
	before := tl.tree(t)
	if _, err := tl.log.Submit(t.Context(), tlog.KindAuto, object); protocol.CodeOf(err) != code {
		t.Fatalf("Submit: %v, want %s", err, code)
	}
	if status, body := tl.post(t, tlog.KindAuto, object); status != http.StatusBadRequest {
		t.Fatalf("POST /add: %d %s, want 400", status, body)
	}
	time.Sleep(3 * tlog.DefaultCheckpointInterval)
	if after := tl.tree(t); after != before {
		t.Fatalf("a refusal changed the tree: size %d → %d", before.N, after.N)
	}
}

// TestVerifiedChain: a log that trusts a registrar and an ISP takes a
// delegation once its parent is logged, assertions under either credential
// once it is logged, revocations by those who may revoke, and the ISP's
// announcements and receipts. It judges no policy: an expired credential,
// an assertion under it, and an assertion under a revoked credential are
// all logged.
func TestVerifiedChain(t *testing.T) {
	t.Parallel()
	o := newObjects(t)
	tl := newTrustedLog(t, o)
	agent, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	grant, grantID := o.credential(t, "Example Films")
	delegation, delegationID := o.delegation(t, grant, agent)
	byAgent := o.assertionBy(t, agent, delegationID)

	// Child before parent: refused until the parent is logged.
	tl.mustRefuse(t, delegation, protocol.CodeChainBroken)
	tl.mustRefuse(t, byAgent, protocol.CodeChainBroken)
	tl.submit(t, tlog.KindAuto, grant)
	tl.submit(t, tlog.KindAuto, o.assertion(t, grantID))
	tl.mustRefuse(t, byAgent, protocol.CodeChainBroken)
	tl.submit(t, tlog.KindAuto, delegation)
	tl.submit(t, tlog.KindAuto, byAgent)
	// The holder's own key does not sign for its agent.
	tl.mustRefuse(t, o.assertionBy(t, o.holder, delegationID), protocol.CodeWrongKey)

	// A credential that expired years ago is logged, and so is an
	// assertion under it.
	old := *o
	old.now = time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	expired, expiredID := old.credential(t, "Expired Films")
	if sc, err := protocol.DecodeCredential(expired); err != nil || !sc.Credential.NotAfter.Before(time.Now()) {
		t.Fatalf("credential is not expired: %v", err)
	}
	tl.submit(t, tlog.KindAuto, expired)
	tl.submit(t, tlog.KindAuto, old.assertion(t, expiredID))

	// The holder revokes its agent's delegation (spec/SPEC.md §7.3); an
	// assertion under it is still logged: revocation status is the
	// reader's business.
	holderRevokes := *o
	holderRevokes.registrar = o.holder
	tl.submit(t, tlog.KindAuto, holderRevokes.revocation(t, delegationID))
	tl.submit(t, tlog.KindAuto, o.revocation(t, delegationID))
	tl.submit(t, tlog.KindAuto, o.revocation(t, grantID))
	later := *o
	later.now = o.now.Add(time.Hour)
	tl.submit(t, tlog.KindAuto, later.assertionBy(t, agent, delegationID))
	// The agent may revoke nothing.
	agentRevokes := *o
	agentRevokes.registrar = agent
	tl.mustRefuse(t, agentRevokes.revocation(t, delegationID), protocol.CodeRevocationUnauthorized)

	// The trusted ISP's objects.
	tl.submit(t, tlog.KindAuto, o.announcement(t))
	tl.submit(t, tlog.KindAuto, o.receipt(t, grantID))
	// The registrar's key is no ISP's.
	tl.mustRefuse(t, o.receiptBy(t, o.registrar, grantID), protocol.CodeUntrustedISP)
}

// TestVerifiedAcrossRestart: the credentials a log verified are still
// known after it is closed and reopened. A credential logged while the log
// was open, as one logged just before a crash would be, is not known until
// it is submitted again: it is then answered with its first index and
// assertions under it are taken.
func TestVerifiedAcrossRestart(t *testing.T) {
	t.Parallel()
	o := newObjects(t)
	tl := newTestLog(t)
	early, earlyID := o.credential(t, "Early Films")
	first := tl.submit(t, tlog.KindAuto, early)
	tl.close()

	tl.registrars = []*sign.PublicKey{o.registrar.Public()}
	tl.isps = []*sign.PublicKey{o.isp.Public()}
	tl.open(t)
	cred, credID := o.credential(t, "Example Films")
	tl.submit(t, tlog.KindAuto, cred)
	tl.close()
	if _, err := os.Stat(filepath.Join(tl.dir, ".credentials")); err != nil {
		t.Fatalf("no credential index: %v", err)
	}

	tl.open(t)
	tl.submit(t, tlog.KindAuto, o.assertion(t, credID))
	earlyBundle := o.assertion(t, earlyID)
	tl.mustRefuse(t, earlyBundle, protocol.CodeChainBroken)
	if again := tl.submit(t, tlog.KindAuto, early); again.Index != first.Index {
		t.Errorf("credential submitted again got index %d, first %d", again.Index, first.Index)
	}
	tl.submit(t, tlog.KindAuto, earlyBundle)
}

// TestOpenLogVerifiesNothing: a log that trusts no registrar appends
// well-formed objects whoever signed them.
func TestOpenLogVerifiesNothing(t *testing.T) {
	t.Parallel()
	o := newObjects(t)
	tl := newTestLog(t)
	_, credID := o.credential(t, "Example Films")
	stranger, err := sign.Generate(sign.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	tl.submit(t, tlog.KindAuto, o.assertion(t, credID))
	tl.submit(t, tlog.KindAuto, o.receiptBy(t, stranger, credID))
	if _, err := os.Stat(filepath.Join(tl.dir, ".credentials")); !os.IsNotExist(err) {
		t.Errorf("an open log keeps a credential index: %v", err)
	}
}
