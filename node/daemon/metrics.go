package daemon

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the node's own counters, registered in its registry beside
// a collector that reads the libp2p host's and the ISP pipeline's
// counters when scraped.
type metrics struct {
	reg *prometheus.Registry

	gossip        *prometheus.CounterVec // topic, result, code: the node's validators' verdicts
	submissions   *prometheus.CounterVec // kind, result: objects submitted to logs
	splitViews    *prometheus.CounterVec // origin
	messages      *prometheus.CounterVec // result: assertion messages an ISP handled
	announcements *prometheus.CounterVec // result: announcements signed and published
	published     *prometheus.CounterVec // result: assertions a claimant published
	revocations   *prometheus.CounterVec // role, result: revocations published or applied
	conflicts     prometheus.Gauge       // directory conflicts
	directoryISPs prometheus.Gauge       // ISPs in the claimant's directory
	watched       *prometheus.CounterVec // dir, result: files taken from watch directories
	audits        *prometheus.CounterVec // origin, result
	findings      *prometheus.GaugeVec   // origin, kind: findings of the last audit
	audited       *prometheus.GaugeVec   // origin: tree size of the last audit
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		gossip: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docket_gossip_validations_total",
			Help: "Gossip messages the node's validators judged, by topic, result (accept, reject, ignore) and code."},
			[]string{"topic", "result", "code"}),
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docket_log_submissions_total",
			Help: "Objects the node submitted to its trusted logs, by kind and result (ok, rejected, failed)."},
			[]string{"kind", "result"}),
		splitViews: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docket_log_split_views_total",
			Help: "Checkpoints of a log inconsistent with the one the node held: evidence of a split view."},
			[]string{"origin"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docket_isp_messages_total",
			Help: "Assertion messages the ISP role received, by what became of them: decided, failed (the pipeline could not decide), not_addressed, other_sections (another message carries this ISP's section), no_quorum (too few witness cosignatures), dropped (queue full)."},
			[]string{"result"}),
		announcements: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docket_isp_announcements_total",
			Help: "ISP announcements signed, by how their publication went (logged, log_failed, gossiped, gossip_failed)."},
			[]string{"result"}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docket_claimant_assertions_total",
			Help: "Assertions the claimant role published (logged and gossiped), by result."},
			[]string{"result"}),
		revocations: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docket_revocations_total",
			Help: "Revocations published (registrar) or applied (isp), by role and result."},
			[]string{"role", "result"}),
		conflicts: prometheus.NewGauge(prometheus.GaugeOpts{Name: "docket_directory_conflicts",
			Help: "Conflicts between the verified ISP announcements: disputed ISP names and prefixes, routed to no ISP."}),
		directoryISPs: prometheus.NewGauge(prometheus.GaugeOpts{Name: "docket_directory_isps",
			Help: "ISPs in the claimant's routing directory."}),
		watched: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docket_watch_files_total",
			Help: "Files taken from a watch directory, by role and result (done, failed)."},
			[]string{"role", "result"}),
		audits: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "docket_audits_total",
			Help: "Audits of a log, by origin and result (ok, failed)."},
			[]string{"origin", "result"}),
		findings: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "docket_audit_findings",
			Help: "Findings of the last audit of a log, by kind."},
			[]string{"origin", "kind"}),
		audited: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "docket_audit_tree_size",
			Help: "Tree size of the last successful audit of a log."},
			[]string{"origin"}),
	}
	m.reg.MustRegister(m.gossip, m.submissions, m.splitViews, m.messages, m.announcements, m.published,
		m.revocations, m.conflicts, m.directoryISPs, m.watched, m.audits, m.findings, m.audited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// nodeCollector exports the counters other packages keep, read at each
// scrape.
type nodeCollector struct {
	d *Daemon
}

var (
	descInfo  = prometheus.NewDesc("docket_node_info", "The node's peer id and roles.", []string{"peer_id", "roles"}, nil)
	descPeers = prometheus.NewDesc("docket_p2p_peers", "Peers the node is connected to.", nil, nil)
	descTopic = prometheus.NewDesc("docket_gossip_messages_total",
		"Gossip messages by topic and event, as node/p2p counts them (published, received, duplicates, validated, accepted, rejected, ignored, throttled, delivered, dropped, unsent).",
		[]string{"topic", "event"}, nil)
	descRequests = prometheus.NewDesc("docket_p2p_requests_total",
		"Request/response exchanges by protocol and event (sent, send_failed, served, serve_failed).",
		[]string{"protocol", "event"}, nil)
	descCheckpoint = prometheus.NewDesc("docket_log_checkpoint_size",
		"Size of the largest verified checkpoint of each trusted log.", []string{"origin"}, nil)
	descApplied  = prometheus.NewDesc("docket_isp_assertions_applied_total", "Assertions the ISP applied.", nil, nil)
	descRejected = prometheus.NewDesc("docket_isp_assertions_rejected_total",
		"Assertions the ISP rejected, by code (spec/SPEC.md §8, §11.5, §13.3).", []string{"code"}, nil)
	descFailures = prometheus.NewDesc("docket_isp_failures_total",
		"Submissions and revocations the ISP failed to decide (store, backend or signing errors).", nil, nil)
	descReceipts = prometheus.NewDesc("docket_isp_receipts_total",
		"Receipt deliveries to the log, by result (delivered, failed).", []string{"result"}, nil)
	descStore = prometheus.NewDesc("docket_isp_store_entries", "Entries of the ISP's store, by kind.", []string{"kind"}, nil)
	descKnown = prometheus.NewDesc("docket_announcements_known", "ISP announcements the node keeps and serves to peers.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c nodeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descPeers, descTopic, descRequests, descCheckpoint,
		descApplied, descRejected, descFailures, descReceipts, descStore, descKnown} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c nodeCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.d
	ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, d.node.ID().String(), strings.Join(d.set.roleList, ","))
	ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(len(d.node.Peers())))
	st := d.node.Stats()
	for topic, t := range st.Topics {
		for event, v := range map[string]uint64{"published": t.Published, "received": t.Received, "duplicates": t.Duplicates,
			"validated": t.Validated, "accepted": t.Accepted, "rejected": t.Rejected, "ignored": t.Ignored,
			"throttled": t.Throttled, "delivered": t.Delivered, "dropped": t.Dropped, "unsent": t.Unsent} {
			ch <- prometheus.MustNewConstMetric(descTopic, prometheus.CounterValue, float64(v), topic, event)
		}
	}
	for proto, r := range st.Requests {
		for event, v := range map[string]uint64{"sent": r.Sent, "send_failed": r.SendFailed, "served": r.Served, "serve_failed": r.ServeFailed} {
			ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(v), proto, event)
		}
	}
	for origin, size := range d.checkpoints() {
		ch <- prometheus.MustNewConstMetric(descCheckpoint, prometheus.GaugeValue, float64(size), origin)
	}
	ch <- prometheus.MustNewConstMetric(descKnown, prometheus.GaugeValue, float64(d.anns.len()))
	if d.isp == nil {
		return
	}
	ps := d.isp.pipeline.Stats()
	ch <- prometheus.MustNewConstMetric(descApplied, prometheus.CounterValue, float64(ps.Accepted))
	for code, n := range ps.Rejected {
		ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(n), code)
	}
	ch <- prometheus.MustNewConstMetric(descFailures, prometheus.CounterValue, float64(ps.Failures))
	ch <- prometheus.MustNewConstMetric(descReceipts, prometheus.CounterValue, float64(ps.ReceiptsDelivered), "delivered")
	ch <- prometheus.MustNewConstMetric(descReceipts, prometheus.CounterValue, float64(ps.ReceiptFailures), "failed")
	sc := ps.Store
	for kind, n := range map[string]int{"seen": sc.Seen, "rejections": sc.Rejections, "credentials": sc.Credentials,
		"revocations": sc.Revocations, "pairs": sc.Pairs, "enforcements": sc.Enforcements, "installs": sc.Installs,
		"checkpoints": sc.Checkpoints, "pending_receipts": sc.PendingReceipts} {
		ch <- prometheus.MustNewConstMetric(descStore, prometheus.GaugeValue, float64(n), kind)
	}
}
