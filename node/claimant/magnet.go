package claimant

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"

	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"
)

// FetchMetainfo fetches the metainfo of the torrent a magnet URI names
// from its peers (BEP 9) and returns it as a .torrent file's bytes, for
// observe.New, with the peers the magnet lists (x.pe), for
// observe.Observer.AddPeers. It asks peers, the magnet's own peers and the
// trackers it lists (tr), which the metainfo then lists too; it downloads
// and uploads no content. The info returned hashes to the magnet's
// infohash. A v2 torrent's piece layers are not part of its info: a magnet
// naming a v2-only swarm yields metainfo the observer may refuse.
func FetchMetainfo(ctx context.Context, magnet string, peers []netip.AddrPort, logger *slog.Logger) ([]byte, []netip.AddrPort, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	spec, err := torrent.TorrentSpecFromMagnetUri(magnet)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to parse magnet URI: %w", err)
	}
	var listed []netip.AddrPort
	for _, pe := range spec.PeerAddrs {
		if ap, err := netip.ParseAddrPort(pe); err == nil && ap.Port() != 0 && !ap.Addr().IsUnspecified() && !ap.Addr().IsMulticast() && ap.Addr().Zone() == "" {
			listed = append(listed, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
		}
	}
	cc := torrent.NewDefaultClientConfig()
	cc.Slogger = logger
	cc.NoDHT = true
	cc.DisablePEX = true
	cc.DisableWebseeds = true
	cc.DisableWebtorrent = true
	cc.NoDefaultPortForwarding = true
	cc.DisableIPv6 = true
	cc.NoUpload = true
	cc.Seed = false
	cc.ListenPort = 0
	cc.DefaultStorage = noData{}
	cl, err := torrent.NewClient(cc)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to start client: %w", err)
	}
	defer cl.Close()
	spec.Webseeds, spec.Sources = nil, nil
	t, _, err := cl.AddTorrentSpec(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to add magnet: %w", err)
	}
	t.DisallowDataDownload()
	infos := make([]torrent.PeerInfo, len(peers))
	for i, p := range peers {
		infos[i] = torrent.PeerInfo{Addr: torrent.PeerRemoteAddr(net.TCPAddrFromAddrPort(p)), Source: torrent.PeerSourceDirect}
	}
	t.AddPeers(infos)
	select {
	case <-t.GotInfo():
	case <-ctx.Done():
		return nil, nil, fmt.Errorf("failed to fetch metainfo: no peer supplied it: %w", ctx.Err())
	}
	mi := t.Metainfo()
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		return nil, nil, fmt.Errorf("failed to encode metainfo: %w", err)
	}
	return buf.Bytes(), listed, nil
}

// noData is a storage that holds nothing: the metadata fetch never
// downloads content.
type noData struct{}

var errNoData = errors.New("no content is stored while fetching metadata")

func (noData) OpenTorrent(context.Context, *metainfo.Info, metainfo.Hash) (storage.TorrentImpl, error) {
	return storage.TorrentImpl{
		Piece: func(metainfo.Piece) storage.PieceImpl { return noData{} },
		Close: func() error { return nil },
	}, nil
}

func (noData) ReadAt([]byte, int64) (int, error)  { return 0, errNoData }
func (noData) WriteAt([]byte, int64) (int, error) { return 0, errNoData }
func (noData) MarkComplete() error                { return errNoData }
func (noData) MarkNotComplete() error             { return nil }
func (noData) Completion() storage.Completion     { return storage.Completion{Ok: true} }
