//go:build unix

// Command obsbench measures how fast the swarm observer maps a loopback
// swarm: the time from starting an observer to a full verified map (every
// seeder graded verified-transfer) and the observer's CPU time per
// verified peer.
//
// The seeders (anacrolix clients on 127.0.0.2, 127.0.0.3, ...) run in a
// child process, so the CPU time getrusage reports for this process is
// the observer's alone. Run it by hand; it is not part of the tests:
//
//	go run ./node/observe/internal/obsbench -peers 20 -runs 5
//
// The same measurement runs as a benchmark:
//
//	go test -run '^$' -bench . ./node/observe/internal/obsbench
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	g "github.com/anacrolix/generics"
	"github.com/anacrolix/torrent"
	"github.com/anacrolix/torrent/bencode"
	"github.com/anacrolix/torrent/metainfo"
	"github.com/anacrolix/torrent/storage"

	"github.com/docket-project/docket/node/observe"
	"github.com/docket-project/docket/protocol"
)

// seederEnv, set in a child's environment, makes the process serve
// seeders (serveSeeders) instead of measuring.
const seederEnv = "OBSBENCH_SEEDERS"

func main() {
	if os.Getenv(seederEnv) != "" {
		if err := serveSeeders(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "obsbench: error:", err)
			os.Exit(1)
		}
		return
	}
	peers := flag.Int("peers", 20, "number of seeders, on 127.0.0.2 upwards")
	size := flag.Int("size", 32<<20, "content size in bytes")
	pieceLength := flag.Int64("piece", 16<<10, "piece length in bytes")
	runs := flag.Int("runs", 3, "observers to run, one after another, against the same seeders")
	utp := flag.Bool("utp", true, "let the observer use uTP as well as TCP")
	probeAfter := flag.Duration("probe-after", 0, "observer's Config.ProbeAfter (0: its default)")
	flag.Parse()
	if err := run(os.Stdout, *peers, *size, *pieceLength, *runs, observerConfig(*utp, *probeAfter)); err != nil {
		fmt.Fprintln(os.Stderr, "obsbench: error:", err)
		os.Exit(1)
	}
}

// observerConfig is the configuration measured: the defaults but for
// uTP, probing, a quick redial, and no discovery but the peers given.
func observerConfig(utp bool, probeAfter time.Duration) observe.Config {
	return observe.Config{
		ListenAddr:     "127.0.0.1:0",
		DisableUTP:     !utp,
		ProbeAfter:     probeAfter,
		RedialInterval: time.Second,
		Discovery:      observe.Discovery{NoTrackers: true, NoPEX: true},
		Logger:         benchLogger(),
	}
}

func benchLogger() *slog.Logger {
	if os.Getenv("OBSBENCH_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

func run(w io.Writer, peers, size int, pieceLength int64, runs int, cfg observe.Config) error {
	dir, err := os.MkdirTemp("", "obsbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sw, err := startSwarm(dir, peers, size, pieceLength)
	if err != nil {
		return err
	}
	defer sw.Close()
	fmt.Fprintf(w, "swarm: %d seeders, %d bytes in %d pieces of %d bytes; observer uTP %v, probe after %v\n",
		peers, size, (int64(size)+pieceLength-1)/pieceLength, pieceLength, !cfg.DisableUTP, cfg.ProbeAfter)
	var elapsed, cpu []time.Duration
	for i := range runs {
		r, err := sw.measure(context.Background(), cfg)
		if err != nil {
			return err
		}
		elapsed, cpu = append(elapsed, r.Elapsed), append(cpu, r.CPU/time.Duration(r.Verified))
		fmt.Fprintf(w, "run %d: full verified map of %d peers in %v; observer CPU %v (%v per verified peer); %d bytes downloaded, %d uploaded\n",
			i+1, r.Verified, r.Elapsed.Round(time.Millisecond), r.CPU.Round(time.Millisecond), (r.CPU / time.Duration(r.Verified)).Round(10*time.Microsecond), r.Downloaded, r.Uploaded)
	}
	slices.Sort(elapsed)
	slices.Sort(cpu)
	fmt.Fprintf(w, "median: %v to a full verified map, %v CPU per verified peer\n", elapsed[len(elapsed)/2].Round(time.Millisecond), cpu[len(cpu)/2].Round(10*time.Microsecond))
	return nil
}

// swarm is a torrent and a child process seeding it.
type swarm struct {
	raw   []byte // the .torrent's bytes
	peers []netip.AddrPort
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// seederConfig is what the parent tells the child on its standard input.
type seederConfig struct {
	Torrent string   `json:"torrent"`
	Data    string   `json:"data"`
	Hosts   []string `json:"hosts"`
}

// startSwarm writes size random bytes and their v1 torrent to dir and
// starts a child process seeding them from peers addresses.
func startSwarm(dir string, peers, size int, pieceLength int64) (*swarm, error) {
	if peers < 1 || peers > 250 {
		return nil, fmt.Errorf("%d peers: want 1 to 250", peers)
	}
	content := make([]byte, size)
	rand.Read(content)
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(data, "night-trains.bin")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		return nil, err
	}
	info := metainfo.Info{PieceLength: pieceLength}
	if err := info.BuildFromFilePath(path); err != nil {
		return nil, err
	}
	mi := &metainfo.MetaInfo{}
	var err error
	if mi.InfoBytes, err = bencode.Marshal(info); err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := mi.Write(&buf); err != nil {
		return nil, err
	}
	torrentPath := filepath.Join(dir, "swarm.torrent")
	if err := os.WriteFile(torrentPath, buf.Bytes(), 0o600); err != nil {
		return nil, err
	}
	cfg := seederConfig{Torrent: torrentPath, Data: data}
	for i := range peers {
		cfg.Hosts = append(cfg.Hosts, fmt.Sprintf("127.0.0.%d", 2+i))
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), seederEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	sw := &swarm{raw: buf.Bytes(), cmd: cmd, stdin: stdin}
	if err := json.NewEncoder(stdin).Encode(cfg); err != nil {
		sw.Close()
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err == nil {
		err = json.Unmarshal(line, &sw.peers)
	}
	if err != nil || len(sw.peers) != peers {
		sw.Close()
		return nil, fmt.Errorf("failed to start seeders: %v (%d of %d up)", err, len(sw.peers), peers)
	}
	return sw, nil
}

// Close stops the seeders.
func (sw *swarm) Close() error {
	sw.stdin.Close()
	return sw.cmd.Wait()
}

// result is one observer's measurement.
type result struct {
	Elapsed    time.Duration // from New to a full verified map
	CPU        time.Duration // user and system time of this process meanwhile
	Verified   int
	Downloaded int64
	Uploaded   int64
}

// measure starts an observer configured by cfg, hands it every seeder and
// waits for all of them to be verified-transfer.
func (sw *swarm) measure(ctx context.Context, cfg observe.Config) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cpu0 := cpuTime()
	start := time.Now()
	o, err := observe.New(cfg, sw.raw)
	if err != nil {
		return result{}, err
	}
	defer o.Close()
	if err := o.AddPeers("manual", sw.peers...); err != nil {
		return result{}, err
	}
	var r result
	for r.Verified < len(sw.peers) {
		select {
		case <-ctx.Done():
			grades := map[protocol.Grade]int{}
			for _, p := range o.Peers() {
				grades[p.Evidence.Grade]++
			}
			return result{}, fmt.Errorf("only %d of %d peers verified in time (grades %v)", r.Verified, len(sw.peers), grades)
		case <-time.After(5 * time.Millisecond):
		}
		r.Verified = 0
		for _, p := range o.Peers() {
			if p.Evidence.Grade == protocol.GradeVerifiedTransfer {
				r.Verified++
			}
		}
	}
	r.Elapsed = time.Since(start)
	r.CPU = cpuTime() - cpu0
	if r.Uploaded = o.UploadedBytes(); r.Uploaded != 0 {
		return result{}, fmt.Errorf("observer uploaded %d bytes", r.Uploaded)
	}
	for _, p := range o.Peers() {
		r.Downloaded += p.Evidence.Bytes
	}
	return r, nil
}

// cpuTime returns the user and system CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serveSeeders reads a seederConfig from in, starts one seeding anacrolix
// client per host, writes their addresses as one JSON line to out, and
// serves until in is closed.
func serveSeeders(in io.Reader, out io.Writer) error {
	r := bufio.NewReader(in)
	line, err := r.ReadBytes('\n')
	if err != nil {
		return err
	}
	var cfg seederConfig
	if err := json.Unmarshal(line, &cfg); err != nil {
		return err
	}
	mi, err := metainfo.LoadFromFile(cfg.Torrent)
	if err != nil {
		return err
	}
	var addrs []netip.AddrPort
	for _, host := range cfg.Hosts {
		cl, err := startSeeder(host, cfg.Data, mi)
		if err != nil {
			return fmt.Errorf("seeder %s: %w", host, err)
		}
		defer cl.Close()
		ap, err := netip.ParseAddrPort(cl.ListenAddrs()[0].String())
		if err != nil {
			return err
		}
		addrs = append(addrs, ap)
	}
	if err := json.NewEncoder(out).Encode(addrs); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, r); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// startSeeder runs an anacrolix client on host seeding mi's content from
// dataDir.
func startSeeder(host, dataDir string, mi *metainfo.MetaInfo) (*torrent.Client, error) {
	cc := torrent.NewDefaultClientConfig()
	cc.NoDHT, cc.DisablePEX, cc.DisableTrackers = true, true, true
	cc.DisableWebseeds, cc.DisableWebtorrent, cc.NoDefaultPortForwarding, cc.DisableIPv6 = true, true, true, true
	cc.Seed = true
	// The default (1 MiB) stalls uploads part-way.
	cc.MaxAllocPeerRequestDataPerConn = 64 << 20
	cc.DropMutuallyCompletePeers = false
	cc.Slogger = slog.New(slog.DiscardHandler)
	cc.SetListenAddr(host + ":0")
	// The parent wrote the data just now: claim every piece without
	// hashing 20 copies; the observer checks what it receives anyway.
	info, err := mi.UnmarshalInfo()
	if err != nil {
		return nil, err
	}
	pc := storage.NewMapPieceCompletion()
	for i := range info.NumPieces() {
		if err := pc.Set(metainfo.PieceKey{InfoHash: mi.HashInfoBytes(), Index: i}, true); err != nil {
			return nil, err
		}
	}
	cc.DefaultStorage = storage.NewFileOpts(storage.NewFileClientOpts{
		ClientBaseDir:   dataDir,
		PieceCompletion: pc,
		UsePartFiles:    g.Some(false),
	})
	cl, err := torrent.NewClient(cc)
	if err != nil {
		return nil, err
	}
	t, _ := cl.AddTorrentOpt(torrent.AddTorrentOpts{InfoHash: mi.HashInfoBytes(), InfoBytes: mi.InfoBytes, DisableInitialPieceCheck: true})
	if n := t.BytesMissing(); n != 0 {
		cl.Close()
		return nil, fmt.Errorf("misses %d bytes", n)
	}
	return cl, nil
}
