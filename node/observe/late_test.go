package observe_test

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/anacrolix/torrent"

	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// lateJoins is how many seeders join an observer that has verified every
// piece, and lateBound how soon each must be verified-transfer: a few
// seconds, less than the observer's default ProbeAfter.
const (
	lateJoins = 10
	lateBound = 5 * time.Second
)

// TestLateIncomingSeeders has an observer, configured as a claimant runs
// it, verify every piece from two seeders; then, one after another, new
// seeders on fresh addresses dial the observer, as seeders that learned
// its address from a tracker do. Each must be graded verified-transfer
// within lateBound of dialing: the observer only revisits pieces by then,
// at 16 KiB/s, yet it must accept the seeder's encrypted handshake, learn
// where it listens and fetch a piece from it.
func TestLateIncomingSeeders(t *testing.T) {
	tt := newV1Torrent(t, 16<<10)
	early := []netip.AddrPort{
		startPeer(t, tt, peerOpts{host: "127.0.0.101"}).addr,
		startPeer(t, tt, peerOpts{host: "127.0.0.102"}).addr,
	}
	o := newObserver(t, tt, "127.0.0.100", observe.Config{Discovery: observe.Discovery{NoTrackers: true}})
	self := observerAddr(t, o)
	if err := o.AddPeers("manual", early...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, o, 20*time.Second, "early seeders verified", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return m[early[0]].Evidence.Grade == protocol.GradeVerifiedTransfer && m[early[1]].Evidence.Grade == protocol.GradeVerifiedTransfer
	})
	// Once every piece is verified, the observer forgets one at a time
	// to fetch it again: all but one piece are complete from then on.
	deadline := time.Now().Add(20 * time.Second)
	for p := o.Progress(); p.Pieces < p.PieceCount-1; p = o.Progress() {
		if time.Now().After(deadline) {
			t.Fatalf("observer has %d of %d pieces", p.Pieces, p.PieceCount)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)

	var took []time.Duration
	var missed []string
	for i := range lateJoins {
		host := fmt.Sprintf("127.0.0.%d", 110+i)
		late := startPeer(t, tt, peerOpts{host: host})
		start := time.Now()
		late.t.AddPeers([]torrent.PeerInfo{{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(self)), Source: torrent.PeerSourceTracker}})
		verified := false
		for time.Since(start) < lateBound {
			m := map[netip.AddrPort]observe.PeerReport{}
			for _, r := range o.Peers() {
				m[r.Addr] = r
			}
			if e := reportsByIP(m)[late.addr.Addr()].Evidence; e.Grade == protocol.GradeVerifiedTransfer {
				if e.Source != "incoming" {
					t.Errorf("late seeder %s: verified from source %s, want incoming (the observer never dials it)", host, e.Source)
				}
				verified = true
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if !verified {
			missed = append(missed, host)
			t.Logf("late seeder %s: not verified within %v", host, lateBound)
			continue
		}
		took = append(took, time.Since(start))
		t.Logf("late seeder %s verified %v after it dialed", host, took[len(took)-1].Round(time.Millisecond))
	}
	slices.Sort(took)
	summary := fmt.Sprintf("%d of %d late seeders missed %v; the others took %v", len(missed), lateJoins, missed, roundAll(took))
	if len(missed) > 0 {
		t.Fatal(summary)
	}
	t.Log(summary)
	if n := o.UploadedBytes(); n != 0 {
		t.Errorf("observer uploaded %d bytes", n)
	}
	obs, err := o.Observation()
	if err != nil {
		t.Fatal(err)
	}
	buildAndVerify(t, obs)
}

// roundAll rounds each duration to the millisecond.
func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}
