package daemon_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/node/daemon"
	"github.com/docket-project/docket/node/p2p"
	"github.com/docket-project/docket/protocol"
)

// TestFederation runs five nodes in one process on 127.0.0.1: a log, a
// plain relay peer, two ISPs and a claimant. isp-b reaches the others only
// through the relay; the claimant is connected to the relay and to isp-a.
//
// An assertion the claimant publishes reaches both ISPs; each enforces
// only the pairs of its own section; both receipts land in the log and
// verify. Publishing it again changes nothing and is receipted by nobody.
// An expired assertion is refused with EXPIRED and receipted by isp-a,
// which the claimant reaches directly, and not forwarded by the relay, so
// isp-b never sees it. isp-b submits its receipts over libp2p (the log-add
// protocol), the others over HTTP. The log node also audits its log: every
// entry verifies, and its admin listener serves the metrics saying so.
func TestFederation(t *testing.T) {
	w := newWorld(t)
	logCfg := w.logConfig(t)
	logCfg.Roles = append(logCfg.Roles, daemon.RoleAuditor)
	logCfg.Auditor = &daemon.AuditorConfig{Interval: "1s"}
	logCfg.Trust.Logs = []daemon.TrustedLog{{Key: w.logVKey}}
	logCfg.Admin.Listen = "127.0.0.1:0"
	logNode := start(t, "log", logCfg)
	logURL := logNode.RunInfo().Log

	relayCfg := w.base(t)
	relayCfg.P2P.Peers = logNode.Addrs()
	relay := start(t, "relay", relayCfg)

	ispCfg := map[string]*daemon.Config{}
	isps := map[string]*daemon.Daemon{}
	for _, name := range []string{"isp-a", "isp-b"} {
		ispCfg[name] = w.ispConfig(t, name, logURL, relay.Addrs()...)
		if name == "isp-b" {
			ispCfg[name].Trust.Logs = []daemon.TrustedLog{{Key: w.logVKey, Peer: logNode.Addrs()[0]}}
		}
		isps[name] = start(t, name, ispCfg[name])
	}
	cl := start(t, "claimant", w.claimantConfig(t, logURL, append(relay.Addrs(), isps["isp-a"].Addrs()...)...))

	eventually(t, 20*time.Second, "the claimant's directory to hold both ISPs", func() bool {
		return len(cl.Directory().ISPs) == 2
	})

	// A fresh assertion reaches every ISP.
	bundle, id := w.build(t, cl.Directory(), time.Now(), 10*time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pub, err := cl.Publish(ctx, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if pub.ID != id || pub.Messages != 1 {
		t.Fatalf("published %+v, want assertion %s in one message", pub, id)
	}
	for name, d := range isps {
		eventually(t, 20*time.Second, name+" to apply the assertion", func() bool { return d.Status().ISP.Applied == 1 })
	}
	for name := range isps {
		checkOwnPairs(t, name, dryrunPairs(t, ispCfg[name].DataDir+"/dryrun.json"), wantPairs[name])
	}
	var all []logReceipt
	eventually(t, 20*time.Second, "both receipts in the log", func() bool {
		all = w.receipts(t, logURL)
		return len(receiptsFor(all, "isp-a", id)) == 1 && len(receiptsFor(all, "isp-b", id)) == 1
	})
	for name := range isps {
		r := receiptsFor(all, name, id)[0]
		if r.Verdict != protocol.VerdictApplied || r.Pairs != wantPairs[name] {
			t.Errorf("%s's receipt is %+v, want applied with %d pairs", name, r, wantPairs[name])
		}
	}

	// Replay: the same assertion again, now with a proof from a larger
	// checkpoint (the receipts grew the log), so a new message.
	before := map[string]string{}
	for name := range isps {
		before[name] = pairsString(dryrunPairs(t, ispCfg[name].DataDir+"/dryrun.json"))
	}
	pub2, err := cl.Publish(ctx, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if pub2.CheckpointSize <= pub.CheckpointSize {
		t.Fatalf("second publication proved by checkpoint %d, not larger than %d", pub2.CheckpointSize, pub.CheckpointSize)
	}
	for name, d := range isps {
		eventually(t, 20*time.Second, name+" to refuse the replay", func() bool {
			return d.Status().ISP.Rejected[string(protocol.CodeReplayed)] == 1
		})
		st := d.Status().ISP
		if st.Applied != 1 || st.Enforcements != 1 {
			t.Errorf("%s after the replay: %+v", name, st)
		}
		if got := pairsString(dryrunPairs(t, ispCfg[name].DataDir+"/dryrun.json")); got != before[name] {
			t.Errorf("%s's state changed on replay:\nbefore %s\nafter  %s", name, before[name], got)
		}
	}

	// Expired: isp-a refuses it with a receipt; the relay does not
	// forward it, so isp-b never decides on it.
	old, oldID := w.build(t, cl.Directory(), time.Now().Add(-30*time.Minute), 10*time.Minute)
	if _, err := cl.Publish(ctx, old); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "isp-a's EXPIRED receipt in the log", func() bool {
		all = w.receipts(t, logURL)
		return len(receiptsFor(all, "isp-a", oldID)) == 1
	})
	if r := receiptsFor(all, "isp-a", oldID)[0]; r.Verdict != protocol.VerdictRejected || r.Code != string(protocol.CodeExpired) {
		t.Errorf("isp-a's receipt of the expired assertion is %+v, want rejected EXPIRED", r)
	}
	eventually(t, 20*time.Second, "the relay to ignore the expired assertion", func() bool {
		return relay.Status().Gossip[p2p.TopicAssertion]["ignore EXPIRED"] >= 1
	})
	// Give isp-b a moment in which it would have decided, had it got it.
	time.Sleep(500 * time.Millisecond)
	all = w.receipts(t, logURL)
	if r := receiptsFor(all, "isp-b", oldID); len(r) != 0 {
		t.Errorf("isp-b receipted the expired assertion the relay should not forward: %+v", r)
	}
	if st := isps["isp-b"].Status().ISP; st.Rejected[string(protocol.CodeExpired)] != 0 {
		t.Errorf("isp-b decided on the expired assertion: %+v", st)
	}
	// Nothing was receipted twice.
	for name := range isps {
		if n := len(receiptsFor(all, name, id)); n != 1 {
			t.Errorf("%s has %d receipts for %s, want 1", name, n, id)
		}
	}
	// The ISPs' view of the log is the checkpoint of the proof they
	// verified (a replay or an expired assertion is refused before its
	// proof is read).
	for name, d := range isps {
		if cp := d.Status().ISP.Checkpoints[logOrigin]; cp < pub.CheckpointSize {
			t.Errorf("%s keeps checkpoint %d of the log, want at least %d", name, cp, pub.CheckpointSize)
		}
	}
	if peers := relay.Status().Peers; len(peers) < 4 {
		t.Errorf("the relay has %d peers, want 4", len(peers))
	}

	// The log node's auditor has read the whole log and found nothing
	// wrong; its admin listener says so.
	admin := logNode.RunInfo().Admin
	if body := httpGet(t, admin+"/healthz"); body != "ok\n" {
		t.Errorf("GET /healthz: %q", body)
	}
	size := logNode.Status().Checkpoints[logOrigin]
	eventually(t, 20*time.Second, "an audit of the whole log", func() bool {
		return strings.Contains(httpGet(t, admin+"/metrics"), fmt.Sprintf("docket_audit_tree_size{origin=%q} %d\n", logOrigin, size))
	})
	metrics := httpGet(t, admin+"/metrics")
	for _, want := range []string{
		`docket_audits_total{origin="docket.test/log",result="ok"}`,
		`docket_gossip_messages_total{event="delivered",topic="/docket/announcement/1"}`,
		`docket_p2p_requests_total{event="served",protocol="/docket/log-add/1"}`,
		`docket_node_info{peer_id="` + logNode.ID() + `",roles="log,auditor"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, "docket_audit_findings{") {
		t.Errorf("the audit found problems:\n%s", grepLines(metrics, "docket_audit_findings"))
	}
	var st daemon.Status
	if err := json.Unmarshal([]byte(httpGet(t, admin+"/status")), &st); err != nil || st.PeerID != logNode.ID() {
		t.Errorf("GET /status: %v, %+v", err, st)
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	return string(body)
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func pairsString(pairs []enforce.Pair) string {
	s := make([]string, len(pairs))
	for i, p := range pairs {
		s[i] = p.Local.String() + "-" + p.Remote.String() + "@" + p.Expires.UTC().Format(time.RFC3339)
	}
	slices.Sort(s)
	return strings.Join(s, " ")
}

// TestLoad publishes many assertions through a log, a relay, two ISPs and
// a claimant, four at a time, and reports how fast both ISPs apply them
// and their receipts reach the log. Run it with DOCKET_NODE_LOAD=1
// (DOCKET_NODE_LOAD=N publishes N assertions; default 200).
func TestLoad(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DOCKET_NODE_LOAD"))
	switch {
	case os.Getenv("DOCKET_NODE_LOAD") == "":
		t.Skip("set DOCKET_NODE_LOAD=1 to measure the federation's throughput")
	case n < 10:
		n = 200
	}
	w := newWorld(t)
	logNode := start(t, "log", w.logConfig(t))
	logURL := logNode.RunInfo().Log
	relayCfg := w.base(t)
	relayCfg.P2P.Peers = logNode.Addrs()
	relay := start(t, "relay", relayCfg)
	isps := map[string]*daemon.Daemon{}
	for _, name := range []string{"isp-a", "isp-b"} {
		isps[name] = start(t, name, w.ispConfig(t, name, logURL, relay.Addrs()...))
	}
	cl := start(t, "claimant", w.claimantConfig(t, logURL, relay.Addrs()...))
	eventually(t, 20*time.Second, "the claimant's directory", func() bool { return len(cl.Directory().ISPs) == 2 })
	dir := cl.Directory()
	now := time.Now()
	bundles := make([][]byte, n)
	for i := range bundles {
		bundles[i], _ = w.build(t, dir, now.Add(-time.Duration(i)*time.Second), 10*time.Minute)
	}

	begin := time.Now()
	next := make(chan []byte)
	errs := make(chan error, n)
	for range 4 {
		go func() {
			for b := range next {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				_, err := cl.Publish(ctx, b)
				cancel()
				errs <- err
			}
		}()
	}
	for _, b := range bundles {
		next <- b
	}
	close(next)
	for range bundles {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	published := time.Since(begin)
	for name, d := range isps {
		eventually(t, 5*time.Minute, name+" to apply every assertion", func() bool { return d.Status().ISP.Applied == uint64(n) })
	}
	applied := time.Since(begin)
	eventually(t, 5*time.Minute, "every receipt in the log", func() bool {
		for _, d := range isps {
			if d.Status().ISP.PendingReceipts != 0 {
				return false
			}
		}
		return true
	})
	receipted := time.Since(begin)
	all := w.receipts(t, logURL)
	if len(all) != 2*n {
		t.Errorf("%d receipts in the log, want %d", len(all), 2*n)
	}
	t.Logf("%d assertions: logged and gossiped in %v (%.1f/s); applied by both ISPs after %v (%.1f/s); all receipts logged after %v",
		n, published.Round(time.Millisecond), float64(n)/published.Seconds(), applied.Round(time.Millisecond),
		float64(n)/applied.Seconds(), receipted.Round(time.Millisecond))
}
