package daemon_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/docket-project/docket/node/daemon"
)

// TestConfigErrors checks that every problem of a configuration is
// reported, each naming its TOML key.
func TestConfigErrors(t *testing.T) {
	w := newWorld(t)
	good := `
roles = ["isp"]
data_dir = "data"
[trust]
registrars = ["` + w.path("registrar.pub") + `"]
[[trust.logs]]
key = "` + w.logVKey + `"
url = "http://127.0.0.1:8080"
[isp]
name = "isp-a"
region = "DE"
key = "` + w.path("isp-a.key") + `"
identity = "` + w.path("isp-a.age") + `"
prefixes = ["198.51.100.0/25"]
`
	cfg, err := daemon.ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the good configuration: %v", err)
	}
	tests := []struct {
		name, old, new string
		want           []string
	}{
		{"bad prefix", `prefixes = ["198.51.100.0/25"]`, `prefixes = ["198.51.100.0/25", "10.0.0.300/8"]`,
			[]string{`isp.prefixes[1]: "10.0.0.300/8" is not a prefix`}},
		{"host bits", `prefixes = ["198.51.100.0/25"]`, `prefixes = ["198.51.100.1/25"]`,
			[]string{`isp.prefixes[0]: "198.51.100.1/25" cannot be announced: INVALID_FIELD`}},
		{"too short", `prefixes = ["198.51.100.0/25"]`, `prefixes = ["0.0.0.0/0"]`, []string{`isp.prefixes[0]: "0.0.0.0/0" cannot be announced`}},
		{"unknown key", `region = "DE"`, "region = \"DE\"\nregoin = \"FR\"", []string{`isp.regoin: unknown key (line 12)`}},
		{"unknown section", `[isp]`, "[isps]\nx = 1\n[isp]", []string{`isps: unknown key`}},
		{"wrong type", `data_dir = "data"`, `data_dir = 7`, []string{`data_dir: `, `(line 3)`}},
		{"duplicate key", `region = "DE"`, "region = \"DE\"\nregion = \"FR\"", []string{`line 12`}},
		{"unknown role", `roles = ["isp"]`, `roles = ["isp", "ips"]`, []string{`roles[1]: "ips" is not a role`}},
		{"role twice", `roles = ["isp"]`, `roles = ["isp", "isp"]`, []string{`roles[1]: role "isp" is given twice`}},
		{"section without role", `roles = ["isp"]`, "roles = []", []string{`isp: the [isp] section is given but roles does not list "isp"`}},
		{"role without section", `roles = ["isp"]`, `roles = ["isp", "log"]`, []string{`log: role "log" needs an [log] section`}},
		{"bad name", `name = "isp-a"`, `name = "isp a"`, []string{`isp.name: "isp a" is not an ISP name`}},
		{"bad region", `region = "DE"`, `region = "Germany"`, []string{`isp.region: "Germany" is not a region`}},
		{"missing key file", `key = "` + w.path("isp-a.key") + `"`, `key = "` + w.path("nope.key") + `"`, []string{`isp.key: cannot be read`}},
		{"wrong key file", `key = "` + w.path("isp-a.key") + `"`, `key = "` + w.path("isp-a.pub") + `"`, []string{`isp.key: not a PEM signing key`}},
		{"bad log key", `key = "` + w.logVKey + `"`, `key = "not a key"`, []string{`trust.logs[0].key: "not a key" is not a note verifier key`}},
		{"bad log url", `url = "http://127.0.0.1:8080"`, `url = "ftp://x"`, []string{`trust.logs[0].url: "ftp://x" is not an http:// or https:// URL`}},
		{"no log", "[[trust.logs]]\nkey = \"" + w.logVKey + "\"\nurl = \"http://127.0.0.1:8080\"", "", []string{`trust.logs: role "isp" submits to a log`}},
		{"no registrar", `registrars = ["` + w.path("registrar.pub") + `"]`, `registrars = []`, []string{`trust.registrars: role "isp" needs at least one trusted registrar`}},
		{"bad enforcer", `prefixes = ["198.51.100.0/25"]`, "prefixes = [\"198.51.100.0/25\"]\nenforcer = \"iptables\"", []string{`isp.enforcer: "iptables" is not dryrun, nft or flowspec`}},
		{"flowspec without section", `prefixes = ["198.51.100.0/25"]`, "prefixes = [\"198.51.100.0/25\"]\nenforcer = \"flowspec\"", []string{`isp.flowspec: enforcer "flowspec" needs an [isp.flowspec] section`}},
		{"flowspec router", `prefixes = ["198.51.100.0/25"]`, "prefixes = [\"198.51.100.0/25\"]\nenforcer = \"flowspec\"\n[isp.flowspec]\nas = 65000\nrouter_id = \"router\"", []string{`isp.flowspec.router_id: "router" is not an IP address`}},
		{"bad duration", `prefixes = ["198.51.100.0/25"]`, "prefixes = [\"198.51.100.0/25\"]\nreceipt_retry = \"soon\"", []string{`isp.receipt_retry: "soon" is not a positive duration`}},
		{"validity too long", `prefixes = ["198.51.100.0/25"]`, "prefixes = [\"198.51.100.0/25\"]\nannounce_validity = \"2400h\"", []string{`isp.announce_validity: 2400h0m0s is longer than`}},
		{"bad peer", `data_dir = "data"`, "data_dir = \"data\"\n[p2p]\npeers = [\"/ip4/127.0.0.1/tcp/1\"]", []string{`p2p.peers[0]: "/ip4/127.0.0.1/tcp/1" is not a multiaddr ending in /p2p/<peer id>`}},
		{"bad listen", `data_dir = "data"`, "data_dir = \"data\"\n[p2p]\nlisten = [\"tcp:4790\"]", []string{`p2p.listen[0]: "tcp:4790" is not a multiaddr`}},
		{"bad admin", `data_dir = "data"`, "data_dir = \"data\"\n[admin]\nlisten = \"9790\"", []string{`admin.listen: "9790" is not host:port`}},
		{"bad logging", `data_dir = "data"`, "data_dir = \"data\"\n[logging]\nformat = \"xml\"\nlevel = \"loud\"", []string{`logging.format: "xml" is not text or json`, `logging.level: "loud" is not debug, info, warn or error`}},
		{"witnesses required", "[trust]\n", "[trust]\nwitnesses_required = 2\n", []string{`trust.witnesses_required: 2 is not between 0 and the number of witnesses (0)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := strings.Replace(good, tt.old, tt.new, 1)
			if bad == good {
				t.Fatalf("the configuration lacks %q", tt.old)
			}
			cfg, err := daemon.ParseConfig([]byte(bad))
			if err == nil {
				err = cfg.Validate()
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			var fe *daemon.FieldError
			if !errors.As(err, &fe) && !strings.Contains(err.Error(), "line ") {
				t.Errorf("error names no field: %v", err)
			}
		})
	}
}

// TestStarter checks that every starter configuration "docket node init"
// writes is valid TOML with known keys only, and that a registrar with its
// log, whose keys the starter names, validates as written.
func TestStarter(t *testing.T) {
	for _, roles := range [][]string{
		{}, {daemon.RoleISP}, {daemon.RoleClaimant}, {daemon.RoleRegistrar, daemon.RoleLog},
		{daemon.RoleWitness}, {daemon.RoleAuditor}, daemon.Roles,
	} {
		st := &daemon.Starter{Roles: roles, ISPName: "isp-a", ISPRegion: "DE", PeerID: "12D3KooWGzxzKZYveHXtpG6AsrUJBcWxHBFS2HsEoGTxrMLvKXtf"}
		data, err := st.Config()
		if err != nil {
			t.Fatalf("%v: %v", roles, err)
		}
		cfg, err := daemon.ParseConfig(data)
		if err != nil {
			t.Fatalf("%v: the starter does not parse: %v\n%s", roles, err, data)
		}
		if len(cfg.Roles) != len(roles) {
			t.Errorf("%v: roles %v", roles, cfg.Roles)
		}
	}
	if _, err := (&daemon.Starter{Roles: []string{daemon.RoleISP}, ISPName: "isp a", ISPRegion: "DE"}).Config(); err == nil {
		t.Error("a starter with an invalid ISP name was written")
	}

	// A registrar with its log validates with the keys it names.
	w := newWorld(t)
	dir := t.TempDir()
	st := &daemon.Starter{Roles: []string{daemon.RoleRegistrar, daemon.RoleLog}, LogVerifierKey: w.logVKey}
	data, err := st.Config()
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, daemon.KeysDir)
	os.MkdirAll(keys, 0o700)
	for from, to := range map[string]string{"registrar.pub": "registrar.pub", "log.key": "log.key"} {
		b, err := os.ReadFile(w.path(from))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(keys, to), b, 0o600)
	}
	path := filepath.Join(dir, daemon.StarterConfigFile)
	os.WriteFile(path, data, 0o644)
	cfg, err := daemon.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("the registrar's starter does not validate: %v\n%s", err, data)
	}
	// Marshal and parse again: the same configuration.
	out, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := daemon.ParseConfig(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Join(again.Roles, ",") != "registrar,log" || again.Log == nil || again.Log.Listen != "127.0.0.1:8080" || len(again.Trust.Logs) != 1 {
		t.Errorf("after Marshal: %+v", again)
	}
}
