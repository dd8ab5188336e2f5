package observe_test

import (
	"encoding/json"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

const transmissionHost = "127.0.0.21"

// startTransmission runs a fresh transmission-daemon (its own config dir)
// seeding the torrent on transmissionHost and returns its peer address. It
// skips the test if transmission-daemon is not installed, or fails it when
// $CI is true.
func startTransmission(t *testing.T, miBytes, content []byte, name string) netip.AddrPort {
	t.Helper()
	daemon, err := exec.LookPath("transmission-daemon")
	if err != nil {
		const msg = "transmission-daemon not installed (apt-get install transmission-daemon)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	root := t.TempDir()
	config, data, watch := filepath.Join(root, "config"), filepath.Join(root, "data"), filepath.Join(root, "watch")
	for _, d := range []string{config, data, watch} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(data, name), content, 0o600); err != nil {
		t.Fatal(err)
	}
	peer := deadAddr(t, transmissionHost)
	settings, err := json.Marshal(map[string]any{
		"bind-address-ipv4":         transmissionHost,
		"bind-address-ipv6":         "::1",
		"peer-port":                 peer.Port(),
		"peer-port-random-on-start": false,
		"port-forwarding-enabled":   false,
		"dht-enabled":               false,
		"lpd-enabled":               false,
		"pex-enabled":               false,
		"utp-enabled":               true,
		"rpc-enabled":               false,
		"download-dir":              data,
		"incomplete-dir-enabled":    false,
		"watch-dir-enabled":         true,
		"watch-dir":                 watch,
		"message-level":             2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(config, "settings.json"), settings, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "-f", "-g", config)
	cmd.Stdout, cmd.Stderr = tWriter{t}, tWriter{t}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Transmission picks the torrent up from its watch dir, checks the data
	// already in place and seeds it.
	if err := os.WriteFile(filepath.Join(watch, "swarm.torrent"), miBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	return peer
}

// TestObserveTransmission observes a Transmission 3.00 seeder, a client
// the observer shares no code with.
func TestObserveTransmission(t *testing.T) {
	t.Parallel()
	mi, miBytes, content := makeTorrent(t, 64<<10)
	info, err := mi.UnmarshalInfo()
	if err != nil {
		t.Fatal(err)
	}
	peer := startTransmission(t, miBytes, content, info.BestName())
	o, err := observe.New(observe.Config{
		ListenAddr: "127.0.0.20:0",
		DisableUTP: true,
		Logger:     testLogger(t, slog.LevelInfo).With("observer", "127.0.0.20"),
	}, miBytes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close() })
	start := time.Now()
	deadline := start.Add(40 * time.Second)
	// Transmission takes a moment to pick the torrent up and check its
	// data, and drops connections for a torrent it is not yet serving:
	// hand the address over again until a handshake completes.
	var r observe.PeerReport
	for next := start; ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("transmission not verified in time: %+v", o.Peers())
		}
		if rs := o.Peers(); len(rs) > 0 {
			r = rs[0]
		}
		if r.Evidence.Grade == protocol.GradeVerifiedTransfer {
			break
		}
		if r.Evidence.Grade != protocol.GradeHandshake && time.Now().After(next) {
			if err := o.AddPeers("manual", peer); err != nil {
				t.Fatal(err)
			}
			next = time.Now().Add(500 * time.Millisecond)
		}
	}
	t.Logf("transmission verified after %v: %+v", time.Since(start), r.Evidence)
	if r.Addr != peer || r.Evidence.Client != "Transmission 3.00" || r.Evidence.PeerID[:16] != "2d5452333030302d" { // "-TR3000-"
		t.Errorf("transmission evidence %+v at %s", r.Evidence, r.Addr)
	}
	if n := o.UploadedBytes(); n != 0 {
		t.Errorf("observer uploaded %d bytes", n)
	}
	obs, err := o.Observation()
	if err != nil {
		t.Fatal(err)
	}
	buildAndVerify(t, obs)
}
