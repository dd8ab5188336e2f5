package daemon

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/docket-project/docket/protocol"
)

// Status is the node's state as GET /status shows it.
type Status struct {
	// PeerID and ListenAddrs are the node's libp2p identity and
	// addresses; Peers the peers it is connected to.
	PeerID      string   `json:"peer_id"`
	ListenAddrs []string `json:"listen_addrs"`
	Peers       []string `json:"peers"`
	// Roles are the roles the node runs.
	Roles []string `json:"roles"`
	// Gossip counts the verdicts of the node's validators by topic:
	// "accept", "ignore CODE" and "reject CODE".
	Gossip map[string]map[string]uint64 `json:"gossip"`
	// Checkpoints is the size of the largest checkpoint the node verified
	// from each log, by origin.
	Checkpoints map[string]uint64 `json:"checkpoints"`
	// Announcements is the number of ISP announcements the node keeps.
	Announcements int `json:"announcements"`
	// ISP is the ISP role's state.
	ISP *ISPStatus `json:"isp,omitzero"`
	// Claimant is the claimant role's state.
	Claimant *ClaimantStatus `json:"claimant,omitzero"`
}

// ISPStatus is the ISP role's state.
type ISPStatus struct {
	Name string `json:"name"`
	// Applied and Rejected count the pipeline's decisions since start,
	// Rejected by code (REPLAYED included); Failures the submissions it
	// failed to decide.
	Applied  uint64            `json:"applied"`
	Rejected map[string]uint64 `json:"rejected"`
	Failures uint64            `json:"failures"`
	// Pairs, Enforcements, PendingReceipts and Revocations count the
	// store's entries.
	Pairs           int `json:"pairs"`
	Enforcements    int `json:"enforcements"`
	PendingReceipts int `json:"pending_receipts"`
	Revocations     int `json:"revocations"`
	// Checkpoints are the sizes of the checkpoints the store keeps, by
	// log origin: the ISP's view of each log.
	Checkpoints map[string]uint64 `json:"checkpoints"`
}

// ClaimantStatus is the claimant role's state.
type ClaimantStatus struct {
	// Directory names the ISPs the claimant routes to.
	Directory []string `json:"directory"`
	// Conflicts is the number of conflicts between announcements.
	Conflicts int `json:"conflicts"`
}

// Status returns the node's state.
func (d *Daemon) Status() *Status {
	st := &Status{PeerID: d.ID(), ListenAddrs: d.Addrs(), Roles: d.set.roleList,
		Checkpoints: d.checkpoints(), Announcements: d.anns.len(), Gossip: map[string]map[string]uint64{}}
	if st.Roles == nil {
		st.Roles = []string{}
	}
	for _, p := range d.node.Peers() {
		st.Peers = append(st.Peers, p.String())
	}
	d.gossipMu.Lock()
	for topic, m := range d.gossipCounts {
		st.Gossip[topic] = map[string]uint64{}
		for k, v := range m {
			st.Gossip[topic][k] = v
		}
	}
	d.gossipMu.Unlock()
	if d.isp != nil {
		ps := d.isp.pipeline.Stats()
		st.ISP = &ISPStatus{Name: d.isp.s.name, Applied: ps.Accepted, Rejected: ps.Rejected, Failures: ps.Failures,
			Pairs: ps.Store.Pairs, Enforcements: ps.Store.Enforcements, PendingReceipts: ps.Store.PendingReceipts,
			Revocations: ps.Store.Revocations, Checkpoints: d.isp.storedCheckpoints()}
	}
	if d.claimant != nil {
		dir, _ := d.claimant.directory()
		cs := &ClaimantStatus{Directory: []string{}}
		for _, e := range dir.ISPs {
			cs.Directory = append(cs.Directory, e.Name)
		}
		d.claimant.mu.Lock()
		cs.Conflicts = len(d.claimant.conflicts)
		d.claimant.mu.Unlock()
		st.Claimant = cs
	}
	return st
}

// Directory returns the claimant's routing directory, or an empty one on
// a node without the claimant role.
func (d *Daemon) Directory() protocol.Directory {
	if d.claimant == nil {
		return protocol.Directory{}
	}
	dir, _ := d.claimant.directory()
	return dir
}

// adminHandler serves the operator's endpoints.
func (d *Daemon) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.healthy.Load() {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, d.Status())
	})
	if d.claimant != nil {
		mux.HandleFunc("GET /directory", func(w http.ResponseWriter, _ *http.Request) {
			dir := d.Directory()
			if dir.ISPs == nil {
				dir.ISPs = []protocol.DirectoryEntry{}
			}
			writeJSON(w, http.StatusOK, dir)
		})
		mux.HandleFunc("POST /publish", d.handlePublish)
	}
	return mux
}

// handlePublish publishes the assertion bundle in the request body.
func (d *Daemon) handlePublish(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, protocol.MaxAssertionBundle))
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), publishTimeout)
	defer cancel()
	p, err := d.claimant.publish(ctx, body)
	var perr *publishError
	switch {
	case errors.As(err, &perr):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error(), "code": string(protocol.CodeOf(err))})
	case err != nil:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, p)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	data, err := json.Marshal(v, json.Deterministic(true), jsontext.Multiline(true), jsontext.WithIndent("  "))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(data, '\n'))
}
