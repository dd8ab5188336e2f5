package observe_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"maps"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	pp "github.com/anacrolix/torrent/peer_protocol"

	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// rawPeerOpts configures a raw peer.
type rawPeerOpts struct {
	// serveFrom is the first connection (counting from 1) the peer
	// unchokes and serves; 0 means none.
	serveFrom int
	// corrupt serves inverted bytes.
	corrupt bool
}

// rawPeer is a BitTorrent peer written on the wire protocol alone, for a
// single-file v1 test torrent: it answers each connection with a
// handshake (plaintext only: an encrypted attempt fails) and a bitfield
// claiming every piece, then serves or stays silent as its options say.
// It records the message types each connection sends it.
type rawPeer struct {
	addr netip.AddrPort
	opts rawPeerOpts

	mu sync.Mutex
	// received holds, per connection that completed a handshake, in
	// order, the message types it sent.
	received []map[pp.MessageType]int
}

func startRawPeer(t *testing.T, host string, tt *testTorrent, o rawPeerOpts) *rawPeer {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	p := &rawPeer{addr: netip.MustParseAddrPort(l.Addr().String()), opts: o}
	var id [20]byte
	copy(id[:], "-SI0001-")
	rand.Read(id[8:])
	content := tt.data[0]
	if o.corrupt {
		content = make([]byte, len(tt.data[0]))
		for i, b := range tt.data[0] {
			content[i] = ^b
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go p.serveConn(c, tt, id, content)
		}
	}()
	return p
}

func (p *rawPeer) serveConn(c net.Conn, tt *testTorrent, id [20]byte, content []byte) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	res, err := pp.Handshake(context.Background(), c, nil, id, pp.PeerExtensionBits{})
	if err != nil || res.Hash != tt.shortHash() {
		return
	}
	p.mu.Lock()
	received := map[pp.MessageType]int{}
	p.received = append(p.received, received)
	serve := p.opts.serveFrom > 0 && len(p.received) >= p.opts.serveFrom
	p.mu.Unlock()
	all := make([]bool, tt.info.NumPieces())
	for i := range all {
		all[i] = true
	}
	send := func(m pp.Message) bool {
		b, _ := m.MarshalBinary()
		_, err := c.Write(b)
		return err == nil
	}
	if !send(pp.Message{Type: pp.Bitfield, Bitfield: all}) {
		return
	}
	dec := pp.Decoder{R: bufio.NewReader(c), MaxLength: 1 << 20}
	for {
		var m pp.Message
		if err := dec.Decode(&m); err != nil {
			return
		}
		if m.Keepalive {
			continue
		}
		p.mu.Lock()
		received[m.Type]++
		p.mu.Unlock()
		switch {
		case !serve:
		case m.Type == pp.Interested:
			if !send(pp.Message{Type: pp.Unchoke}) {
				return
			}
		case m.Type == pp.Request:
			off := int64(m.Index)*tt.info.PieceLength + int64(m.Begin)
			if off+int64(m.Length) > int64(len(content)) {
				return
			}
			if !send(pp.Message{Type: pp.Piece, Index: m.Index, Begin: m.Begin, Piece: content[off : off+int64(m.Length)]}) {
				return
			}
		}
	}
}

// messages returns, per connection that completed a handshake, the
// message types it sent.
func (p *rawPeer) messages() []map[pp.MessageType]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]map[pp.MessageType]int, len(p.received))
	for i, r := range p.received {
		out[i] = maps.Clone(r)
	}
	return out
}

// TestProbe has two raw peers that never serve the observer's client
// connection but serve any later connection, one with good data and one
// with corrupted data. The observer's probe must verify the first
// (verified-transfer) and record the second as failing (handshake, never
// blockable), sending nothing but a handshake, interested and requests.
func TestProbe(t *testing.T) {
	tt := newV1Torrent(t, 16<<10)
	honest := startPeer(t, tt, peerOpts{host: "127.0.0.91"}).addr
	starved := startRawPeer(t, "127.0.0.92", tt, rawPeerOpts{serveFrom: 2})
	liar := startRawPeer(t, "127.0.0.93", tt, rawPeerOpts{serveFrom: 2, corrupt: true})
	o := newObserver(t, tt, "127.0.0.90", observe.Config{
		ProbeAfter: 500 * time.Millisecond,
		Discovery:  observe.Discovery{NoTrackers: true},
	})
	if err := o.AddPeers("manual", honest, starved.addr, liar.addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, o, 20*time.Second, "starved peer verified by a probe, liar failing", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return m[honest].Evidence.Grade == protocol.GradeVerifiedTransfer &&
			m[starved.addr].Evidence.Grade == protocol.GradeVerifiedTransfer && m[liar.addr].FailedPieces > 0
	})
	m := map[netip.AddrPort]observe.PeerReport{}
	for _, r := range o.Peers() {
		m[r.Addr] = r
	}
	e := m[starved.addr].Evidence
	if e.Transport != "tcp" || e.Bytes <= 0 || len(e.Pieces) != 1 || e.Source != "manual" {
		t.Errorf("starved peer: %+v", e)
	}
	if g := m[liar.addr].Evidence.Grade; g != protocol.GradeHandshake {
		t.Errorf("corrupting peer: %s, want handshake", g)
	}
	// The first connection is the client's (which announces the pieces
	// it has with have messages but never serves them); the later ones
	// are probes, which send no bitfield, have or block.
	for _, p := range []*rawPeer{starved, liar} {
		conns := p.messages()
		if len(conns) < 2 {
			t.Fatalf("%s: %d connections, want the client's and a probe's", p.addr, len(conns))
		}
		for i, msgs := range conns[1:] {
			if msgs[pp.Request] == 0 {
				t.Errorf("%s: probe %d sent no request", p.addr, i+1)
			}
			for typ, n := range msgs {
				if typ != pp.Interested && typ != pp.Request {
					t.Errorf("%s: probe %d sent %d %v messages", p.addr, i+1, n, typ)
				}
			}
		}
	}
	obs, err := o.Observation()
	if err != nil {
		t.Fatal(err)
	}
	buildAndVerify(t, obs)
	if n := o.UploadedBytes(); n != 0 {
		t.Errorf("observer uploaded %d bytes", n)
	}
}

// TestProbeOff checks that with probing off a peer that serves only later
// connections stays handshake.
func TestProbeOff(t *testing.T) {
	tt := newV1Torrent(t, 16<<10)
	honest := startPeer(t, tt, peerOpts{host: "127.0.0.94"}).addr
	starved := startRawPeer(t, "127.0.0.95", tt, rawPeerOpts{serveFrom: 2})
	o := newObserver(t, tt, "127.0.0.96", observe.Config{ProbeAfter: -1, Discovery: observe.Discovery{NoTrackers: true}})
	if err := o.AddPeers("manual", honest, starved.addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, o, 20*time.Second, "honest verified, starved connected", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return m[honest].Evidence.Grade == protocol.GradeVerifiedTransfer && m[starved.addr].Evidence.Grade == protocol.GradeHandshake
	})
	time.Sleep(2 * time.Second)
	if conns := starved.messages(); len(conns) != 1 {
		t.Errorf("starved peer saw %d connections with probing off", len(conns))
	}
}

// TestHybridV1Peer has a peer that knows a hybrid torrent only as a v1
// torrent (as Transmission 3.00 would, which refuses hybrid .torrent
// files): it answers the BEP 3 handshake for the v1 infohash and never
// upgrades to v2. Each piece it supplies is still checked against both the
// SHA-1 and the BEP 52 hashes, so it is verified-transfer under the
// torrent's btmh and btih ids alike.
func TestHybridV1Peer(t *testing.T) {
	tt := newV2Torrent(t, 32<<10, true, 1<<20)
	v1 := startRawPeer(t, "127.0.0.97", tt, rawPeerOpts{serveFrom: 1})
	o := newObserver(t, tt, "127.0.0.98", observe.Config{Discovery: observe.Discovery{NoTrackers: true}})
	if err := o.AddPeers("manual", v1.addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, o, 20*time.Second, "v1-only peer verified", func(m map[netip.AddrPort]observe.PeerReport) bool {
		return m[v1.addr].Evidence.Grade == protocol.GradeVerifiedTransfer
	})
	for _, content := range []protocol.ContentID{tt.btmh(), tt.btih()} {
		obs, err := o.ObservationFor(content)
		if err != nil {
			t.Fatal(err)
		}
		e := obs.Peers[0].Evidence
		if e.Grade != protocol.GradeVerifiedTransfer || (content == tt.btmh()) != (len(e.Pieces[0].Hash) == 64) {
			t.Errorf("%s: %+v", content, e)
		}
		buildAndVerify(t, obs)
	}
}
