package devnet

import (
	"errors"
	"io"
	"net/netip"
	"time"

	"github.com/docket-project/docket/node/audit"
	"github.com/docket-project/docket/protocol"
)

// Defaults of Options.
const (
	DefaultCycles   = 5
	DefaultLife     = 30 * time.Second
	DefaultInterval = 3 * time.Second
)

// Options configure Run.
type Options struct {
	// Dir is the working directory: keys, configurations, data, logs. If
	// empty, a temporary directory is created and removed at the end.
	Dir string
	// Keep leaves the devnet running, after the checks, until ctx is
	// done, instead of stopping the claimant and watching the blocks
	// lapse.
	Keep bool
	// Cycles is the number of observe-to-drop measurements: each starts
	// a new seeder at an isp-one subscriber. Default DefaultCycles.
	Cycles int
	// Life is each assertion's life, Interval the claimant's round
	// interval. Defaults DefaultLife and DefaultInterval.
	Life, Interval time.Duration
	// Backend is "auto" (nft when possible, else dry-run), "nft" or
	// "dryrun".
	Backend string
	// Docket is the docket executable the processes run.
	Docket string
	// Out receives the narration.
	Out io.Writer
}

// Result is what a devnet run showed; "docket devnet --json" writes it.
type Result struct {
	// Mode is how isp-one enforced; Reason says why dry-run was used.
	Mode   Mode   `json:"mode"`
	Reason string `json:"reason,omitzero"`
	Dir    string `json:"dir"`
	// Credential is the claimant's credential id, Content the work's
	// content id.
	Credential protocol.ID        `json:"credential"`
	Content    protocol.ContentID `json:"content"`
	// Blocked are the pairs isp-one installed for the first swarm;
	// ISPTwoPairs the number isp-two installed.
	Blocked     []Pair `json:"blocked"`
	ISPTwoPairs int    `json:"isp_two_pairs"`
	// Peers says, for each address of the swarm, what isp-one did.
	Peers []PeerOutcome `json:"peers"`
	// Traffic are the packets sent to prove what the kernel does (nft
	// mode only).
	Traffic []TrafficCheck `json:"traffic,omitzero"`
	// Receipts counts the receipts in the log by ISP and verdict.
	Receipts map[string]map[string]int `json:"receipts"`
	// Latencies are the observe-to-drop times of the cycles, in
	// milliseconds: from the assertion's signing (its not_before) to the
	// pair in isp-one's enforcement; JoinToDrop from the new seeder's
	// start.
	Latencies  []float64 `json:"latencies_ms"`
	JoinToDrop []float64 `json:"join_to_drop_ms"`
	// Lapsed is set when, after the claimant stopped, every pair was gone
	// at its expiry; LapseAfter is how long after the claimant stopped.
	Lapsed     bool    `json:"lapsed"`
	LapseAfter float64 `json:"lapse_after_s,omitzero"`
	// LogSize is the log's size at the audit, Findings the audit's
	// findings.
	LogSize  uint64          `json:"log_size"`
	Entries  map[string]int  `json:"entries"`
	Findings []audit.Finding `json:"findings"`
}

// PeerOutcome is what isp-one did about one address of the swarm.
type PeerOutcome struct {
	Addr    netip.Addr `json:"addr"`
	Role    string     `json:"role"`
	Blocked bool       `json:"blocked"`
	Pairs   int        `json:"pairs"`
	Why     string     `json:"why"`
}

// TrafficCheck is one TCP connection attempt through isp-one's router.
type TrafficCheck struct {
	From netip.Addr     `json:"from"`
	To   netip.AddrPort `json:"to"`
	What string         `json:"what"`
	// Want and Got are "open" or "dropped".
	Want string `json:"want"`
	Got  string `json:"got"`
}

// ErrCheck is wrapped by the error Run returns when the federation ran
// but something it must show did not happen.
var ErrCheck = errors.New("devnet check failed")
