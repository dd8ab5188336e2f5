package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// The roles a node can run.
const (
	RoleRegistrar = "registrar"
	RoleClaimant  = "claimant"
	RoleISP       = "isp"
	RoleLog       = "log"
	RoleWitness   = "witness"
	RoleAuditor   = "auditor"
)

// Roles lists the roles in the order a node starts them.
var Roles = []string{RoleWitness, RoleLog, RoleRegistrar, RoleISP, RoleClaimant, RoleAuditor}

// maxConfigFile bounds the configuration file.
const maxConfigFile = 1 << 20

// Config is a node's configuration, read from a TOML file (docket.toml).
// The field comments are the file's documentation; each field's TOML key
// is in its tag. Unknown keys are errors. Relative paths are relative to
// the directory of the configuration file. A section for a role the node
// does not run is an error, so that a typo in roles does not go unnoticed.
type Config struct {
	// Roles are the roles the node runs: any of registrar, claimant, isp,
	// log, witness and auditor, each at most once. With none, the node is
	// a plain peer: it relays gossip and keeps the announcements it saw.
	Roles []string `toml:"roles"`
	// DataDir holds everything the node keeps: its libp2p identity,
	// the ISP's store and dry-run state, the log, the witness's state,
	// the checkpoints of the logs it follows. Created if missing.
	// Default "data".
	DataDir string `toml:"data_dir"`
	// Logging chooses how the node logs.
	Logging LoggingConfig `toml:"logging"`
	// P2P configures the libp2p host.
	P2P P2PConfig `toml:"p2p"`
	// Admin configures the operator's HTTP listener.
	Admin AdminConfig `toml:"admin"`
	// Trust names the keys the node trusts and the logs it uses.
	Trust TrustConfig `toml:"trust"`
	// ISP configures the isp role; required with it.
	ISP *ISPConfig `toml:"isp,omitempty"`
	// Claimant configures the claimant role; required with it.
	Claimant *ClaimantConfig `toml:"claimant,omitempty"`
	// Registrar configures the registrar role; optional with it.
	Registrar *RegistrarConfig `toml:"registrar,omitempty"`
	// Log configures the log role; required with it.
	Log *LogConfig `toml:"log,omitempty"`
	// Witness configures the witness role; required with it.
	Witness *WitnessConfig `toml:"witness,omitempty"`
	// Auditor configures the auditor role; optional with it.
	Auditor *AuditorConfig `toml:"auditor,omitempty"`

	// base is the directory relative paths are resolved against: the
	// configuration file's directory, or the working directory.
	base string
}

// LoggingConfig chooses the format and level of the node's log lines,
// written to standard error.
type LoggingConfig struct {
	// Format is "text" (default, logfmt-like key=value) or "json".
	Format string `toml:"format,omitempty"`
	// Level is "debug", "info" (default), "warn" or "error".
	Level string `toml:"level,omitempty"`
}

// P2PConfig configures the libp2p host (package node/p2p).
type P2PConfig struct {
	// Listen are the multiaddrs to listen on, TCP (/ip4/…/tcp/PORT) or
	// QUIC v1 (/ip4/…/udp/PORT/quic-v1). Default: TCP and QUIC on port
	// 4790 of every interface.
	Listen []string `toml:"listen,omitempty"`
	// Identity is the file holding the node's libp2p key, which fixes its
	// peer id; created if missing. Default DATA_DIR/p2p.key.
	Identity string `toml:"identity,omitempty"`
	// Peers are static and bootstrap peers, multiaddrs ending in
	// /p2p/<peer id>. The node dials them at start and whenever the
	// connection drops.
	Peers []string `toml:"peers,omitempty"`
	// DialPrefixes, when given, are the only IP prefixes the node dials
	// (CIDR). Inbound connections are not affected.
	DialPrefixes []string `toml:"dial_prefixes,omitempty"`
	// MaxMessageSize bounds one gossip message in bytes. Default 4 MiB,
	// enough for an assertion bundle carrying the largest section.
	MaxMessageSize int `toml:"max_message_size,omitempty"`
}

// AdminConfig configures the operator's HTTP listener: GET /metrics
// (Prometheus), /healthz and /status (JSON), and for a claimant
// GET /directory and POST /publish.
type AdminConfig struct {
	// Listen is the host:port to serve on; empty turns the listener off.
	// It is meant for the operator: bind it to a loopback or management
	// address.
	Listen string `toml:"listen,omitempty"`
}

// TrustConfig names what the node trusts.
type TrustConfig struct {
	// Registrars are PEM files of the registrars' public keys: the roots
	// of credential chains. Required by the isp role. A log role verifies
	// the signature of every submission when some are given, and is an
	// open log, checking structure only, when none are (package
	// node/tlog, Config.Registrars).
	Registrars []string `toml:"registrars,omitempty"`
	// ISPs are PEM files of the ISPs' public signing keys: their
	// announcements route a claimant's sections, and their receipts are
	// verified against them. Required by the claimant role. A log role
	// with Registrars takes announcements and receipts signed by these
	// keys only.
	ISPs []string `toml:"isps,omitempty"`
	// Logs are the transparency logs the node trusts: an ISP enforces
	// only assertions with an inclusion proof from one of them, objects
	// are submitted to the first that takes them, and every log the node
	// can read is followed (its checkpoints kept in DATA_DIR/follow, a
	// split view reported). The isp, claimant and registrar roles need one
	// that takes submissions (a url, a peer, or the log the node runs),
	// the auditor one it can read, the witness one to follow.
	Logs []TrustedLog `toml:"logs,omitempty"`
	// Witnesses are the witnesses whose cosignatures a checkpoint needs
	// (c2sp.org/tlog-cosignature). A log role asks them to cosign every
	// checkpoint; readers require WitnessesRequired of them.
	Witnesses []TrustedWitness `toml:"witnesses,omitempty"`
	// WitnessesRequired is how many of Witnesses must cosign each
	// checkpoint. Default (0): all of them.
	WitnessesRequired int `toml:"witnesses_required,omitempty"`
}

// TrustedLog is a log the node trusts and how to reach it.
type TrustedLog struct {
	// Key is the log's note verifier key, as "docket log keygen" prints
	// it; its name is the log's origin. Required.
	Key string `toml:"key"`
	// URL is the log's HTTP base URL: objects are submitted with POST
	// URL/add, and checkpoints and tiles are read from it.
	URL string `toml:"url,omitempty"`
	// Peer is the log node's libp2p multiaddr ending in /p2p/<peer id>:
	// objects are submitted over the /docket/log-add/1 protocol when URL
	// is empty. The peer is dialled like a static peer.
	Peer string `toml:"peer,omitempty"`
}

// TrustedWitness is a witness of the trusted logs.
type TrustedWitness struct {
	// Key is the witness's cosignature/v1 verifier key, as "docket
	// witness keygen" prints it. Required.
	Key string `toml:"key"`
	// URL is the witness's HTTP base URL; a log role posts checkpoints to
	// URL/add-checkpoint. Required by a log role.
	URL string `toml:"url,omitempty"`
}

// ISPConfig configures the isp role: the node verifies assertions
// addressed to it, enforces them, and logs a receipt for each decision.
type ISPConfig struct {
	// Name and Region are the ISP's, as credential scopes name them.
	// Required.
	Name   string `toml:"name"`
	Region string `toml:"region"`
	// Key is the ISP's signing key (PEM), which signs its announcements
	// and receipts. Required.
	Key string `toml:"key"`
	// Identity is the ISP's age identity file: claimants seal its
	// sections to its recipient. Required.
	Identity string `toml:"identity"`
	// Prefixes are the prefixes the ISP serves (CIDR): announced to
	// claimants, and the policy's own prefixes unless the policy file
	// gives them. Required.
	Prefixes []string `toml:"prefixes"`
	// Policy is the ISP's policy file (YAML or JSON, as "docket policy
	// check" reads it). Default: the default policy over Prefixes.
	Policy string `toml:"policy,omitempty"`
	// Enforcer is the enforcement backend: "dryrun" (default), "nft" or
	// "flowspec".
	Enforcer string `toml:"enforcer,omitempty"`
	// DryrunState is the dry-run backend's state file. Default
	// DATA_DIR/dryrun.json.
	DryrunState string `toml:"dryrun_state,omitempty"`
	// NFTNetNS is the network namespace file the nft backend works in
	// (e.g. /run/netns/NAME). Default: the node's own.
	NFTNetNS string `toml:"nft_netns,omitempty"`
	// Flowspec configures the flowspec backend; required with it.
	Flowspec *FlowspecConfig `toml:"flowspec,omitempty"`
	// AnnounceValidity is how long each announcement is valid, a Go
	// duration; a fresh one is signed and published when half of it has
	// passed. Default "24h"; at most 90 days.
	AnnounceValidity string `toml:"announce_validity,omitempty"`
	// ReceiptRetry is how often receipts the log has not taken yet are
	// offered again, and how often an announcement that could not be
	// logged or gossiped is tried again. Default "10s".
	ReceiptRetry string `toml:"receipt_retry,omitempty"`
	// MaxLife is the longest assertion life accepted. Default "30m".
	MaxLife string `toml:"max_life,omitempty"`
	// PermittedPrefixes are non-global prefixes accepted as peer
	// addresses. For laboratory networks and tests only.
	PermittedPrefixes []string `toml:"permitted_prefixes,omitempty"`
}

// FlowspecConfig configures the embedded BGP speaker of the flowspec
// backend (package enforce/flowspec).
type FlowspecConfig struct {
	// AS is the speaker's autonomous system number. Required.
	AS uint32 `toml:"as"`
	// RouterID is the speaker's BGP identifier, an IPv4 address.
	// Required.
	RouterID string `toml:"router_id"`
	// ListenAddress is the address it accepts sessions on. Default: all.
	ListenAddress string `toml:"listen_address,omitempty"`
	// ListenPort is the TCP port it accepts sessions on: 0 means 179,
	// -1 that it only opens sessions itself.
	ListenPort int32 `toml:"listen_port,omitempty"`
	// MaxRules caps the rules announced (two per pair). Default 2000.
	MaxRules int `toml:"max_rules,omitempty"`
	// Neighbors are the routers that receive the rules.
	Neighbors []FlowspecNeighbor `toml:"neighbors,omitempty"`
}

// FlowspecNeighbor is a router that receives the Flowspec rules.
type FlowspecNeighbor struct {
	// Address is the router's address. Required.
	Address string `toml:"address"`
	// AS is the router's AS number. Required.
	AS uint32 `toml:"as"`
	// Port is the router's BGP port. Default 179.
	Port uint16 `toml:"port,omitempty"`
	// LocalAddress is the source address of sessions the speaker opens.
	LocalAddress string `toml:"local_address,omitempty"`
	// ConnectRetry is the time between attempts to open the session, a
	// Go duration. Default "120s".
	ConnectRetry string `toml:"connect_retry,omitempty"`
}

// ClaimantConfig configures the claimant role: the node observes swarms,
// and logs and gossips the assertions it builds, routed by the ISP
// announcements it trusts.
type ClaimantConfig struct {
	// Key is the claimant's signing key (PEM), the subject of the last
	// credential of Chain. Required.
	Key string `toml:"key"`
	// Chain are the credential files of the claimant's chain, the
	// registrar's grant first. Required. They are submitted to the log at
	// start, so that auditors can check every assertion made under them.
	Chain []string `toml:"chain"`
	// Torrents are the swarms observed continuously; each round builds an
	// assertion from the last window.
	Torrents []TorrentConfig `toml:"torrents,omitempty"`
	// Interval is the time between two rounds. Default "2m".
	Interval string `toml:"interval,omitempty"`
	// Life is each assertion's validity. Default "10m".
	Life string `toml:"life,omitempty"`
	// Watch is a directory of pre-built assertion bundles to publish: each
	// *.json file that appears is logged and gossiped, then moved to
	// Watch/done (or Watch/failed if it is not a valid bundle of this
	// claimant).
	Watch string `toml:"watch,omitempty"`
	// WatchInterval is how often Watch is scanned. Default "1s".
	WatchInterval string `toml:"watch_interval,omitempty"`
}

// TorrentConfig is one swarm a claimant observes (package node/observe).
type TorrentConfig struct {
	// File is the .torrent file. Required.
	File string `toml:"file"`
	// Peers are ADDR:PORT peers to dial besides those the trackers and
	// peer exchange list.
	Peers []string `toml:"peers,omitempty"`
	// Listen is the host:port the observer listens on. Default: any
	// address, an ephemeral port.
	Listen string `toml:"listen,omitempty"`
}

// RegistrarConfig configures the registrar role. Credentials are issued
// with the CLI ("docket credential issue"); the node publishes the
// revocations it is given.
type RegistrarConfig struct {
	// Watch is a directory of revocation envelopes ("docket revoke"
	// writes them): each *.json file that appears is logged and gossiped
	// to the ISPs, then moved to Watch/done (or Watch/failed). Default
	// DATA_DIR/revocations.
	Watch string `toml:"watch,omitempty"`
	// WatchInterval is how often Watch is scanned. Default "1s".
	WatchInterval string `toml:"watch_interval,omitempty"`
}

// LogConfig configures the log role (package node/tlog): the log is
// stored in DATA_DIR/log and served over HTTP and over libp2p.
type LogConfig struct {
	// Key is the log's note signing key file, from "docket log keygen";
	// its name is the log's origin. Required.
	Key string `toml:"key"`
	// Listen is the host:port of the log's HTTP interface (tiles,
	// checkpoint, POST /add). Required.
	Listen string `toml:"listen"`
}

// WitnessConfig configures the witness role (package node/witness): it
// cosigns the checkpoints of the trusted logs, keeping its state in
// DATA_DIR/witness.
type WitnessConfig struct {
	// Key is the witness's cosigning key file, from "docket witness
	// keygen". Required.
	Key string `toml:"key"`
	// Listen is the host:port of the witness's HTTP interface
	// (POST /add-checkpoint). Required.
	Listen string `toml:"listen"`
}

// AuditorConfig configures the auditor role (package node/audit): every
// Interval it replays each trusted log that has a URL and verifies every
// entry, reporting findings as metrics and log lines.
type AuditorConfig struct {
	// Interval is the time between two audits. Default "10m".
	Interval string `toml:"interval,omitempty"`
}

// FieldError is a configuration error about one field.
type FieldError struct {
	// Field is the TOML key of the field, with indices:
	// isp.prefixes[1].
	Field string
	// Msg says what is wrong with it.
	Msg string
	// Err is the cause, if any.
	Err error
}

// Error returns "FIELD: message[: cause]".
func (e *FieldError) Error() string {
	if e.Err != nil {
		return e.Field + ": " + e.Msg + ": " + e.Err.Error()
	}
	return e.Field + ": " + e.Msg
}

// Unwrap returns the cause, if any.
func (e *FieldError) Unwrap() error { return e.Err }

// LoadConfig reads a configuration file strictly: an unknown key, a value
// of the wrong type or a key given twice is an error naming the key and
// its line (errors.Join'ed, one per key). Relative paths in it are taken
// relative to the file's directory. It does not validate the values: New
// does, and so does Validate.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigFile+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read configuration: %w", err)
	}
	if len(data) > maxConfigFile {
		return nil, fmt.Errorf("failed to read configuration %s: larger than %d bytes", path, maxConfigFile)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("failed to read configuration: %w", err)
	}
	cfg.base = abs
	return cfg, nil
}

// ParseConfig decodes a configuration strictly, as LoadConfig does;
// relative paths in it are relative to the working directory.
func ParseConfig(data []byte) (*Config, error) {
	var cfg Config
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return nil, explainTOML(err)
	}
	return &cfg, nil
}

// explainTOML turns go-toml's errors into ones naming the key and line.
func explainTOML(err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var errs []error
		for _, e := range strict.Errors {
			line, _ := e.Position()
			errs = append(errs, &FieldError{Field: strings.Join(e.Key(), "."),
				Msg: fmt.Sprintf("unknown key (line %d)", line)})
		}
		return errors.Join(errs...)
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, _ := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		if key := strings.Join(de.Key(), "."); key != "" {
			return &FieldError{Field: key, Msg: fmt.Sprintf("%s (line %d)", msg, line)}
		}
		return fmt.Errorf("line %d: %s", line, msg)
	}
	return fmt.Errorf("failed to parse configuration: %w", err)
}

// Marshal encodes the configuration as TOML, without comments.
func (c *Config) Marshal() ([]byte, error) {
	return toml.Marshal(c)
}

// path resolves a path of the configuration.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.base == "" {
		return p
	}
	return filepath.Join(c.base, p)
}
