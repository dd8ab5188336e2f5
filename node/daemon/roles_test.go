package daemon_test

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/node/daemon"
	"github.com/docket-project/docket/node/p2p"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// tlogProof is a proof with the given checkpoint and nothing else.
func tlogProof(checkpoint string) tlog.Proof {
	return tlog.Proof{Checkpoint: checkpoint}
}

// TestRevocation runs a registrar with its log, two ISPs and a claimant.
// isp-a applies an assertion that addresses it alone, so isp-b never sees
// the credential. The registrar is then given a revocation of it in its
// watch directory: isp-a withdraws the pairs at once; isp-b keeps the
// revocation until an assertion brings the chain. The next assertion under
// the credential is refused CREDENTIAL_REVOKED by both, with receipts.
func TestRevocation(t *testing.T) {
	w := newWorld(t)
	regCfg := w.logConfig(t)
	regCfg.Roles = []string{daemon.RoleLog, daemon.RoleRegistrar}
	regCfg.Registrar = &daemon.RegistrarConfig{Watch: t.TempDir(), WatchInterval: "100ms"}
	regCfg.Trust.Logs = []daemon.TrustedLog{{Key: w.logVKey}}
	reg := start(t, "registry", regCfg)
	logURL := reg.RunInfo().Log

	cfgs := map[string]*daemon.Config{}
	isps := map[string]*daemon.Daemon{}
	for _, name := range []string{"isp-a", "isp-b"} {
		cfgs[name] = w.ispConfig(t, name, logURL, reg.Addrs()...)
		isps[name] = start(t, name, cfgs[name])
	}
	cl := start(t, "claimant", w.claimantConfig(t, logURL, reg.Addrs()...))
	eventually(t, 20*time.Second, "the claimant's directory to hold both ISPs", func() bool { return len(cl.Directory().ISPs) == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	onlyA := cl.Directory()
	onlyA.ISPs = onlyA.ISPs[:1]
	if onlyA.ISPs[0].Name != "isp-a" {
		t.Fatalf("directory %+v", onlyA)
	}
	first, _ := w.build(t, onlyA, time.Now(), 10*time.Minute)
	if _, err := cl.Publish(ctx, first); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "isp-a to apply", func() bool { return isps["isp-a"].Status().ISP.Pairs == wantPairs["isp-a"] })

	rev, revID, err := protocol.SignRevocation(w.registrar, protocol.Revocation{Credential: w.grantID, Reason: "rights transferred", RevokedAt: time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(regCfg.Registrar.Watch, ".rev")
	if err := os.WriteFile(tmp, rev, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(regCfg.Registrar.Watch, "revocation.json")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "isp-a to withdraw the pairs", func() bool {
		st := isps["isp-a"].Status().ISP
		return st.Revocations == 1 && st.Pairs == 0
	})
	if n := len(dryrunPairs(t, filepath.Join(cfgs["isp-a"].DataDir, "dryrun.json"))); n != 0 {
		t.Errorf("isp-a still enforces %d pairs after the revocation", n)
	}
	pending := filepath.Join(cfgs["isp-b"].DataDir, "pending-revocations", string(revID)+".json")
	eventually(t, 20*time.Second, "isp-b to keep the revocation", func() bool {
		_, err := os.Stat(pending)
		return err == nil
	})
	if _, err := os.Stat(filepath.Join(regCfg.Registrar.Watch, "done", "revocation.json")); err != nil {
		t.Errorf("the revocation file was not moved to done: %v", err)
	}

	second, secondID := w.build(t, cl.Directory(), time.Now(), 10*time.Minute)
	if _, err := cl.Publish(ctx, second); err != nil {
		t.Fatal(err)
	}
	var all []logReceipt
	eventually(t, 20*time.Second, "both refusals in the log", func() bool {
		all = w.receipts(t, logURL)
		return len(receiptsFor(all, "isp-a", secondID)) == 1 && len(receiptsFor(all, "isp-b", secondID)) == 1
	})
	for _, name := range []string{"isp-a", "isp-b"} {
		if r := receiptsFor(all, name, secondID)[0]; r.Verdict != protocol.VerdictRejected || r.Code != string(protocol.CodeCredentialRevoked) {
			t.Errorf("%s's receipt: %+v, want rejected CREDENTIAL_REVOKED", name, r)
		}
	}
	if st := isps["isp-b"].Status().ISP; st.Revocations != 1 || st.Applied != 0 {
		t.Errorf("isp-b: %+v, want the revocation recorded and nothing applied", st)
	}
	if _, err := os.Stat(pending); !os.IsNotExist(err) {
		t.Errorf("isp-b still keeps the applied revocation: %v", err)
	}
}

// TestConflict checks that two ISPs announcing the same prefix are both
// routed nothing for it: the claimant's directory leaves the prefix out
// and counts the conflict.
func TestConflict(t *testing.T) {
	w := newWorld(t)
	logNode := start(t, "log", w.logConfig(t))
	logURL := logNode.RunInfo().Log
	var isps []*daemon.Daemon
	for _, name := range []string{"isp-a", "isp-b"} {
		cfg := w.ispConfig(t, name, logURL, logNode.Addrs()...)
		cfg.ISP.Prefixes = []string{"198.51.100.0/25", map[string]string{"isp-a": "203.0.113.0/25", "isp-b": "203.0.113.128/25"}[name]}
		isps = append(isps, start(t, name, cfg))
	}
	cl := start(t, "claimant", w.claimantConfig(t, logURL, logNode.Addrs()...))
	eventually(t, 20*time.Second, "the conflict to be seen", func() bool {
		st := cl.Status().Claimant
		return st.Conflicts == 1 && len(st.Directory) == 2
	})
	// The claimant started last: it learnt the announcements from its
	// peer with the announcements protocol.
	eventually(t, 20*time.Second, "the claimant to fetch announcements", func() bool {
		r := cl.Node().Stats().Requests["/docket/announcements/1"]
		return r.Sent > r.SendFailed
	})
	dir := cl.Directory()
	if got := dir.Route(netip.MustParseAddr("198.51.100.7")); got != "" {
		t.Errorf("an address in the disputed prefix is routed to %q", got)
	}
	if got := dir.Route(netip.MustParseAddr("203.0.113.200")); got != "isp-b" {
		t.Errorf("an address of isp-b alone is routed to %q", got)
	}
}

// TestHostilePeer checks the validators: a peer that publishes junk and
// a forged assertion has both rejected by a plain relay, which lowers its
// score, and neither reaches an ISP.
func TestHostilePeer(t *testing.T) {
	w := newWorld(t)
	logNode := start(t, "log", w.logConfig(t))
	logURL := logNode.RunInfo().Log
	relayCfg := w.base(t)
	relay := start(t, "relay", relayCfg)
	isp := start(t, "isp-a", w.ispConfig(t, "isp-a", logURL, relay.Addrs()...))
	cl := start(t, "claimant", w.claimantConfig(t, logURL, append(logNode.Addrs(), relay.Addrs()...)...))
	eventually(t, 20*time.Second, "the claimant's directory", func() bool { return len(cl.Directory().ISPs) == 1 })

	accept := func(context.Context, peer.ID, []byte) error { return nil }
	hostile, err := p2p.New(context.Background(), p2p.Config{
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"}, DialPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		Topics: []p2p.Topic{{Name: p2p.TopicAssertion, Validate: accept}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer hostile.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := hostile.Connect(ctx, relay.Node().AddrInfo()); err != nil {
		t.Fatal(err)
	}
	if err := hostile.Publish(ctx, p2p.TopicAssertion, []byte(`{"bundle":"junk"}`)); err != nil {
		t.Fatal(err)
	}

	// A real assertion, logged, whose signature is then broken.
	bundle, _ := w.build(t, cl.Directory(), time.Now(), 10*time.Minute)
	sa, err := protocol.DecodeAssertion(bundle)
	if err != nil {
		t.Fatal(err)
	}
	env, err := dsse.Decode(sa.RawEnvelope, protocol.MaxAssertionEnvelope)
	if err != nil {
		t.Fatal(err)
	}
	env.Sig[0] ^= 1
	forgedEnv, err := dsse.Encode(env)
	if err != nil {
		t.Fatal(err)
	}
	var sealed []protocol.SealedSection
	for isp, data := range sa.Sealed {
		sealed = append(sealed, protocol.SealedSection{ISP: isp, Data: data})
	}
	forged, err := protocol.EncodeBundle(forgedEnv, sealed)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := json.Marshal(&daemon.AssertionMessage{Bundle: forged, Chain: [][]byte{w.grant},
		Proof: tlogProof("docket.test/log\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n")})
	if err != nil {
		t.Fatal(err)
	}
	if err := hostile.Publish(ctx, p2p.TopicAssertion, msg); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the relay to reject both", func() bool {
		g := relay.Status().Gossip[p2p.TopicAssertion]
		return g["reject MALFORMED"] == 1 && g["reject BAD_SIGNATURE"] == 1
	})
	eventually(t, 20*time.Second, "the hostile peer's score to fall", func() bool {
		return relay.Node().PeerScores()[hostile.ID()] < 0
	})
	if st := isp.Status(); st.ISP.Applied != 0 || len(st.ISP.Rejected) != 0 || len(st.Gossip[p2p.TopicAssertion]) != 0 {
		t.Errorf("the ISP saw the hostile messages: %+v", st)
	}
}

// TestRunFileAndClose checks that a running node says where to reach it in
// DATA_DIR/node.json, and that Close stops it, removes the file and may be
// called again.
func TestRunFileAndClose(t *testing.T) {
	w := newWorld(t)
	cfg := w.logConfig(t)
	cfg.Admin.Listen = "127.0.0.1:0"
	cfg.Logging = daemon.LoggingConfig{Format: "json", Level: "debug"}
	var buf syncBuffer
	logger, err := daemon.NewLogger(&buf, cfg.Logging)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(context.Background(), cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg.DataDir, daemon.RunFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var ri daemon.RunInfo
	if err := json.Unmarshal(data, &ri); err != nil || ri.PID != os.Getpid() || ri.PeerID != d.ID() || ri.Log == "" || ri.Admin == "" {
		t.Errorf("run file: %v, %+v", err, ri)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("the run file outlives the node: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if !buf.contains(`"msg":"node stopped"`) {
		t.Errorf("the JSON log lacks the stop line:\n%s", buf.String())
	}
	if _, err := daemon.NewLogger(&buf, daemon.LoggingConfig{Format: "yaml"}); err == nil {
		t.Error("NewLogger accepted format yaml")
	}
}
