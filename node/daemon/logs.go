package daemon

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-json-experiment/json"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/docket-project/docket/node/logclient"
	"github.com/docket-project/docket/node/p2p"
	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// The node's request/response protocols.
var (
	// logAddProtocol submits one signed object to a log role: the request
	// is a logAddRequest, the answer the log's tlog.Proof in JSON.
	logAddProtocol = p2p.Protocol{Name: "log-add", MaxRequest: 12 << 20, MaxResponse: 2 << 20, Timeout: 30 * time.Second}
	// announcementsProtocol asks a peer for the ISP announcements it
	// knows: the request is empty, the answer an announcementsResponse.
	announcementsProtocol = p2p.Protocol{Name: "announcements", MaxRequest: 64, MaxResponse: 2 << 20, Timeout: 10 * time.Second}
)

// followInterval is how often the node reads each trusted log's
// checkpoint.
const followInterval = 30 * time.Second

// submitTimeout bounds one submission to one log.
const submitTimeout = 30 * time.Second

// logSet is how the node reaches its trusted logs: it submits objects to
// them, over HTTP, libp2p or to the log it runs itself, and checks every
// proof it gets back.
type logSet struct {
	list     []*trustedLog
	quorum   map[string]*logclient.Verifier // by origin
	local    *tlog.Log                      // the log role's log, or nil
	node     *p2p.Node                      // set once the host runs
	http     *http.Client
	log      *slog.Logger
	metrics  *metrics
	sizes    *checkpointSizes
	required int
}

func newLogSet(s *settings, logger *slog.Logger, m *metrics, sizes *checkpointSizes) (*logSet, error) {
	ls := &logSet{list: s.logs, quorum: map[string]*logclient.Verifier{}, http: &http.Client{Timeout: submitTimeout},
		log: logger, metrics: m, sizes: sizes, required: s.witnessesRequired}
	for _, l := range s.logs {
		v, err := logclient.NewVerifier(l.vkey, s.witnessKeys, s.witnessesRequired)
		if err != nil {
			return nil, fmt.Errorf("%s.key: %w", l.field, err)
		}
		ls.quorum[l.origin] = v
	}
	return ls, nil
}

// submit submits one object to the trusted logs in order until one takes
// it, and returns that log's proof, verified: every entry of the object
// is in a checkpoint signed by the log and cosigned by the required
// witnesses. A rejection (the object is malformed) is a *protocol.Error
// and stops at the first log; any other failure moves on to the next log.
func (ls *logSet) submit(ctx context.Context, kind tlog.Kind, data []byte) (*tlog.Proof, *trustedLog, error) {
	entries, err := tlog.Entries(kind, data)
	if err != nil {
		return nil, nil, err
	}
	var errs []error
	for _, l := range ls.list {
		proof, err := ls.submitTo(ctx, l, kind, data)
		if err == nil {
			err = ls.check(l, proof, entries)
		}
		if err == nil {
			ls.metrics.submissions.WithLabelValues(string(kind), "ok").Inc()
			return proof, l, nil
		}
		var perr *protocol.Error
		if errors.As(err, &perr) {
			ls.metrics.submissions.WithLabelValues(string(kind), "rejected").Inc()
			return nil, l, fmt.Errorf("log %s rejected the %s: %w", l.origin, kind, err)
		}
		if errors.Is(err, errNoEndpoint) {
			continue
		}
		errs = append(errs, fmt.Errorf("log %s: %w", l.origin, err))
		if ctx.Err() != nil {
			break
		}
	}
	ls.metrics.submissions.WithLabelValues(string(kind), "failed").Inc()
	if len(errs) == 0 {
		return nil, nil, errNoEndpoint
	}
	return nil, nil, fmt.Errorf("failed to submit %s: %w", kind, errors.Join(errs...))
}

var errNoEndpoint = errors.New("no trusted log takes submissions")

// check verifies a log's proof of entries and records its checkpoint.
func (ls *logSet) check(l *trustedLog, proof *tlog.Proof, entries [][]byte) error {
	if _, err := proof.Verify(entries, l.verifier); err != nil {
		return fmt.Errorf("the log's proof does not verify: %w", err)
	}
	cp, err := ls.quorum[l.origin].Open([]byte(proof.Checkpoint))
	if err != nil {
		return fmt.Errorf("the log's checkpoint lacks cosignatures: %w", err)
	}
	ls.sizes.observe(l.origin, cp.Size)
	return nil
}

// checkQuorum reports whether a checkpoint of a trusted log carries the
// required witness cosignatures. A checkpoint of a log that is not trusted
// passes: the ISP pipeline rejects it with UNTRUSTED_LOG.
func (ls *logSet) checkQuorum(checkpoint string) error {
	if ls.required == 0 {
		return nil
	}
	origin, _, _ := strings.Cut(checkpoint, "\n")
	v, ok := ls.quorum[origin]
	if !ok {
		return nil
	}
	_, err := v.Open([]byte(checkpoint))
	return err
}

func (ls *logSet) submitTo(ctx context.Context, l *trustedLog, kind tlog.Kind, data []byte) (*tlog.Proof, error) {
	ctx, cancel := context.WithTimeout(ctx, submitTimeout)
	defer cancel()
	switch {
	case ls.local != nil && ls.local.Origin() == l.origin:
		return ls.local.Submit(ctx, kind, data)
	case l.url != "":
		return ls.submitHTTP(ctx, l.url, kind, data)
	case l.peer != nil && ls.node != nil:
		return ls.submitP2P(ctx, *l.peer, kind, data)
	}
	return nil, errNoEndpoint
}

func (ls *logSet) submitHTTP(ctx context.Context, base string, kind tlog.Kind, data []byte) (*tlog.Proof, error) {
	u := base + "/add"
	if kind != tlog.KindAuto {
		u += "?kind=" + url.QueryEscape(string(kind))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := ls.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(logAddProtocol.MaxResponse)+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		var e tlog.ErrorResponse
		if json.Unmarshal(body, &e) == nil && resp.StatusCode == http.StatusBadRequest && e.Code != "" {
			return nil, &protocol.Error{Code: e.Code, Msg: e.Message}
		}
		return nil, fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var proof tlog.Proof
	if err := json.Unmarshal(body, &proof); err != nil {
		return nil, fmt.Errorf("failed to decode the log's proof: %w", err)
	}
	return &proof, nil
}

func (ls *logSet) submitP2P(ctx context.Context, ai peer.AddrInfo, kind tlog.Kind, data []byte) (*tlog.Proof, error) {
	if err := ls.node.Connect(ctx, ai); err != nil {
		return nil, err
	}
	req, err := encodeJSON(&logAddRequest{Kind: kind, Object: data})
	if err != nil {
		return nil, err
	}
	resp, err := ls.node.Request(ctx, ai.ID, logAddProtocol, req)
	if err != nil {
		var perr *p2p.Error
		if errors.As(err, &perr) && perr.Remote && slices.Contains(protocol.Codes, protocol.Code(perr.Code)) {
			return nil, &protocol.Error{Code: protocol.Code(perr.Code), Msg: perr.Msg}
		}
		return nil, err
	}
	var proof tlog.Proof
	if err := json.Unmarshal(resp, &proof); err != nil {
		return nil, fmt.Errorf("failed to decode the log's proof: %w", err)
	}
	return &proof, nil
}

// serveLogAdd is the log role's handler of the log-add protocol.
func serveLogAdd(l *tlog.Log) p2p.Handler {
	return func(ctx context.Context, from peer.ID, req []byte) ([]byte, error) {
		var r logAddRequest
		if err := decodeJSON(req, &r); err != nil {
			return nil, err
		}
		proof, err := l.Submit(ctx, r.Kind, r.Object)
		if err != nil {
			return nil, err
		}
		return encodeJSON(proof)
	}
}

// checkpointSizes keeps the largest checkpoint size the node has verified
// from each log, for status pages and metrics.
type checkpointSizes struct {
	mu    sync.Mutex
	sizes map[string]uint64 // guarded by mu
}

func (c *checkpointSizes) observe(origin string, size uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sizes == nil {
		c.sizes = map[string]uint64{}
	}
	if size >= c.sizes[origin] {
		c.sizes[origin] = size
	}
}

func (c *checkpointSizes) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.sizes))
	for k, v := range c.sizes {
		out[k] = v
	}
	return out
}

// follower follows one trusted log with a logclient.Client whose state
// file is in the data directory, so that the node refuses a split view
// across restarts.
type follower struct {
	origin string
	client *logclient.Client
}

// newFollowers returns a follower for each trusted log the node can read:
// over HTTP, or from the directory of the log it runs.
func newFollowers(s *settings, ls *logSet) ([]*follower, error) {
	var out []*follower
	for _, l := range s.logs {
		var src logclient.Source
		var err error
		switch {
		case s.log != nil && s.log.signer.Name() == l.origin:
			src, err = logclient.NewDirSource(s.log.dir)
		case l.url != "":
			src, err = logclient.NewHTTPSource(l.url, nil)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("failed to follow log %s: %w", l.origin, err)
		}
		dir := filepath.Join(s.dataDir, "follow")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		c, err := logclient.NewClient(src, ls.quorum[l.origin], filepath.Join(dir, fileName(l.origin)+".checkpoint"))
		if err != nil {
			return nil, fmt.Errorf("failed to follow log %s: %w", l.origin, err)
		}
		if cp := c.Latest(); cp != nil {
			ls.sizes.observe(l.origin, cp.Size)
		}
		out = append(out, &follower{origin: l.origin, client: c})
	}
	return out, nil
}

// update reads the log's checkpoint once.
func (f *follower) update(ctx context.Context, ls *logSet) {
	ctx, cancel := context.WithTimeout(ctx, followInterval)
	defer cancel()
	cp, err := f.client.Update(ctx)
	var split *logclient.SplitViewError
	switch {
	case errors.As(err, &split):
		ls.metrics.splitViews.WithLabelValues(f.origin).Inc()
		ls.log.Error("log shows a split view: two checkpoints that cannot both be true", "log", f.origin,
			"held_size", split.OldSize, "new_size", split.NewSize, "held", string(split.OldNote), "new", string(split.NewNote))
	case err != nil:
		ls.log.Debug("failed to read log checkpoint", "log", f.origin, "err", err)
	default:
		ls.sizes.observe(f.origin, cp.Size)
	}
}

// fileName turns a log origin into a file name of its own.
func fileName(origin string) string {
	sum := sha256.Sum256([]byte(origin))
	var b strings.Builder
	for _, r := range origin {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '.' || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return fmt.Sprintf("%s-%x", b.String(), sum[:4])
}
