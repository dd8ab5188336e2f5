package daemon

import (
	"bytes"
	"fmt"
	"strconv"
	"text/template"
)

// Starter describes the starter configuration "docket node init" writes.
type Starter struct {
	// Roles are the node's roles.
	Roles []string
	// ISPName and ISPRegion fill the [isp] section.
	ISPName, ISPRegion string
	// LogVerifierKey is the verifier key of the log this node runs, if
	// any: it becomes the node's trusted log, at LogListen.
	LogVerifierKey string
	// WitnessVerifierKey is the cosignature verifier key of the witness
	// this node runs, if any, shown in a comment for the logs it serves.
	WitnessVerifierKey string
	// PeerID is the node's libp2p peer id, shown in a comment for its
	// peers' configurations.
	PeerID string
}

// The addresses a starter configuration listens on.
const (
	starterP2PPort     = 4790
	starterAdminListen = "127.0.0.1:9790"
	starterLogListen   = "127.0.0.1:8080"
	starterWitListen   = "127.0.0.1:8081"
)

// The files a starter configuration names, relative to its directory.
const (
	StarterConfigFile = "docket.toml"
	// KeysDir holds the keys "docket node init" generates: NAME.key,
	// NAME.pub and NAME.age for the registrar, claimant and isp roles,
	// log.key and witness.key for the log and witness roles.
	KeysDir = "keys"
)

var starterTemplate = template.Must(template.New("docket.toml").Funcs(template.FuncMap{"q": strconv.Quote}).Parse(
	`# Configuration of a Docket node: docket node run -c docket.toml
#
# Every key is documented by the Config type of package node/daemon; unknown
# keys are errors. Relative paths are relative to this file's directory.
{{- if .PeerID}}
# This node's libp2p peer id is {{.PeerID}}: its peers list it as
#   /ip4/<address>/tcp/{{.P2PPort}}/p2p/{{.PeerID}}
{{- end}}

# The roles this node runs: registrar, claimant, isp, log, witness, auditor.
roles = [{{range $i, $r := .Roles}}{{if $i}}, {{end}}{{q $r}}{{end}}]

# Where the node keeps its state: its libp2p identity (p2p.key), the ISP's
# store and dry-run state, the log, the witness's state.
data_dir = "data"

[logging]
format = "text"   # or "json"
level = "info"    # debug, info, warn, error

[p2p]
listen = ["/ip4/0.0.0.0/tcp/{{.P2PPort}}", "/ip4/0.0.0.0/udp/{{.P2PPort}}/quic-v1"]
# Static and bootstrap peers, multiaddrs ending in /p2p/<peer id>.
peers = []

[admin]
# GET /metrics, /healthz, /status{{if .Has "claimant"}}, /directory and POST /publish{{end}}.
# Keep it on a loopback or management address.
listen = {{q .AdminListen}}

[trust]
# PEM public keys of the registrars whose credentials this node accepts.
{{- if .Has "log"}}
# The log verifies the signature of every object submitted to it with these
# keys and the ISP keys below (list every ISP of the federation there, or
# their announcements and receipts are refused); with no registrar it
# verifies none.
{{- end}}
registrars = [{{if .Has "registrar"}}"keys/registrar.pub"{{end}}]
# PEM public keys of the ISPs whose announcements (and receipts) it trusts.
isps = [{{if .Has "isp"}}"keys/isp.pub"{{end}}]
# How many of the witnesses below must cosign each checkpoint (0: all).
witnesses_required = 0
{{if .LogVerifierKey}}
# The log this node runs. Other nodes trust it with the same lines, the url
# being one they can reach.
[[trust.logs]]
key = {{q .LogVerifierKey}}
url = "http://{{.LogListen}}"
{{- else}}
# The transparency logs this node trusts: the verifier key "docket log
# keygen" printed, and the URL (or libp2p peer) to reach the log.
# [[trust.logs]]
# key = "docket.example/log+336a1b5b+AbTMQ6eX4PIiXX01+iyqvZqwjSCtV6zFo201XYDNjjrg"
# url = "http://127.0.0.1:8080"
{{- end}}

# Witnesses whose cosignatures the logs' checkpoints carry.{{if .WitnessVerifierKey}} This node's:
# [[trust.witnesses]]
# key = {{q .WitnessVerifierKey}}
# url = "http://{{.WitnessListen}}"
{{- else}}
# [[trust.witnesses]]
# key = "witness.example/w1+9c6258c2+BFhT+y21KfikhFtHoi8r0EWUrS8z899pZ0Nt4dZe2Mcl"
# url = "http://127.0.0.1:8081"
{{- end}}
{{- if .Has "isp"}}

[isp]
name = {{q .ISPName}}
region = {{q .ISPRegion}}
key = "keys/isp.key"        # signs announcements and receipts
identity = "keys/isp.age"   # opens the sections sealed to this ISP
# The prefixes this ISP serves, announced to claimants: replace the example.
prefixes = ["192.0.2.0/24"]
# The ISP's policy ("docket policy check" reads the same file); without
# one, the default policy over the prefixes above.
# policy = "policy.yaml"
enforcer = "dryrun"         # dryrun (state in data/dryrun.json), nft or flowspec
# announce_validity = "24h"
# receipt_retry = "10s"
{{- end}}
{{- if .Has "claimant"}}

[claimant]
key = "keys/claimant.key"
# The claimant's credentials, the registrar's grant first: ask a registrar
# for one ("docket credential issue --subject keys/claimant.pub").
chain = ["claimant.cred.json"]
# Pre-built assertion bundles put here are logged and gossiped.
watch = "outbox"
# interval = "2m"
# life = "10m"
# Swarms observed continuously:
# [[claimant.torrents]]
# file = "work.torrent"
# peers = ["198.51.100.7:51413"]
{{- end}}
{{- if .Has "registrar"}}

[registrar]
# Revocations ("docket revoke --out ...") put here are logged and gossiped.
watch = "revocations"
{{- end}}
{{- if .Has "log"}}

[log]
key = "keys/log.key"
listen = {{q .LogListen}}
{{- end}}
{{- if .Has "witness"}}

[witness]
key = "keys/witness.key"
listen = {{q .WitnessListen}}
{{- end}}
{{- if .Has "auditor"}}

[auditor]
interval = "10m"
{{- end}}
`))

// Check checks the starter's roles and, with the isp role, the ISP's
// name and region.
func (s *Starter) Check() error {
	for _, r := range s.Roles {
		if !isRole(r) {
			return fmt.Errorf("%q is not a role", r)
		}
	}
	if s.Has(RoleISP) {
		if err := checkISPName(s.ISPName); err != nil {
			return fmt.Errorf("%q is not an ISP name: %w", s.ISPName, err)
		}
		if err := checkRegion(s.ISPRegion); err != nil {
			return fmt.Errorf("%q is not a region: %w", s.ISPRegion, err)
		}
	}
	return nil
}

// Config returns the starter configuration file.
func (s *Starter) Config() ([]byte, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	data := struct {
		*Starter
		P2PPort                               int
		AdminListen, LogListen, WitnessListen string
	}{s, starterP2PPort, starterAdminListen, starterLogListen, starterWitListen}
	var buf bytes.Buffer
	if err := starterTemplate.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Has reports whether the starter runs role.
func (s *Starter) Has(role string) bool {
	for _, r := range s.Roles {
		if r == role {
			return true
		}
	}
	return false
}
