package tlog

import (
	"fmt"
	"net/url"

	"github.com/transparency-dev/tessera"
)

// DefaultWitnessTimeout is how long, by default, the log waits for enough
// witnesses to cosign a checkpoint (see Config.WitnessTimeout).
const DefaultWitnessTimeout = tessera.DefaultWitnessTimeout

// Witness is a witness the log asks to cosign each checkpoint before it
// publishes it, over the c2sp.org/tlog-witness protocol.
type Witness struct {
	// Key is the witness's c2sp.org/tlog-cosignature cosignature/v1
	// verifier key, as "docket witness keygen" prints it.
	Key string
	// URL is the witness's submission prefix: the log posts checkpoints to
	// URL/add-checkpoint.
	URL string
}

// witnessPolicy validates the witness fields of cfg and returns the
// Tessera witness group and options for them, requiring
// cfg.WitnessesRequired (default: all) of the witnesses.
func witnessPolicy(cfg Config) (tessera.WitnessGroup, *tessera.WitnessOptions, error) {
	var group tessera.WitnessGroup
	n := len(cfg.Witnesses)
	group.N = cfg.WitnessesRequired
	if group.N == 0 {
		group.N = n
	}
	switch {
	case n == 0 && cfg.WitnessesRequired != 0:
		return group, nil, fmt.Errorf("WitnessesRequired is %d, but Witnesses is empty", cfg.WitnessesRequired)
	case group.N < 0 || group.N > n:
		return group, nil, fmt.Errorf("WitnessesRequired is %d: use 1 to %d, or 0 for all", cfg.WitnessesRequired, n)
	}
	if cfg.WitnessTimeout < 0 {
		return group, nil, fmt.Errorf("WitnessTimeout is negative: %v", cfg.WitnessTimeout)
	}
	urls := make(map[string]bool)
	keys := make(map[string]bool)
	for i, w := range cfg.Witnesses {
		u, err := url.Parse(w.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return group, nil, fmt.Errorf("Witnesses[%d].URL %q is not an http or https URL", i, w.URL)
		}
		tw, err := tessera.NewWitness(w.Key, u)
		if err != nil {
			return group, nil, fmt.Errorf("Witnesses[%d].Key %q is not a cosignature verifier key: %w", i, w.Key, err)
		}
		id := fmt.Sprintf("%s+%08x", tw.Key.Name(), tw.Key.KeyHash())
		if urls[tw.URL] || keys[id] {
			return group, nil, fmt.Errorf("Witnesses[%d] repeats the URL or key of another witness", i)
		}
		urls[tw.URL], keys[id] = true, true
		group.Components = append(group.Components, tw)
	}
	timeout := cfg.WitnessTimeout
	if timeout == 0 {
		timeout = DefaultWitnessTimeout
	}
	return group, &tessera.WitnessOptions{Timeout: timeout}, nil
}
