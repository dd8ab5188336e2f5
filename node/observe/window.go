package observe

import (
	"errors"
	"net/netip"
	"slices"
	"time"

	"github.com/docket-project/docket/protocol"
)

// Progress is a snapshot of an observer's counters.
type Progress struct {
	// Known counts the addresses seen, whatever their grade.
	Known int
	// Connected counts the open connections that completed a handshake.
	Connected int
	// Verified counts the addresses graded verified-transfer.
	Verified int
	// Pieces counts the torrent's pieces verified, of PieceCount.
	Pieces     int
	PieceCount int
}

// Progress returns the observer's counters now.
func (o *Observer) Progress() Progress {
	// Stats takes the client's lock, which callbacks hold while they take
	// o.mu: never ask for it with o.mu held.
	pieces := o.t.Stats().PiecesComplete
	o.mu.Lock()
	defer o.mu.Unlock()
	p := Progress{Known: len(o.byAddr), Connected: len(o.byPeer), Pieces: pieces, PieceCount: len(o.shape.pieces)}
	for _, r := range o.byAddr {
		if o.evidence(r, o.view).Grade == protocol.GradeVerifiedTransfer {
			p.Verified++
		}
	}
	return p
}

// ObservationWindow is Observation restricted to what was seen from from
// to to, the window of the observation (from is moved up to the
// observer's start): a peer is in it if it was seen in the window, and its
// evidence holds only what the window holds. It is verified-transfer only
// if a piece it supplied was verified in the window; handshake if a
// handshake with it completed and it was seen in the window; first_seen
// and last_seen are cut to the window. Bytes counts every payload byte
// the peer supplied since the observer started. A peer last seen before
// from drops out. The result has no peers, and no error, if none was seen
// in the window.
func (o *Observer) ObservationWindow(from, to time.Time) (protocol.Observation, error) {
	from, to = from.UTC(), to.UTC()
	v := o.view
	o.mu.Lock()
	if from.Before(o.start) {
		from = o.start
	}
	if to.Before(from) {
		o.mu.Unlock()
		return protocol.Observation{}, errors.New("failed to build observation: the window ends before it starts or before the observer started")
	}
	reports := make([]PeerReport, 0, len(o.byAddr))
	for _, r := range o.byAddr {
		if r.lastSeen.Before(from) || r.firstSeen.After(to) {
			continue
		}
		reports = append(reports, PeerReport{Addr: r.addr, Evidence: o.windowEvidence(r, v, from, to)})
	}
	o.mu.Unlock()
	slices.SortFunc(reports, func(a, b PeerReport) int {
		if c := gradeRank(a.Evidence.Grade) - gradeRank(b.Evidence.Grade); c != 0 {
			return c
		}
		return a.Addr.Compare(b.Addr)
	})
	obs := protocol.Observation{
		Content:    v.content,
		Swarm:      v.swarm,
		PieceCount: len(o.shape.pieces),
		Observed:   protocol.Window{Start: from, End: to},
	}
	seen := map[netip.Addr]bool{}
	for _, r := range reports { // strongest first: the first per IP wins
		if seen[r.Addr.Addr()] {
			continue
		}
		if len(obs.Peers) == protocol.MaxPeers {
			break
		}
		seen[r.Addr.Addr()] = true
		obs.Peers = append(obs.Peers, protocol.ObservedPeer{Addr: r.Addr.Addr(), Evidence: r.Evidence})
	}
	slices.SortFunc(obs.Peers, func(a, b protocol.ObservedPeer) int { return a.Addr.Compare(b.Addr) })
	return obs, nil
}

// windowEvidence is evidence restricted to the window from..to, which r
// was seen in. The caller holds o.mu.
func (o *Observer) windowEvidence(r *peerRecord, v view, from, to time.Time) protocol.Evidence {
	e := o.evidence(r, v)
	if e.FirstSeen.Before(from) {
		e.FirstSeen = from
	}
	if e.LastSeen.After(to) {
		e.LastSeen = to
	}
	if e.Grade == protocol.GradeAnnounced || r.failed > 0 || r.bytes <= 0 {
		return e
	}
	e.Grade = protocol.GradeHandshake
	e.Pieces = nil
	for _, p := range r.pieces {
		if p.index < v.begin || p.index >= v.end || p.at.Before(from) || p.at.After(to) {
			continue
		}
		if len(e.Pieces) == protocol.MaxPiecesPerPeer {
			break
		}
		e.Pieces = append(e.Pieces, protocol.PieceProof{Index: p.index, Hash: o.shape.pieceHash(v, p.index), At: p.at})
	}
	if len(e.Pieces) > 0 {
		e.Grade = protocol.GradeVerifiedTransfer
	}
	return e
}
