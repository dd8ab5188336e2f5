package observe

import (
	"net/netip"
	"testing"
	"time"

	"github.com/anacrolix/torrent"
)

// TestProbeCandidates checks which peers are due for a probe and where
// each is dialed: a peer that dialed the observer at the listen port it
// gave, or else at an address of its IP that a source listed; one whose
// listen address is unknown not at all; a peer connected for less than
// ProbeAfter only once every piece has been verified; connected peers
// before gone ones when few probes are free; and a peer being probed not
// again.
func TestProbeCandidates(t *testing.T) {
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	const after = 5 * time.Second
	o := &Observer{byAddr: map[netip.AddrPort]*peerRecord{}, byPeer: map[*torrent.Peer]*peerRecord{}}
	add := func(addr, source string, connectedFor time.Duration) *peerRecord {
		a := netip.MustParseAddrPort(addr)
		r := &peerRecord{addr: a, source: source}
		if connectedFor > 0 {
			r.handshake = true
			r.handshakeAt = now.Add(-connectedFor)
		}
		o.byAddr[a] = r
		return r
	}
	withPort := add("192.0.2.1:50001", "incoming", time.Minute)
	withPort.listenPort = 6881
	listed := add("192.0.2.2:50002", "incoming", time.Minute)
	add("192.0.2.2:6882", "tracker", 0) // listed, never connected
	add("192.0.2.3:50003", "incoming", time.Minute)
	recent := add("192.0.2.4:6881", "pex", time.Second)
	verified := add("192.0.2.5:6881", "manual", time.Minute)
	verified.pieces = []verifiedPiece{{index: 0, at: now}}
	failing := add("192.0.2.6:6881", "manual", time.Minute)
	failing.failed = 1

	dials := func(targets []probeTarget) map[*peerRecord]netip.AddrPort {
		m := map[*peerRecord]netip.AddrPort{}
		for _, pt := range targets {
			m[pt.r] = pt.dial
		}
		return m
	}
	got := dials(o.probeCandidates(now, after, 0))
	want := map[*peerRecord]netip.AddrPort{
		withPort: netip.MustParseAddrPort("192.0.2.1:6881"),
		listed:   netip.MustParseAddrPort("192.0.2.2:6882"),
	}
	if len(got) != len(want) {
		t.Fatalf("due: %v, want %v", got, want)
	}
	for r, d := range want {
		if got[r] != d {
			t.Errorf("%s: dialed at %v, want %v", r.addr, got[r], d)
		}
		if !r.probing || r.probes != 1 {
			t.Errorf("%s: probing %t, %d probes after being chosen", r.addr, r.probing, r.probes)
		}
	}
	if again := o.probeCandidates(now, after, 0); len(again) != 0 {
		t.Errorf("peers being probed chosen again: %v", dials(again))
	}

	// Once every piece is verified, a peer is due as soon as it connected.
	o.allVerified = true
	if got := dials(o.probeCandidates(now, after, 0)); len(got) != 1 || got[recent] != recent.addr {
		t.Errorf("every piece verified: due %v, want only %s", got, recent.addr)
	}

	// With one probe free, a peer still connected goes before a gone one
	// probed as often.
	for _, r := range o.byAddr {
		r.probing, r.probes = false, 0
	}
	o.byPeer[&torrent.Peer{}] = listed
	if got := dials(o.probeCandidates(now, after, maxConcurrentProbes-1)); len(got) != 1 || got[listed] == (netip.AddrPort{}) {
		t.Errorf("one probe free: chose %v, want the connected %s", got, listed.addr)
	}
	if got := o.probeCandidates(now, after, maxConcurrentProbes); len(got) != 0 {
		t.Errorf("no probe free: chose %v", dials(got))
	}
}
