package observe

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/anacrolix/torrent/metainfo"
	pp "github.com/anacrolix/torrent/peer_protocol"
)

// Probing. anacrolix spreads requests for speed, not for evidence: the
// peers that answer first take most requests, and a peer whose requests
// are all taken over by faster ones may finish an observation with a
// handshake and not one verified piece. A probe fixes that: it opens a
// connection of its own to such a peer, asks it for one piece and checks
// it. It speaks the bare BitTorrent protocol (BEP 3) and sends only a
// handshake, interested, and requests: no bitfield, no have, never a
// block, so it uploads nothing.

const (
	// maxProbes is how many times one address is probed.
	maxProbes = 3
	// maxConcurrentProbes bounds the probes running at once.
	maxConcurrentProbes = 8
	// probeTimeout bounds one probe, from dial to verified piece.
	probeTimeout = 30 * time.Second
	// probeRequests is how many block requests a probe keeps in flight.
	probeRequests = 16
)

// probeTick is how often the peers due for a probe are looked for.
const probeTick = 250 * time.Millisecond

// probeTarget is a peer to probe: the record that gets the result, and
// the address to dial (its listen address, for a peer that dialed the
// observer).
type probeTarget struct {
	r    *peerRecord
	dial netip.AddrPort
}

// probeCandidates returns the peers due for a probe, marking them as
// being probed: connected for at least after (at once when every piece
// has been verified), without a verified piece or a failure. A peer that
// dialed the observer is dialed at the listen port it gave (BEP 10 "p"),
// or failing that at an address of its IP that a source listed or the
// observer reached. Peers still connected come first, then those probed
// least, then the longest connected. The caller holds o.mu.
func (o *Observer) probeCandidates(now time.Time, after time.Duration, running int) []probeTarget {
	if o.allVerified {
		after = 0
	}
	connected := map[*peerRecord]bool{}
	for _, r := range o.byPeer {
		connected[r] = true
	}
	// listening holds, per IP, an address where a peer of that IP
	// listens, preferring one confirmed by a handshake or by the peer.
	type listenAddr struct {
		addr      netip.AddrPort
		confirmed bool
	}
	listening := map[netip.Addr]listenAddr{}
	for _, r := range o.byAddr {
		l := listenAddr{addr: r.addr, confirmed: r.handshake}
		if r.source == "incoming" {
			if r.listenPort == 0 {
				continue
			}
			l = listenAddr{addr: netip.AddrPortFrom(r.addr.Addr(), r.listenPort), confirmed: true}
		}
		if cur, ok := listening[l.addr.Addr()]; !ok || !cur.confirmed && l.confirmed {
			listening[l.addr.Addr()] = l
		}
	}
	var due []probeTarget
	for _, r := range o.byAddr {
		if !r.handshake || r.probing || r.probes >= maxProbes || len(r.pieces) > 0 || r.failed > 0 || now.Sub(r.handshakeAt) < after {
			continue
		}
		dial := r.addr
		if r.source == "incoming" {
			switch l, ok := listening[r.addr.Addr()]; {
			case r.listenPort != 0:
				dial = netip.AddrPortFrom(r.addr.Addr(), r.listenPort)
			case ok:
				dial = l.addr
			default:
				continue
			}
		}
		due = append(due, probeTarget{r: r, dial: dial})
	}
	slices.SortFunc(due, func(a, b probeTarget) int {
		if ca, cb := connected[a.r], connected[b.r]; ca != cb {
			if ca {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(a.r.probes, b.r.probes); c != 0 {
			return c
		}
		return a.r.handshakeAt.Compare(b.r.handshakeAt)
	})
	due = due[:min(len(due), max(maxConcurrentProbes-running, 0))]
	for _, pt := range due {
		pt.r.probing = true
		pt.r.probes++
	}
	return due
}

// runProbe probes one peer and records the outcome.
func (o *Observer) runProbe(ctx context.Context, pt probeTarget, local net.IP) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	index, data, err := o.probe(ctx, pt.dial, local)
	ok := err == nil && o.shape.pieces[index].verify(data)
	o.mu.Lock()
	defer o.mu.Unlock()
	pt.r.probing = false
	if err != nil {
		o.log.Info("probe failed", "peer", pt.dial, "err", err)
		return
	}
	now := o.clock()
	pt.r.bytes += int64(len(data))
	pt.r.lastSeen = now
	if !ok {
		o.fail(pt.r, index)
		return
	}
	if !slices.ContainsFunc(pt.r.pieces, func(p verifiedPiece) bool { return p.index == index }) {
		pt.r.pieces = append(pt.r.pieces, verifiedPiece{index: index, at: now})
	}
	o.log.Info("probe verified a piece", "peer", pt.dial, "piece", index)
}

// probe fetches one piece the peer at addr has, over a new connection
// from local (any address if nil), and returns its index and bytes,
// unchecked.
func (o *Observer) probe(ctx context.Context, addr netip.AddrPort, local net.IP) (int, []byte, error) {
	d := net.Dialer{}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	c, err := d.DialContext(ctx, "tcp", addr.String())
	if err != nil {
		return 0, nil, fmt.Errorf("failed to dial: %w", err)
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	// A peer id of its own, so the peer does not take the probe for a
	// second connection of the observer's client.
	var id [20]byte
	copy(id[:], o.peerID[:8])
	rand.Read(id[8:])
	ih := metainfo.Hash(o.shape.shortHash())
	res, err := pp.Handshake(ctx, c, &ih, id, pp.PeerExtensionBits{})
	if err != nil {
		return 0, nil, fmt.Errorf("failed to handshake: %w", err)
	}
	if res.Hash != ih {
		return 0, nil, errors.New("failed to handshake: peer answered for another infohash")
	}
	n := len(o.shape.pieces)
	dec := pp.Decoder{R: bufio.NewReader(c), MaxLength: pp.Integer(max(blockSize+16, n/8+16))}
	send := func(m pp.Message) error {
		b, err := m.MarshalBinary()
		if err == nil {
			_, err = c.Write(b)
		}
		return err
	}
	if err := send(pp.Message{Type: pp.Interested}); err != nil {
		return 0, nil, fmt.Errorf("failed to send interested: %w", err)
	}
	has := make([]bool, n)
	index := -1
	var buf []byte
	var got, pending []bool // per block of the piece: received, requested
	remaining, inFlight := 0, 0
	choked := true
	for {
		var m pp.Message
		if err := dec.Decode(&m); err != nil {
			return 0, nil, fmt.Errorf("failed to read: %w", err)
		}
		switch {
		case m.Keepalive:
		case m.Type == pp.Bitfield:
			for i := range min(len(m.Bitfield), n) {
				has[i] = m.Bitfield[i]
			}
		case m.Type == pp.Have:
			if int(m.Index) < n {
				has[m.Index] = true
			}
		case m.Type == pp.Choke:
			// A choke drops the requests (BEP 3): ask again once unchoked.
			choked, inFlight = true, 0
			clear(pending)
		case m.Type == pp.Unchoke:
			choked = false
		case m.Type == pp.Piece:
			b := int(m.Begin) / blockSize
			if int(m.Index) != index || int(m.Begin)%blockSize != 0 || b >= len(got) || got[b] ||
				len(m.Piece) != min(blockSize, len(buf)-int(m.Begin)) {
				continue // not a block the probe is waiting for
			}
			copy(buf[m.Begin:], m.Piece)
			got[b] = true
			if pending[b] {
				pending[b] = false
				inFlight--
			}
			if remaining--; remaining == 0 {
				return index, buf, nil
			}
		}
		if choked {
			continue
		}
		if index < 0 {
			if index = randomPiece(has); index < 0 {
				continue
			}
			buf = make([]byte, o.shape.pieces[index].length)
			remaining = (len(buf) + blockSize - 1) / blockSize
			got, pending = make([]bool, remaining), make([]bool, remaining)
		}
		for b := 0; b < len(got) && inFlight < probeRequests; b++ {
			if got[b] || pending[b] {
				continue
			}
			begin := b * blockSize
			size := min(blockSize, len(buf)-begin)
			if err := send(pp.Message{Type: pp.Request, Index: pp.Integer(index), Begin: pp.Integer(begin), Length: pp.Integer(size)}); err != nil {
				return 0, nil, fmt.Errorf("failed to send request: %w", err)
			}
			pending[b] = true
			inFlight++
		}
	}
}

// randomPiece returns the index of a random piece has marks, or -1.
func randomPiece(has []bool) int {
	var idx []int
	for i, h := range has {
		if h {
			idx = append(idx, i)
		}
	}
	if len(idx) == 0 {
		return -1
	}
	return idx[mathrand.IntN(len(idx))]
}
