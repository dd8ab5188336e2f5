package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/go-json-experiment/json"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	fnote "github.com/transparency-dev/formats/note"
	"go.yaml.in/yaml/v3"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/enforce/flowspec"
	"github.com/docket-project/docket/node/policy"
	"github.com/docket-project/docket/protocol"
)

// Defaults of the configuration.
const (
	DefaultDataDir          = "data"
	DefaultMaxMessageSize   = 4 << 20
	DefaultAnnounceValidity = 24 * time.Hour
	DefaultReceiptRetry     = 10 * time.Second
	DefaultWatchInterval    = time.Second
	DefaultAuditInterval    = 10 * time.Minute
)

// maxKeyFile bounds key, identity and policy files; maxMetainfo a
// .torrent file.
const (
	maxKeyFile  = 64 << 10
	maxPolicy   = 1 << 20
	maxMetainfo = 64 << 20
)

// samplePeerID is a well-formed peer id, for checking an announcement's
// other fields before the node has one.
const samplePeerID = "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"

// sampleRecipient is a well-formed age recipient, for the same purpose.
const sampleRecipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

// settings is a validated Config with its files loaded and its defaults
// applied.
type settings struct {
	roles     map[string]bool
	roleList  []string
	dataDir   string
	logFormat string
	logLevel  slog.Level

	listen       []string
	identity     string
	peers        []string
	dialPrefixes []netip.Prefix
	maxMessage   int
	admin        string

	registrars        []*sign.PublicKey
	isps              []*sign.PublicKey
	logs              []*trustedLog
	witnessKeys       []string
	witnessVerifiers  []note.Verifier
	witnessURLs       []string
	witnessesRequired int

	isp       *ispSettings
	claimant  *claimantSettings
	registrar *registrarSettings
	log       *logSettings
	witness   *witnessSettings
	auditor   *auditorSettings
}

// trustedLog is a trusted log as configured.
type trustedLog struct {
	field    string // trust.logs[i]
	origin   string
	vkey     string
	verifier note.Verifier
	url      string
	peer     *peer.AddrInfo
	peerAddr string
}

type ispSettings struct {
	name, region     string
	key              *sign.PrivateKey
	identity         *age.X25519Identity
	prefixes         []netip.Prefix
	policy           *policy.Policy
	enforcer         string
	dryrunState      string
	nftNetNS         string
	flowspec         flowspec.Config
	announceValidity time.Duration
	receiptRetry     time.Duration
	maxLife          time.Duration
	permitted        []netip.Prefix
}

type claimantSettings struct {
	key           *sign.PrivateKey
	chain         [][]byte
	leaf          *protocol.SignedCredential
	torrents      []torrentSettings
	interval      time.Duration
	life          time.Duration
	watch         string
	watchInterval time.Duration
}

type torrentSettings struct {
	file     string
	metainfo []byte
	peers    []netip.AddrPort
	listen   string
}

type registrarSettings struct {
	watch         string
	watchInterval time.Duration
}

type logSettings struct {
	signer note.Signer
	listen string
	dir    string
}

type witnessSettings struct {
	signer note.Signer
	listen string
	dir    string
}

type auditorSettings struct {
	interval time.Duration
}

// checker collects the configuration's errors.
type checker struct {
	cfg  *Config
	errs []error
}

func (c *checker) add(field, msg string, err error) {
	c.errs = append(c.errs, &FieldError{Field: field, Msg: msg, Err: err})
}

// Validate checks the configuration as New does, loading every file it
// names, and returns every problem found, each naming its field.
func (c *Config) Validate() error {
	_, err := c.check()
	return err
}

// check validates the configuration and returns its settings.
func (c *Config) check() (*settings, error) {
	ck := &checker{cfg: c}
	s := &settings{roles: map[string]bool{}}
	for i, r := range c.Roles {
		switch {
		case !isRole(r):
			ck.add(fmt.Sprintf("roles[%d]", i), fmt.Sprintf("%q is not a role (%s)", r, strings.Join(Roles, ", ")), nil)
		case s.roles[r]:
			ck.add(fmt.Sprintf("roles[%d]", i), fmt.Sprintf("role %q is given twice", r), nil)
		default:
			s.roles[r] = true
		}
	}
	for _, r := range Roles {
		if s.roles[r] {
			s.roleList = append(s.roleList, r)
		}
	}
	sections := []struct {
		role    string
		present bool
		needed  bool
	}{
		{RoleISP, c.ISP != nil, true},
		{RoleClaimant, c.Claimant != nil, true},
		{RoleRegistrar, c.Registrar != nil, false},
		{RoleLog, c.Log != nil, true},
		{RoleWitness, c.Witness != nil, true},
		{RoleAuditor, c.Auditor != nil, false},
	}
	for _, sec := range sections {
		switch {
		case sec.present && !s.roles[sec.role]:
			ck.add(sec.role, fmt.Sprintf("the [%s] section is given but roles does not list %q", sec.role, sec.role), nil)
		case !sec.present && sec.needed && s.roles[sec.role]:
			ck.add(sec.role, fmt.Sprintf("role %q needs an [%s] section", sec.role, sec.role), nil)
		}
	}

	s.dataDir = c.path(or(c.DataDir, DefaultDataDir))
	ck.logging(s)
	ck.p2p(s)
	if c.Admin.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Listen); err != nil {
			ck.add("admin.listen", fmt.Sprintf("%q is not host:port", c.Admin.Listen), nil)
		}
		s.admin = c.Admin.Listen
	}
	ck.trust(s)
	if c.Log != nil && s.roles[RoleLog] {
		s.log = ck.logRole(s)
	}
	if c.Witness != nil && s.roles[RoleWitness] {
		s.witness = ck.witnessRole(s)
	}
	// Roles that submit objects need a log to submit them to.
	for _, r := range []string{RoleISP, RoleClaimant, RoleRegistrar} {
		if s.roles[r] && !s.canSubmit() {
			ck.add("trust.logs", fmt.Sprintf("role %q submits to a log: give a trusted log with a url or a peer", r), nil)
			break
		}
	}
	if s.roles[RoleISP] && len(s.registrars) == 0 {
		ck.add("trust.registrars", `role "isp" needs at least one trusted registrar`, nil)
	}
	if s.roles[RoleClaimant] && len(s.isps) == 0 {
		ck.add("trust.isps", `role "claimant" needs at least one trusted ISP key to route assertions`, nil)
	}
	if s.roles[RoleWitness] && len(s.logs) == 0 {
		ck.add("trust.logs", `role "witness" needs at least one trusted log to follow`, nil)
	}
	if c.ISP != nil && s.roles[RoleISP] {
		s.isp = ck.ispRole(s)
	}
	if c.Claimant != nil && s.roles[RoleClaimant] {
		s.claimant = ck.claimantRole(s)
	}
	if s.roles[RoleRegistrar] {
		rc := c.Registrar
		if rc == nil {
			rc = &RegistrarConfig{}
		}
		s.registrar = &registrarSettings{
			watch:         c.path(rc.Watch),
			watchInterval: ck.duration("registrar.watch_interval", rc.WatchInterval, DefaultWatchInterval),
		}
		if s.registrar.watch == "" {
			s.registrar.watch = filepath.Join(s.dataDir, "revocations")
		}
	}
	if s.roles[RoleAuditor] {
		ac := c.Auditor
		if ac == nil {
			ac = &AuditorConfig{}
		}
		s.auditor = &auditorSettings{interval: ck.duration("auditor.interval", ac.Interval, DefaultAuditInterval)}
		readable := s.log != nil
		for _, l := range s.logs {
			readable = readable || l.url != ""
		}
		if !readable {
			ck.add("trust.logs", `role "auditor" reads a log: give a trusted log with a url`, nil)
		}
	}
	if len(ck.errs) > 0 {
		return nil, errors.Join(ck.errs...)
	}
	return s, nil
}

// canSubmit reports whether some trusted log takes submissions.
func (s *settings) canSubmit() bool {
	for _, l := range s.logs {
		if l.url != "" || l.peer != nil || (s.log != nil && l.origin == s.log.signer.Name()) {
			return true
		}
	}
	return false
}

func isRole(r string) bool {
	for _, x := range Roles {
		if x == r {
			return true
		}
	}
	return false
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (ck *checker) logging(s *settings) {
	c := ck.cfg.Logging
	switch c.Format {
	case "", "text":
		s.logFormat = "text"
	case "json":
		s.logFormat = "json"
	default:
		ck.add("logging.format", fmt.Sprintf("%q is not text or json", c.Format), nil)
	}
	switch c.Level {
	case "debug":
		s.logLevel = slog.LevelDebug
	case "", "info":
		s.logLevel = slog.LevelInfo
	case "warn":
		s.logLevel = slog.LevelWarn
	case "error":
		s.logLevel = slog.LevelError
	default:
		ck.add("logging.level", fmt.Sprintf("%q is not debug, info, warn or error", c.Level), nil)
	}
}

func (ck *checker) p2p(s *settings) {
	c := ck.cfg.P2P
	for i, a := range c.Listen {
		if _, err := ma.NewMultiaddr(a); err != nil {
			ck.add(fmt.Sprintf("p2p.listen[%d]", i), fmt.Sprintf("%q is not a multiaddr", a), nil)
		}
	}
	s.listen = c.Listen
	s.identity = ck.cfg.path(c.Identity)
	if s.identity == "" {
		s.identity = filepath.Join(s.dataDir, "p2p.key")
	}
	for i, p := range c.Peers {
		if _, err := peer.AddrInfoFromString(p); err != nil {
			ck.add(fmt.Sprintf("p2p.peers[%d]", i), fmt.Sprintf("%q is not a multiaddr ending in /p2p/<peer id>", p), nil)
		}
	}
	s.peers = c.Peers
	s.dialPrefixes = ck.prefixes("p2p.dial_prefixes", c.DialPrefixes)
	switch {
	case c.MaxMessageSize < 0:
		ck.add("p2p.max_message_size", fmt.Sprintf("%d is negative", c.MaxMessageSize), nil)
	case c.MaxMessageSize == 0:
		s.maxMessage = DefaultMaxMessageSize
	case c.MaxMessageSize < 64<<10:
		ck.add("p2p.max_message_size", fmt.Sprintf("%d bytes is too small for an assertion message: give at least 65536", c.MaxMessageSize), nil)
	default:
		s.maxMessage = c.MaxMessageSize
	}
}

func (ck *checker) trust(s *settings) {
	c := ck.cfg.Trust
	for i, p := range c.Registrars {
		if k := ck.publicKey(fmt.Sprintf("trust.registrars[%d]", i), p); k != nil {
			s.registrars = append(s.registrars, k)
		}
	}
	for i, p := range c.ISPs {
		if k := ck.publicKey(fmt.Sprintf("trust.isps[%d]", i), p); k != nil {
			s.isps = append(s.isps, k)
		}
	}
	origins := map[string]bool{}
	for i, l := range c.Logs {
		field := fmt.Sprintf("trust.logs[%d]", i)
		tl := &trustedLog{field: field, vkey: strings.TrimSpace(l.Key)}
		v, err := note.NewVerifier(tl.vkey)
		if err != nil {
			ck.add(field+".key", fmt.Sprintf("%q is not a note verifier key", l.Key), err)
			continue
		}
		tl.verifier, tl.origin = v, v.Name()
		if origins[tl.origin] {
			ck.add(field+".key", fmt.Sprintf("log %q is given twice", tl.origin), nil)
			continue
		}
		origins[tl.origin] = true
		if l.URL != "" {
			if u, err := url.Parse(l.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ck.add(field+".url", fmt.Sprintf("%q is not an http:// or https:// URL", l.URL), nil)
			}
			tl.url = strings.TrimSuffix(l.URL, "/")
		}
		if l.Peer != "" {
			ai, err := peer.AddrInfoFromString(l.Peer)
			if err != nil {
				ck.add(field+".peer", fmt.Sprintf("%q is not a multiaddr ending in /p2p/<peer id>", l.Peer), nil)
			}
			tl.peer, tl.peerAddr = ai, l.Peer
		}
		s.logs = append(s.logs, tl)
	}
	for i, w := range c.Witnesses {
		field := fmt.Sprintf("trust.witnesses[%d]", i)
		v, err := fnote.NewVerifierForCosignatureV1(strings.TrimSpace(w.Key))
		if err != nil {
			ck.add(field+".key", fmt.Sprintf("%q is not a witness's cosignature verifier key", w.Key), err)
			continue
		}
		if w.URL != "" {
			if u, err := url.Parse(w.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				ck.add(field+".url", fmt.Sprintf("%q is not an http:// or https:// URL", w.URL), nil)
			}
		}
		s.witnessKeys = append(s.witnessKeys, strings.TrimSpace(w.Key))
		s.witnessVerifiers = append(s.witnessVerifiers, v)
		s.witnessURLs = append(s.witnessURLs, strings.TrimSuffix(w.URL, "/"))
	}
	switch n := c.WitnessesRequired; {
	case n < 0 || n > len(c.Witnesses):
		ck.add("trust.witnesses_required", fmt.Sprintf("%d is not between 0 and the number of witnesses (%d)", n, len(c.Witnesses)), nil)
	case n == 0:
		s.witnessesRequired = len(c.Witnesses)
	default:
		s.witnessesRequired = n
	}
}

func (ck *checker) logRole(s *settings) *logSettings {
	c := ck.cfg.Log
	ls := &logSettings{listen: c.Listen, dir: filepath.Join(s.dataDir, "log")}
	ck.listenAddr("log.listen", c.Listen)
	if data := ck.file("log.key", c.Key, maxKeyFile); data != nil {
		signer, err := note.NewSigner(strings.TrimSpace(string(data)))
		if err != nil {
			ck.add("log.key", "not a note signing key (from \"docket log keygen\")", err)
		}
		ls.signer = signer
	}
	for i, u := range s.witnessURLs {
		if u == "" {
			ck.add(fmt.Sprintf("trust.witnesses[%d].url", i), "a log role asks every witness to cosign: give its url", nil)
		}
	}
	if ls.signer == nil {
		return nil
	}
	return ls
}

func (ck *checker) witnessRole(s *settings) *witnessSettings {
	c := ck.cfg.Witness
	ws := &witnessSettings{listen: c.Listen, dir: filepath.Join(s.dataDir, "witness")}
	ck.listenAddr("witness.listen", c.Listen)
	if data := ck.file("witness.key", c.Key, maxKeyFile); data != nil {
		signer, err := fnote.NewSignerForCosignatureV1(strings.TrimSpace(string(data)))
		if err != nil {
			ck.add("witness.key", "not a note signing key (from \"docket witness keygen\")", err)
			return nil
		}
		ws.signer = signer
	}
	if ws.signer == nil {
		return nil
	}
	return ws
}

func (ck *checker) ispRole(s *settings) *ispSettings {
	c := ck.cfg.ISP
	is := &ispSettings{name: c.Name, region: c.Region}
	if data := ck.file("isp.key", c.Key, maxKeyFile); data != nil {
		key, err := sign.ParsePrivateKeyPEM(data)
		if err != nil {
			ck.add("isp.key", "not a PEM signing key", err)
		}
		is.key = key
	}
	if data := ck.file("isp.identity", c.Identity, maxKeyFile); data != nil {
		id, err := seal.ParseIdentityFile(data)
		if err != nil {
			ck.add("isp.identity", "not an age identity file", err)
		}
		is.identity = id
	}
	if err := checkISPName(c.Name); err != nil {
		ck.add("isp.name", fmt.Sprintf("%q is not an ISP name", c.Name), err)
	}
	if err := checkRegion(c.Region); err != nil {
		ck.add("isp.region", fmt.Sprintf("%q is not a region", c.Region), err)
	}
	if len(c.Prefixes) == 0 {
		ck.add("isp.prefixes", "give the prefixes the ISP serves", nil)
	}
	for i, p := range c.Prefixes {
		field := fmt.Sprintf("isp.prefixes[%d]", i)
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			ck.add(field, fmt.Sprintf("%q is not a prefix", p), nil)
			continue
		}
		a := sampleAnnouncement()
		a.Prefixes = []netip.Prefix{pfx}
		if err := a.Validate(); err != nil {
			ck.add(field, fmt.Sprintf("%q cannot be announced", p), err)
			continue
		}
		for _, q := range is.prefixes {
			if q == pfx {
				ck.add(field, fmt.Sprintf("%q is given twice", p), nil)
			}
		}
		is.prefixes = append(is.prefixes, pfx)
	}
	is.prefixes = protocol.SortPrefixes(is.prefixes)
	if len(is.prefixes) > protocol.MaxAnnouncedPrefixes {
		ck.add("isp.prefixes", fmt.Sprintf("%d prefixes, at most %d can be announced", len(is.prefixes), protocol.MaxAnnouncedPrefixes), nil)
	}
	is.policy = ck.policy(c.Policy, is.prefixes)
	switch c.Enforcer {
	case "", "dryrun":
		is.enforcer = "dryrun"
		is.dryrunState = ck.cfg.path(c.DryrunState)
		if is.dryrunState == "" {
			is.dryrunState = filepath.Join(s.dataDir, "dryrun.json")
		}
	case "nft":
		is.enforcer = "nft"
		is.nftNetNS = ck.cfg.path(c.NFTNetNS)
	case "flowspec":
		is.enforcer = "flowspec"
		if c.Flowspec == nil {
			ck.add("isp.flowspec", `enforcer "flowspec" needs an [isp.flowspec] section`, nil)
		} else {
			is.flowspec = ck.flowspec(c.Flowspec)
		}
	default:
		ck.add("isp.enforcer", fmt.Sprintf("%q is not dryrun, nft or flowspec", c.Enforcer), nil)
	}
	if c.DryrunState != "" && is.enforcer != "dryrun" {
		ck.add("isp.dryrun_state", `is for enforcer "dryrun"`, nil)
	}
	if c.NFTNetNS != "" && is.enforcer != "nft" {
		ck.add("isp.nft_netns", `is for enforcer "nft"`, nil)
	}
	if c.Flowspec != nil && is.enforcer != "flowspec" {
		ck.add("isp.flowspec", `is for enforcer "flowspec"`, nil)
	}
	is.announceValidity = ck.duration("isp.announce_validity", c.AnnounceValidity, DefaultAnnounceValidity)
	if is.announceValidity > protocol.MaxAnnouncementLife {
		ck.add("isp.announce_validity", fmt.Sprintf("%v is longer than an announcement may be valid (%v)", is.announceValidity, protocol.MaxAnnouncementLife), nil)
	}
	is.receiptRetry = ck.duration("isp.receipt_retry", c.ReceiptRetry, DefaultReceiptRetry)
	is.maxLife = ck.duration("isp.max_life", c.MaxLife, protocol.DefaultMaxAssertionLife)
	is.permitted = ck.prefixes("isp.permitted_prefixes", c.PermittedPrefixes)
	return is
}

func (ck *checker) flowspec(c *FlowspecConfig) flowspec.Config {
	fc := flowspec.Config{AS: c.AS, ListenPort: c.ListenPort, MaxRules: c.MaxRules}
	fc.RouterID = ck.addr("isp.flowspec.router_id", c.RouterID, true)
	fc.ListenAddress = ck.addr("isp.flowspec.listen_address", c.ListenAddress, false)
	for i, n := range c.Neighbors {
		field := fmt.Sprintf("isp.flowspec.neighbors[%d]", i)
		fc.Neighbors = append(fc.Neighbors, flowspec.Neighbor{
			Address:      ck.addr(field+".address", n.Address, true),
			AS:           n.AS,
			Port:         n.Port,
			LocalAddress: ck.addr(field+".local_address", n.LocalAddress, false),
			ConnectRetry: ck.duration(field+".connect_retry", n.ConnectRetry, 0),
		})
	}
	return fc
}

func (ck *checker) claimantRole(s *settings) *claimantSettings {
	c := ck.cfg.Claimant
	cs := &claimantSettings{}
	if data := ck.file("claimant.key", c.Key, maxKeyFile); data != nil {
		key, err := sign.ParsePrivateKeyPEM(data)
		if err != nil {
			ck.add("claimant.key", "not a PEM signing key", err)
		}
		cs.key = key
	}
	if len(c.Chain) == 0 {
		ck.add("claimant.chain", "give the claimant's credentials, the registrar's grant first", nil)
	}
	if len(c.Chain) > protocol.MaxChainLength {
		ck.add("claimant.chain", fmt.Sprintf("%d credentials, a chain has at most %d", len(c.Chain), protocol.MaxChainLength), nil)
	}
	for i, p := range c.Chain {
		field := fmt.Sprintf("claimant.chain[%d]", i)
		data := ck.file(field, p, protocol.MaxCredentialEnvelope)
		if data == nil {
			continue
		}
		sc, err := protocol.DecodeCredential(data)
		if err != nil {
			ck.add(field, "not a credential", err)
			continue
		}
		cs.chain = append(cs.chain, data)
		cs.leaf = sc
	}
	if cs.key != nil && cs.leaf != nil && len(cs.chain) == len(c.Chain) {
		if cs.key.Public().ID() != cs.leaf.Subject.ID() {
			ck.add("claimant.key", fmt.Sprintf("key %s is not the subject of the chain's last credential (%s)", cs.key.Public().ID(), cs.leaf.Subject.ID()), nil)
		}
		if len(s.registrars) > 0 {
			if _, err := protocol.NewVerifier(s.registrars).VerifyChain(cs.chain, time.Now()); err != nil {
				ck.add("claimant.chain", "does not verify with the trusted registrars", err)
			}
		}
	}
	for i, t := range c.Torrents {
		field := fmt.Sprintf("claimant.torrents[%d]", i)
		ts := torrentSettings{file: ck.cfg.path(t.File), listen: t.Listen}
		if t.File == "" {
			ck.add(field+".file", "give the .torrent file", nil)
		} else {
			ts.metainfo = ck.file(field+".file", t.File, maxMetainfo)
		}
		for j, p := range t.Peers {
			ap, err := netip.ParseAddrPort(p)
			if err != nil {
				ck.add(fmt.Sprintf("%s.peers[%d]", field, j), fmt.Sprintf("%q is not ADDR:PORT", p), nil)
				continue
			}
			ts.peers = append(ts.peers, ap)
		}
		if t.Listen != "" {
			ck.listenAddr(field+".listen", t.Listen)
		}
		cs.torrents = append(cs.torrents, ts)
	}
	cs.interval = ck.duration("claimant.interval", c.Interval, 2*time.Minute)
	cs.life = ck.duration("claimant.life", c.Life, protocol.DefaultAssertionLife)
	if cs.life <= cs.interval {
		ck.add("claimant.life", fmt.Sprintf("%v is not longer than claimant.interval (%v): enforcement would lapse between rounds", cs.life, cs.interval), nil)
	}
	cs.watch = ck.cfg.path(c.Watch)
	cs.watchInterval = ck.duration("claimant.watch_interval", c.WatchInterval, DefaultWatchInterval)
	return cs
}

// policy loads the ISP's policy file, or the default policy over the
// ISP's prefixes.
func (ck *checker) policy(path string, prefixes []netip.Prefix) *policy.Policy {
	var pc policy.Config
	if path != "" {
		data := ck.file("isp.policy", path, maxPolicy)
		if data == nil {
			return nil
		}
		var err error
		switch filepath.Ext(path) {
		case ".yaml", ".yml":
			dec := yaml.NewDecoder(bytes.NewReader(data))
			dec.KnownFields(true)
			if err = dec.Decode(&pc); errors.Is(err, io.EOF) {
				err = nil
			}
		default:
			err = json.Unmarshal(data, &pc, json.RejectUnknownMembers(true))
		}
		if err != nil {
			ck.add("isp.policy", fmt.Sprintf("failed to parse %s", path), err)
			return nil
		}
	}
	if len(pc.OwnPrefixes) == 0 {
		pc.OwnPrefixes = prefixes
	}
	p, err := policy.New(pc)
	if err != nil {
		ck.add("isp.policy", "not a valid policy", err)
		return nil
	}
	return p
}

// file reads a file the configuration names, of at most limit bytes.
func (ck *checker) file(field, path string, limit int) []byte {
	if path == "" {
		ck.add(field, "required", nil)
		return nil
	}
	path = ck.cfg.path(path)
	f, err := os.Open(path)
	if err != nil {
		ck.add(field, "cannot be read", err)
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		ck.add(field, "cannot be read", err)
		return nil
	}
	if len(data) > limit {
		ck.add(field, fmt.Sprintf("%s is larger than %d bytes", path, limit), nil)
		return nil
	}
	return data
}

func (ck *checker) publicKey(field, path string) *sign.PublicKey {
	data := ck.file(field, path, maxKeyFile)
	if data == nil {
		return nil
	}
	k, err := sign.ParsePublicKeyPEM(data)
	if err != nil {
		ck.add(field, "not a PEM public key", err)
		return nil
	}
	return k
}

func (ck *checker) duration(field, s string, def time.Duration) time.Duration {
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		ck.add(field, fmt.Sprintf("%q is not a positive duration such as \"90s\" or \"10m\"", s), nil)
		return def
	}
	return d
}

func (ck *checker) prefixes(field string, list []string) []netip.Prefix {
	var out []netip.Prefix
	for i, p := range list {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			ck.add(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("%q is not a prefix", p), nil)
			continue
		}
		if pfx.Masked() != pfx {
			ck.add(fmt.Sprintf("%s[%d]", field, i), fmt.Sprintf("%q has host bits set: write %s", p, pfx.Masked()), nil)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

func (ck *checker) addr(field, s string, required bool) netip.Addr {
	if s == "" {
		if required {
			ck.add(field, "required", nil)
		}
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ck.add(field, fmt.Sprintf("%q is not an IP address", s), nil)
	}
	return a
}

func (ck *checker) listenAddr(field, s string) {
	if s == "" {
		ck.add(field, "required", nil)
		return
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		ck.add(field, fmt.Sprintf("%q is not host:port", s), nil)
	}
}

// sampleAnnouncement is a valid announcement, to check one field of an
// announcement to be made with the others valid.
func sampleAnnouncement() protocol.Announcement {
	now := time.Unix(1e9, 0).UTC()
	return protocol.Announcement{ISP: "isp", Region: "DE", Issuer: sign.KeyID(strings.Repeat("0", 64)),
		PeerID: samplePeerID, Recipient: sampleRecipient,
		Prefixes: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, IssuedAt: now, NotAfter: now.Add(time.Hour)}
}

// checkISPName checks an ISP name as announcements and receipts do.
func checkISPName(name string) error {
	a := sampleAnnouncement()
	a.ISP = name
	return a.Validate()
}

// checkRegion checks a region as announcements do.
func checkRegion(region string) error {
	a := sampleAnnouncement()
	a.Region = region
	return a.Validate()
}
