//go:build linux

package devnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-json-experiment/json"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/dryrun"
	"github.com/docket-project/docket/enforce/nft"
	"github.com/docket-project/docket/node/audit"
	"github.com/docket-project/docket/node/daemon"
	"github.com/docket-project/docket/protocol"

	"github.com/vishvananda/netns"
	"golang.org/x/mod/sumdb/note"
)

// runner holds a run's state.
type runner struct {
	ctx     context.Context
	opts    Options
	out     io.Writer
	plan    *Plan
	dir     string
	topo    *Topology
	world   *NS // nil in dry-run mode
	http    *http.Client
	procs   []*proc
	tracker *Tracker
	torrent *Torrent
	res     *Result
	began   time.Time

	logKey, witnessKey string
	nodes              map[string]daemon.RunInfo
	claimant           *proc
	installed          func(context.Context) ([]enforce.Pair, error)
	closeInstalled     func()
	auditCfg           *audit.Config
}

// Run runs a devnet and returns what it showed. The error wraps ErrCheck
// when a check failed, and the Result is then still filled as far as the
// run went. Everything it started is stopped and removed before it
// returns, also when ctx is cancelled (Ctrl-C).
func Run(ctx context.Context, opts Options) (res *Result, err error) {
	if opts.Cycles == 0 {
		opts.Cycles = DefaultCycles
	}
	if opts.Life == 0 {
		opts.Life = DefaultLife
	}
	if opts.Interval == 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Life <= opts.Interval {
		return nil, fmt.Errorf("life %v must be longer than interval %v, or blocks lapse between rounds", opts.Life, opts.Interval)
	}
	r := &runner{ctx: ctx, opts: opts, out: opts.Out, res: &Result{}, nodes: map[string]daemon.RunInfo{}, began: time.Now()}
	defer func() {
		if cerr := r.cleanup(); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	if err := r.setup(ctx); err != nil {
		return r.res, err
	}
	err = r.run(ctx)
	if ctx.Err() != nil {
		r.say("\nInterrupted: stopping every process and removing what devnet created.")
		return r.res, ctx.Err()
	}
	return r.res, err
}

func (r *runner) say(format string, args ...any) {
	fmt.Fprintf(r.out, format+"\n", args...)
}

func (r *runner) step(format string, args ...any) {
	r.say("\n[%5.1fs] "+format, append([]any{time.Since(r.began).Seconds()}, args...)...)
}

// failf records a failed check.
func (r *runner) failf(format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	r.say("  ✗ %s", msg)
	return fmt.Errorf("%w: %s", ErrCheck, msg)
}

// setup chooses the mode, creates the directory and, in nft mode, the
// network namespaces.
func (r *runner) setup(ctx context.Context) error {
	mode, reason, err := chooseMode(r.opts.Backend)
	if err != nil {
		return err
	}
	r.res.Mode, r.res.Reason = mode, reason
	r.plan = PlanFor(mode)
	if r.opts.Dir == "" {
		if r.dir, err = os.MkdirTemp("", "docket-devnet-"); err != nil {
			return err
		}
	} else {
		r.dir, err = filepath.Abs(r.opts.Dir)
		if err != nil {
			return err
		}
		if entries, err := os.ReadDir(r.dir); err == nil && len(entries) > 0 {
			return fmt.Errorf("%s is not empty: devnet needs a new directory", r.dir)
		}
		if err := os.MkdirAll(r.dir, 0o755); err != nil {
			return err
		}
	}
	r.res.Dir = r.dir
	r.say("Docket devnet: a whole federation on this machine, in %s", r.dir)
	if mode == ModeNFT {
		r.say("Mode: nft. isp-one enforces with nftables in its own router's network namespace; devnet sends traffic to prove the drop.")
		tag := fmt.Sprint(os.Getpid())
		if removed, err := RemoveStale(func(t string) bool { return processAlive(t) }); err == nil && len(removed) > 0 {
			r.say("Removed network namespaces an earlier devnet left behind: %s", strings.Join(removed, ", "))
		}
		if r.topo, err = NewTopology(tag, r.plan); err != nil {
			return err
		}
		r.world = r.topo.World
		r.say("Network namespaces (no link to this machine's network):\n  %s: every docket process, the tracker, the seeders of other networks\n  %s: isp-one's router, where its nftables live\n  %s: isp-one's subscribers",
			r.topo.World.Name, r.topo.Router.Name, r.topo.Subs.Name)
		r.http = &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{DialContext: r.world.DialContext}}
	} else {
		r.say("Mode: dry-run. %s. Both ISPs write the pairs they would block to a file; no packet is dropped.", reason)
		r.http = &http.Client{Timeout: 15 * time.Second}
	}
	return nil
}

// chooseMode picks the mode for a --backend value.
func chooseMode(backend string) (Mode, string, error) {
	switch backend {
	case "dryrun":
		return ModeDryRun, "Dry-run was asked for (--backend dryrun)", nil
	case "nft", "auto", "":
	default:
		return "", "", fmt.Errorf("backend %q is not auto, nft or dryrun", backend)
	}
	why := nftUnavailable()
	if why == "" {
		return ModeNFT, "", nil
	}
	if backend == "nft" {
		return "", "", fmt.Errorf("the nft backend cannot run here: %s", why)
	}
	return ModeDryRun, "Dry-run, because " + why, nil
}

// nftUnavailable says why the nft mode cannot run here, or "" if it can:
// it needs root, network namespaces and nftables in the kernel.
func nftUnavailable() string {
	if os.Geteuid() != 0 {
		return "devnet does not run as root: network namespaces and nftables need root (run it with sudo for the nft mode)"
	}
	ns, err := newNS(fmt.Sprintf("%s%d-check", NamespacePrefix, os.Getpid()))
	if err != nil {
		return "network namespaces are not available: " + err.Error()
	}
	defer func() {
		ns.handle.Close()
		_ = netns.DeleteNamed(ns.Name)
	}()
	f, err := os.Open(ns.Path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	b, err := nft.New(nft.WithNetNS(int(f.Fd())))
	if err != nil {
		return "nftables is not available: " + err.Error()
	}
	defer b.Close()
	p := enforce.Pair{Key: enforce.Key{Local: netip.MustParseAddr("192.0.2.1"), Remote: netip.MustParseAddr("192.0.2.2")}, Expires: time.Now().Add(time.Minute)}
	if err := b.Add(context.Background(), []enforce.Pair{p}); err != nil {
		return "nftables is not available: " + err.Error()
	}
	return ""
}

// processAlive reports whether the process with the decimal id pid runs.
func processAlive(pid string) bool {
	_, err := os.Stat("/proc/" + pid)
	return err == nil
}

// cleanup stops every process and removes the namespaces and, for a
// temporary directory, the directory.
func (r *runner) cleanup() error {
	var errs []error
	if err := r.stopAll(); err != nil {
		errs = append(errs, err)
	}
	if r.tracker != nil {
		_ = r.tracker.Close()
	}
	if r.closeInstalled != nil {
		r.closeInstalled()
	}
	if r.topo != nil {
		if err := r.topo.Close(); err != nil {
			errs = append(errs, err)
		} else {
			r.say("Removed the network namespaces, and with them isp-one's nftables.")
		}
	}
	if r.opts.Dir == "" && r.dir != "" && !r.opts.Keep {
		if err := os.RemoveAll(r.dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// run is the devnet's story, step by step.
func (r *runner) run(ctx context.Context) error {
	if err := r.initNodes(); err != nil {
		return err
	}
	if err := r.startSwarm(ctx); err != nil {
		return err
	}
	if err := r.issueCredential(); err != nil {
		return err
	}
	if err := r.startFederation(ctx); err != nil {
		return err
	}
	var failed []error
	check := func(err error) error {
		if errors.Is(err, ErrCheck) {
			failed = append(failed, err)
			return nil
		}
		return err
	}
	if err := check(r.firstEnforcement(ctx)); err != nil {
		return err
	}
	if err := check(r.proveTraffic(ctx)); err != nil {
		return err
	}
	if err := check(r.receipts(ctx)); err != nil {
		return err
	}
	if err := check(r.cycles(ctx)); err != nil {
		return err
	}
	if r.opts.Keep {
		r.keep(ctx)
		return errors.Join(failed...)
	}
	if err := check(r.lapse(ctx)); err != nil {
		return err
	}
	if err := check(r.audit(ctx)); err != nil {
		return err
	}
	if len(failed) > 0 {
		r.step("Done, with %d failed check(s).", len(failed))
		return errors.Join(failed...)
	}
	r.step("Done: every check passed.")
	return nil
}

var printedRE = regexp.MustCompile(`(?m)^verifier key: +(\S+)$`)

// docket runs the docket executable to completion in the working
// directory and returns its standard output.
func (r *runner) docket(args ...string) (string, error) {
	cmd := exec.Command(r.opts.Docket, args...)
	cmd.Dir = r.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("docket %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return string(out), nil
}

// initNodes runs "docket node init" for each node.
func (r *runner) initNodes() error {
	r.step("Creating keys and configurations (docket node init)")
	inits := []struct {
		name string
		args []string
	}{
		{"witness", []string{"witness", "--witness-name", "devnet.docket.test/witness"}},
		{"registry", []string{"registrar,log", "--log-origin", "devnet.docket.test/log"}},
		{"claimant", []string{"claimant"}},
		{ISPOne, []string{"isp", "--isp-name", ISPOne, "--region", "DE"}},
		{ISPTwo, []string{"isp", "--isp-name", ISPTwo, "--region", "DE"}},
		{"auditor", []string{"auditor"}},
	}
	for _, in := range inits {
		args := append([]string{"node", "init"}, in.args[0], "--dir", in.name)
		out, err := r.docket(append(args, in.args[1:]...)...)
		if err != nil {
			return err
		}
		switch in.name {
		case "witness":
			r.witnessKey = printedKey(out)
		case "registry":
			r.logKey = printedKey(out)
		}
		r.say("  %-9s roles %s", in.name, in.args[0])
	}
	if r.logKey == "" || r.witnessKey == "" {
		return errors.New("docket node init did not print the log's and the witness's verifier keys")
	}
	return nil
}

func printedKey(out string) string {
	if m := printedRE.FindStringSubmatch(out); m != nil {
		return m[1]
	}
	return ""
}

// startSwarm starts the tracker, makes the torrent and starts the
// seeders, then lists a joe-job address at the tracker.
func (r *runner) startSwarm(ctx context.Context) error {
	r.step("Seeding a real BitTorrent swarm")
	var err error
	start := func() error {
		r.tracker, err = StartTracker(r.plan.Tracker.String())
		return err
	}
	if r.world != nil {
		err = r.world.Do(start)
	} else {
		err = start()
	}
	if err != nil {
		return fmt.Errorf("failed to start the tracker: %w", err)
	}
	if r.torrent, err = MakeTorrent(filepath.Join(r.dir, "swarm"), "devnet-film.mkv", 4<<20, r.tracker.URL()); err != nil {
		return err
	}
	r.res.Content = r.torrent.ContentID
	r.say("  torrent %s: %d pieces, tracker %s", r.torrent.ContentID, r.torrent.Pieces, r.tracker.URL())
	subs, world := r.nsOf(r.plan.Local[0]), r.world
	var locals []string
	for _, a := range append(slices.Clone(r.plan.Local), r.plan.Protected) {
		locals = append(locals, a.String())
	}
	if _, err := r.startSeeder("seeders-isp-one", subs, locals, []string{r.plan.JoeVictim.String()}); err != nil {
		return err
	}
	var remotes []string
	for _, a := range r.plan.Remote {
		remotes = append(remotes, a.String())
	}
	if _, err := r.startSeeder("seeders-elsewhere", world, remotes, nil); err != nil {
		return err
	}
	r.tracker.Inject(r.torrent.InfoHash, r.plan.Joe)
	for _, a := range r.plan.Local {
		r.say("  seeder  %-21s an isp-one subscriber", a)
	}
	r.say("  seeder  %-21s at an address isp-one's policy protects (think: a bank)", r.plan.Protected)
	for _, a := range r.plan.Remote {
		where := "another network"
		if a == r.plan.RemoteISPTwo {
			where = "an isp-two subscriber"
		}
		r.say("  seeder  %-21s %s", a, where)
	}
	r.say("  joe job %-21s listed at the tracker by someone else; no BitTorrent peer there, only the victim's web server on port %d", r.plan.Joe, r.plan.JoeVictim.Port())
	if r.world != nil {
		// Before any block: the traffic the checks will expect dropped
		// flows.
		if err := Probe(ctx, r.world, r.plan.Remote[0].Addr(), r.plan.Local[0], 3*time.Second); err != nil {
			return fmt.Errorf("before any block, %v cannot reach %v: the namespaces are not wired: %w", r.plan.Remote[0].Addr(), r.plan.Local[0], err)
		}
		r.say("  %v → %v opens a TCP connection: nothing is blocked yet", r.plan.Remote[0].Addr(), r.plan.Local[0])
	}
	return nil
}

// nsOf returns the namespace an address of the plan lives in.
func (r *runner) nsOf(a netip.AddrPort) *NS {
	if r.topo == nil {
		return nil
	}
	if r.plan.ISPOnePrefix.Contains(a.Addr()) {
		return r.topo.Subs
	}
	return r.topo.World
}

// issueCredential has the registrar grant the claimant the work.
func (r *runner) issueCredential() error {
	r.step("The registrar issues the claimant a credential")
	out := filepath.Join("claimant", "claimant.cred.json")
	_, err := r.docket("credential", "issue", "--key", "registry/keys/registrar.key", "--subject", "claimant/keys/claimant.pub",
		"--name", "Devnet Pictures", "--work-id", "devnet-film", "--title", "A Devnet Film",
		"--content", string(r.torrent.ContentID), "--isp", ISPOne, "--isp", ISPTwo, "--valid", "24h", "--out", out)
	if err != nil {
		return err
	}
	data, err := os.ReadFile(filepath.Join(r.dir, out))
	if err != nil {
		return err
	}
	sc, err := protocol.DecodeCredential(data)
	if err != nil {
		return err
	}
	r.res.Credential = sc.ID
	c := sc.Credential
	r.say("  credential %s\n  key %s (Devnet Pictures) may claim %q = %s\n  at %s, until %s",
		sc.ID, sc.Subject.ID(), c.Works[0].Title, c.Works[0].Content[0], strings.Join(c.Scope.ISPs, " and "), c.NotAfter.Format(time.RFC3339))
	return nil
}

// editConfig loads a node's configuration, puts every listener on
// loopback with a port the system picks, lets edit change it and writes
// it back.
func (r *runner) editConfig(name string, edit func(*daemon.Config)) error {
	path := filepath.Join(r.dir, name, daemon.StarterConfigFile)
	cfg, err := daemon.LoadConfig(path)
	if err != nil {
		return err
	}
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.P2P.DialPrefixes = []string{"127.0.0.0/8"}
	cfg.Admin.Listen = "127.0.0.1:0"
	edit(cfg)
	data, err := cfg.Marshal()
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// startFederation configures and starts the docket processes.
func (r *runner) startFederation(ctx context.Context) error {
	r.step("Starting the federation: six docket processes")
	keyFile := func(node, name string) string { return filepath.Join(r.dir, node, "keys", name) }
	if err := r.editConfig("witness", func(c *daemon.Config) {
		c.Trust.Logs = []daemon.TrustedLog{{Key: r.logKey}}
		c.Witness.Listen = "127.0.0.1:0"
	}); err != nil {
		return err
	}
	if err := r.launch("witness"); err != nil {
		return err
	}
	isps := []string{keyFile(ISPOne, "isp.pub"), keyFile(ISPTwo, "isp.pub")}
	registrars := []string{keyFile("registry", "registrar.pub")}
	if err := r.editConfig("registry", func(c *daemon.Config) {
		c.Log.Listen = "127.0.0.1:0"
		c.Trust.Witnesses = []daemon.TrustedWitness{{Key: r.witnessKey, URL: r.nodes["witness"].Witness}}
		c.Trust.ISPs = isps
	}); err != nil {
		return err
	}
	if err := r.launch("registry"); err != nil {
		return err
	}
	trust := func(c *daemon.Config) {
		c.Trust.Logs = []daemon.TrustedLog{{Key: r.logKey, URL: r.nodes["registry"].Log}}
		c.Trust.Witnesses = []daemon.TrustedWitness{{Key: r.witnessKey}}
		c.Trust.Registrars = registrars
		c.P2P.Peers = r.nodes["registry"].P2P
	}
	var permitted []string
	for _, p := range r.plan.Permitted {
		permitted = append(permitted, p.String())
	}
	policy := fmt.Sprintf("own_prefixes: [%q]\nprotected: [%q]\n", r.plan.ISPOnePrefix, netip.PrefixFrom(r.plan.Protected.Addr(), 32))
	if err := os.WriteFile(filepath.Join(r.dir, ISPOne, "policy.yaml"), []byte(policy), 0o644); err != nil {
		return err
	}
	for _, isp := range []string{ISPOne, ISPTwo} {
		if err := r.editConfig(isp, func(c *daemon.Config) {
			trust(c)
			c.ISP.PermittedPrefixes = permitted
			c.ISP.ReceiptRetry = "1s"
			c.ISP.Enforcer = "dryrun"
			if isp == ISPOne {
				c.ISP.Prefixes = []string{r.plan.ISPOnePrefix.String()}
				c.ISP.Policy = "policy.yaml"
				if r.topo != nil {
					c.ISP.Enforcer = "nft"
					c.ISP.NFTNetNS = r.topo.Router.Path
				}
			} else {
				c.ISP.Prefixes = []string{r.plan.ISPTwoPrefix.String()}
			}
		}); err != nil {
			return err
		}
		if err := r.launch(isp); err != nil {
			return err
		}
	}
	if err := r.editConfig("auditor", func(c *daemon.Config) {
		trust(c)
		c.Trust.ISPs = isps
		c.Auditor.Interval = "5s"
	}); err != nil {
		return err
	}
	if err := r.launch("auditor"); err != nil {
		return err
	}
	if err := r.editConfig("claimant", func(c *daemon.Config) {
		trust(c)
		c.Trust.ISPs = isps
		c.Claimant.Interval = r.opts.Interval.String()
		c.Claimant.Life = r.opts.Life.String()
		c.Claimant.Torrents = []daemon.TorrentConfig{{File: r.torrent.File, Listen: r.plan.Observer.String()}}
	}); err != nil {
		return err
	}
	if err := r.openInstalled(); err != nil {
		return err
	}
	if err := r.launch("claimant"); err != nil {
		return err
	}
	r.claimant = r.procs[len(r.procs)-1]
	var dir protocol.Directory
	if err := r.waitFor(60*time.Second, "the claimant to learn both ISPs' announcements", func() (bool, error) {
		err := r.getJSON(ctx, r.nodes["claimant"].Admin+"/directory", &dir)
		return err == nil && len(dir.ISPs) == 2, nil
	}); err != nil {
		return err
	}
	for _, e := range dir.ISPs {
		r.say("  the claimant routes %v to %s (from its signed, logged announcement)", e.Prefixes, e.Name)
	}
	r.say("  the claimant observes the swarm, and every %v asserts what it saw in the last %v, valid %v", r.opts.Interval, r.opts.Interval*3/2, r.opts.Life)
	return nil
}

// launch starts a configured node, in the world namespace in nft mode.
func (r *runner) launch(name string) error {
	_, info, err := r.startNode(name, r.world)
	if err != nil {
		return err
	}
	r.nodes[name] = info
	extra := ""
	switch {
	case info.Log != "":
		extra = " log " + info.Log
	case info.Witness != "":
		extra = " witness " + info.Witness
	}
	r.say("  %-9s pid %-7d admin %s%s", name, info.PID, info.Admin, extra)
	return nil
}

func (r *runner) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := r.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.Unmarshal(body, v)
}

// openInstalled prepares the reading of isp-one's installed pairs: the
// kernel's set in nft mode, the dry-run file otherwise.
func (r *runner) openInstalled() error {
	if r.topo == nil {
		path := filepath.Join(r.dir, ISPOne, "data", "dryrun.json")
		r.installed = func(context.Context) ([]enforce.Pair, error) { return readDryrun(path) }
		return nil
	}
	f, err := os.Open(r.topo.Router.Path)
	if err != nil {
		return err
	}
	b, err := nft.New(nft.WithNetNS(int(f.Fd())))
	if err != nil {
		f.Close()
		return err
	}
	r.installed = b.Installed
	r.closeInstalled = func() { b.Close(); f.Close() }
	return nil
}

// readDryrun reads a dry-run state file; a missing one holds nothing.
func readDryrun(path string) ([]enforce.Pair, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, err
	}
	return dryrun.Unmarshal(data)
}

// livePairs returns isp-one's pairs that have not expired, by pair.
func (r *runner) livePairs(ctx context.Context) (map[Pair]time.Time, error) {
	pairs, err := r.installed(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make(map[Pair]time.Time, len(pairs))
	for _, p := range pairs {
		if p.Expires.After(now) {
			out[Pair{Local: p.Key.Local, Remote: p.Key.Remote}] = p.Expires
		}
	}
	return out, nil
}

// firstEnforcement waits until isp-one enforces the first swarm and
// checks what it blocked and what it did not.
func (r *runner) firstEnforcement(ctx context.Context) error {
	var where string
	if r.topo != nil {
		where = "in the kernel (nftables, namespace " + r.topo.Router.Name + ")"
	} else {
		where = "in its dry-run file"
	}
	r.step("Waiting for isp-one to enforce: claimant observes → asserts → logs → gossips → isp-one verifies → installs")
	want := r.plan.Blockable()
	var live map[Pair]time.Time
	err := r.waitFor(90*time.Second, "isp-one to install the pairs of the swarm", func() (bool, error) {
		var err error
		if live, err = r.livePairs(ctx); err != nil {
			return false, err
		}
		for _, p := range want {
			if _, ok := live[p]; !ok {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	var fails []error
	for p := range live {
		r.res.Blocked = append(r.res.Blocked, p)
	}
	slices.SortFunc(r.res.Blocked, func(a, b Pair) int {
		if c := a.Local.Compare(b.Local); c != 0 {
			return c
		}
		return a.Remote.Compare(b.Remote)
	})
	r.say("  isp-one installed %d pairs %s:", len(live), where)
	for _, p := range r.res.Blocked {
		r.say("    %v  until %s", p, live[p].Format("15:04:05"))
	}
	count := func(a netip.Addr) int {
		n := 0
		for p := range live {
			if p.Local == a || p.Remote == a {
				n++
			}
		}
		return n
	}
	r.say("  Peer by peer:")
	outcome := func(a netip.Addr, role string, wantBlocked bool, why string) {
		n := count(a)
		o := PeerOutcome{Addr: a, Role: role, Blocked: n > 0, Pairs: n, Why: why}
		r.res.Peers = append(r.res.Peers, o)
		mark := "✓"
		if o.Blocked != wantBlocked {
			mark = "✗"
			fails = append(fails, r.failf("%v (%s): blocked=%v, want %v", a, role, o.Blocked, wantBlocked))
		}
		verdict := "not blocked"
		if o.Blocked {
			verdict = fmt.Sprintf("blocked (%d pairs)", n)
		}
		r.say("    %s %-15s %-28s %-18s %s", mark, a, role, verdict, why)
	}
	for _, a := range r.plan.Local {
		outcome(a.Addr(), "isp-one subscriber, seeder", true, "sent pieces that hash right: verified-transfer")
	}
	outcome(r.plan.Protected.Addr(), "isp-one subscriber, seeder", false, "verified-transfer, but isp-one's policy protects this address")
	outcome(r.plan.Joe.Addr(), "joe job (tracker listing)", false, "never answered as a BitTorrent peer: evidence 'announced' only")
	for _, a := range r.plan.Remote {
		role := "seeder, another network"
		if a == r.plan.RemoteISPTwo {
			role = "seeder, isp-two subscriber"
		}
		outcome(a.Addr(), role, true, "remote end: isp-one blocks only pairs crossing its network")
	}
	two, err := readDryrun(filepath.Join(r.dir, ISPTwo, "data", "dryrun.json"))
	if err != nil {
		return err
	}
	r.res.ISPTwoPairs = len(two)
	r.say("  isp-two (dry-run) wrote %d pairs for its subscriber %v to %s", len(two), r.plan.RemoteISPTwo.Addr(), filepath.Join(ISPTwo, "data", "dryrun.json"))
	if len(two) == 0 {
		fails = append(fails, r.failf("isp-two installed no pair"))
	}
	return errors.Join(fails...)
}

// proveTraffic sends TCP connections through isp-one's router.
func (r *runner) proveTraffic(ctx context.Context) error {
	if r.topo == nil {
		r.step("No traffic sent: in dry-run mode nothing is dropped (run as root for the nft mode)")
		return nil
	}
	r.step("Sending traffic through isp-one's router")
	remote := r.plan.Remote[0].Addr()
	checks := []TrafficCheck{
		{From: remote, To: r.plan.Local[0], What: "the blocked pair", Want: "dropped"},
		{From: remote, To: r.plan.Local[1], What: "the other blocked pair", Want: "dropped"},
		{From: remote, To: r.plan.Protected, What: "the protected seeder", Want: "open"},
		{From: remote, To: r.plan.JoeVictim, What: "the joe-job victim's web server", Want: "open"},
		{From: netip.MustParseAddr("10.99.0.1"), To: r.plan.Local[0], What: "an address outside the swarm to the blocked subscriber", Want: "open"},
	}
	var fails []error
	for _, c := range checks {
		c.Got = r.probe(ctx, c.From, c.To)
		r.res.Traffic = append(r.res.Traffic, c)
		mark := "✓"
		if c.Got != c.Want {
			mark = "✗"
			fails = append(fails, r.failf("%v → %v (%s): %s, want %s", c.From, c.To, c.What, c.Got, c.Want))
		}
		r.say("  %s %-13s → %-21s %-8s %s", mark, c.From, c.To, c.Got, c.What)
	}
	return errors.Join(fails...)
}

// probe returns "open" or "dropped" for a TCP connection attempt.
func (r *runner) probe(ctx context.Context, from netip.Addr, to netip.AddrPort) string {
	if err := Probe(ctx, r.world, from, to, time.Second); err != nil {
		return "dropped"
	}
	return "open"
}

// receipts waits until both ISPs' receipts are in the log.
func (r *runner) receipts(ctx context.Context) error {
	r.step("Reading the ISPs' receipts back from the public log")
	var rep *audit.Report
	err := r.waitFor(60*time.Second, "both ISPs' receipts in the log", func() (bool, error) {
		var err error
		rep, err = r.auditLog(ctx)
		if err != nil {
			return false, nil
		}
		one, two := rep.ISPs[ISPOne], rep.ISPs[ISPTwo]
		return one != nil && two != nil && one.Applied > 0 && two.Applied > 0, nil
	}, 500*time.Millisecond)
	if err != nil {
		return err
	}
	r.res.Receipts = map[string]map[string]int{}
	for _, name := range []string{ISPOne, ISPTwo} {
		c := rep.ISPs[name]
		r.res.Receipts[name] = map[string]int{"applied": c.Applied, "rejected": c.Rejected}
		r.say("  %s: %d announcement(s), %d receipt(s) 'applied' (%d pairs in all), %d 'rejected'", name, c.Announcements, c.Applied, c.Pairs, c.Rejected)
	}
	r.say("  the log (size %d) holds no IP address: peers are sealed to each ISP, the public part has counts and a salted commitment", rep.Size)
	return nil
}

// auditLog audits the log from its directory on disk, with the keys
// read once.
func (r *runner) auditLog(ctx context.Context) (*audit.Report, error) {
	if r.auditCfg == nil {
		cfg := audit.Config{Source: filepath.Join(r.dir, "registry", "data", "log")}
		var err error
		if cfg.LogKey, err = note.NewVerifier(r.logKey); err != nil {
			return nil, err
		}
		k, err := readPub(filepath.Join(r.dir, "registry", "keys", "registrar.pub"))
		if err != nil {
			return nil, err
		}
		cfg.Registrars = []*sign.PublicKey{k}
		for _, isp := range []string{ISPOne, ISPTwo} {
			k, err := readPub(filepath.Join(r.dir, isp, "keys", "isp.pub"))
			if err != nil {
				return nil, err
			}
			cfg.ISPs = append(cfg.ISPs, k)
		}
		r.auditCfg = &cfg
	}
	return audit.Audit(ctx, *r.auditCfg)
}

func readPub(path string) (*sign.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return sign.ParsePublicKeyPEM(data)
}

// cycles measures observe-to-drop: each cycle a new seeder joins at an
// isp-one subscriber, and devnet watches for its pair with the first
// remote seeder in isp-one's enforcement.
func (r *runner) cycles(ctx context.Context) error {
	n := min(r.opts.Cycles, r.plan.MaxCycles)
	if n <= 0 {
		return nil
	}
	r.step("Measuring observe-to-drop over %d cycles: each, a new seeder joins at an isp-one subscriber", n)
	var fails []error
	for i := range n {
		addr := r.plan.Cycle(i)
		joined := time.Now()
		p, err := r.startSeeder(fmt.Sprintf("cycle-%02d", i), r.nsOf(addr), []string{addr.String()}, nil)
		if err != nil {
			return err
		}
		// The first pair of the new seeder with a peer outside isp-one:
		// which remote peers an assertion lists depends on what its
		// window saw.
		var pair Pair
		var dropAt, expires time.Time
		err = r.waitFor(150*time.Second, fmt.Sprintf("a pair of %v", addr.Addr()), func() (bool, error) {
			live, err := r.livePairs(ctx)
			if err != nil {
				return false, err
			}
			dropAt = time.Now()
			for p, exp := range live {
				if p.Local == addr.Addr() && !r.plan.ISPOnePrefix.Contains(p.Remote) && (expires.IsZero() || exp.Before(expires)) {
					pair, expires = p, exp
				}
			}
			return !expires.IsZero(), nil
		}, 10*time.Millisecond)
		if err != nil {
			_ = p.stop()
			return err
		}
		// The pair expires at the assertion's not_after, which is its
		// not_before, the moment it was signed, plus its life.
		signed := expires.Add(-r.opts.Life)
		lat := dropAt.Sub(signed)
		r.res.Latencies = append(r.res.Latencies, ms(lat))
		r.res.JoinToDrop = append(r.res.JoinToDrop, ms(dropAt.Sub(joined)))
		extra := ""
		if r.topo != nil {
			got := r.probe(ctx, pair.Remote, addr)
			extra = fmt.Sprintf(", %v → %v %s", pair.Remote, addr.Addr(), got)
			if got != "dropped" {
				live, _ := r.livePairs(ctx)
				exp, held := live[pair]
				fails = append(fails, r.failf("cycle %d: %v → %v is %s after the pair was installed (the kernel's set holds the pair now: %v, until %s; it held it until %s)",
					i+1, pair.Remote, addr, got, held, exp.Format("15:04:05.000"), expires.Format("15:04:05.000")))
			}
		}
		r.say("  cycle %d: %-15s joined; assertion signed %5.0f ms later, pair enforced %4.0f ms after signing%s", i+1, addr.Addr(), ms(signed.Sub(joined)), ms(lat), extra)
		if err := p.stop(); err != nil {
			return err
		}
	}
	r.say("  observe-to-drop (assertion signed → pair enforced, including log inclusion, witness cosignature and gossip): p50 %.0f ms, p99 %.0f ms over %d cycles",
		percentile(r.res.Latencies, 50), percentile(r.res.Latencies, 99), n)
	r.say("  join-to-drop (seeder starts → pair enforced, including discovery and the wait for the next round): p50 %.0f ms, p99 %.0f ms",
		percentile(r.res.JoinToDrop, 50), percentile(r.res.JoinToDrop, 99))
	return errors.Join(fails...)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// percentile returns the p-th percentile of xs (nearest rank).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.999999) - 1
	return s[max(0, min(i, len(s)-1))]
}

// lapse stops the claimant and waits until every pair has expired.
func (r *runner) lapse(ctx context.Context) error {
	r.step("Stopping the claimant: no refresh, so every block lapses at its expiry")
	if err := r.claimant.stop(); err != nil {
		return err
	}
	stopped := time.Now()
	live, err := r.livePairs(ctx)
	if err != nil {
		return err
	}
	var last time.Time
	for _, exp := range live {
		if exp.After(last) {
			last = exp
		}
	}
	r.say("  %d pairs live; the last expires at %s (in %.1f s)", len(live), last.Format("15:04:05.000"), time.Until(last).Seconds())
	err = r.waitFor(r.opts.Life+30*time.Second, "every pair to expire", func() (bool, error) {
		live, err := r.livePairs(ctx)
		return err == nil && len(live) == 0, err
	}, 50*time.Millisecond)
	if err != nil {
		return r.failf("pairs still live %v after the claimant stopped: %v", time.Since(stopped).Round(time.Second), err)
	}
	r.res.Lapsed, r.res.LapseAfter = true, time.Since(stopped).Seconds()
	r.say("  ✓ no pair left, %.1f s after the claimant stopped", r.res.LapseAfter)
	if r.topo != nil {
		got := r.probe(ctx, r.plan.Remote[0].Addr(), r.plan.Local[0])
		r.res.Traffic = append(r.res.Traffic, TrafficCheck{From: r.plan.Remote[0].Addr(), To: r.plan.Local[0], What: "the lapsed pair", Want: "open", Got: got})
		if got != "open" {
			return r.failf("%v → %v is %s after the block lapsed", r.plan.Remote[0].Addr(), r.plan.Local[0], got)
		}
		r.say("  ✓ %v → %v opens again", r.plan.Remote[0].Addr(), r.plan.Local[0])
	}
	return nil
}

// audit runs "docket audit" on the log's URL, as any auditor would, and
// records the report.
func (r *runner) audit(ctx context.Context) error {
	r.step("The auditor verifies the whole public log: docket audit %s", r.nodes["registry"].Log)
	args := []string{"audit", r.nodes["registry"].Log, "--log-key", r.logKey, "--witness", r.witnessKey,
		"--registrar", filepath.Join("registry", "keys", "registrar.pub"),
		"--isp", filepath.Join(ISPOne, "keys", "isp.pub"), "--isp", filepath.Join(ISPTwo, "keys", "isp.pub")}
	cmd := exec.CommandContext(ctx, r.opts.Docket, args...)
	cmd.Dir = r.dir
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	var err error
	if r.world != nil {
		err = r.world.Start(cmd)
	} else {
		err = cmd.Start()
	}
	if err == nil {
		err = cmd.Wait()
	}
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		r.say("  | %s", line)
	}
	rep, aerr := r.auditLog(ctx)
	if aerr != nil {
		return aerr
	}
	r.res.LogSize, r.res.Findings = rep.Size, rep.Findings
	r.res.Entries = map[string]int{}
	for k, n := range rep.Entries {
		r.res.Entries[string(k)] = n
	}
	if err != nil || len(rep.Findings) > 0 {
		return r.failf("the audit found %d problem(s): %v", len(rep.Findings), err)
	}
	r.say("  ✓ audit clean: %d entries, every signature, chain, announcement and receipt verified", rep.Size)
	return nil
}

// keep leaves everything running until ctx is done.
func (r *runner) keep(ctx context.Context) {
	r.step("Left running for exploration (--keep); Ctrl-C stops everything and cleans up.")
	r.say("  working directory: %s (configs in */docket.toml, logs in logs/)", r.dir)
	for _, name := range []string{"registry", "witness", "claimant", ISPOne, ISPTwo, "auditor"} {
		r.say("  %-9s admin %s/status", name, r.nodes[name].Admin)
	}
	r.say("  log: %s/checkpoint", r.nodes["registry"].Log)
	if r.topo != nil {
		r.say("  try: ip netns exec %s nft list table inet %s", r.topo.Router.Name, nft.DefaultTable)
		r.say("       ip netns exec %s curl -s %s/status", r.topo.World.Name, r.nodes[ISPOne].Admin)
	}
	<-ctx.Done()
}

// waitFor polls cond every 100 ms (or every the optional interval)
// until it holds, fails or timeout passes.
func (r *runner) waitFor(timeout time.Duration, what string, cond func() (bool, error), every ...time.Duration) error {
	interval := 100 * time.Millisecond
	if len(every) > 0 {
		interval = every[0]
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s; the processes' output is in %s", timeout, what, filepath.Join(r.dir, "logs"))
		}
		time.Sleep(interval)
	}
}
