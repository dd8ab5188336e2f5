package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/internal/labdata"
	"github.com/docket-project/docket/protocol"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"docket": main})
}

// The scripts' clock: credentials are valid for 2030, assertions are built
// at buildAt from an observation that ends a minute earlier, and verified at
// verifyAt.
const (
	credFrom  = "2030-01-01T00:00:00Z"
	credUntil = "2031-01-01T00:00:00Z"
	buildAt   = "2030-06-01T10:00:00Z"
	verifyAt  = "2030-06-01T10:05:00Z"
)

func TestScript(t *testing.T) {
	observation := labdata.Observation()
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("CRED_FROM", credFrom)
			env.Setenv("CRED_UNTIL", credUntil)
			env.Setenv("BUILD_AT", buildAt)
			env.Setenv("VERIFY_AT", verifyAt)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"mkobs": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: mkobs FILE")
				}
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), []byte(observation), 0o644))
			},
			"mkdirectory": cmdMkdirectory,
			"payload":     cmdPayload,
			"editpayload": cmdEditPayload,
			"perm":        cmdPerm,
		},
	})
}

// cmdMkdirectory adds an ISP to a directory file, creating the file if
// needed: mkdirectory FILE NAME REGION IDENTITY PREFIX[,PREFIX...].
func cmdMkdirectory(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 5 {
		ts.Fatalf("usage: mkdirectory FILE NAME REGION IDENTITY PREFIX[,PREFIX...]")
	}
	path := ts.MkAbs(args[0])
	var dir protocol.Directory
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		ts.Check(json.Unmarshal(data, &dir))
	case !errors.Is(err, fs.ErrNotExist):
		ts.Fatalf("%v", err)
	}
	id, err := seal.ParseIdentityFile([]byte(ts.ReadFile(args[3])))
	ts.Check(err)
	entry := protocol.DirectoryEntry{Name: args[1], Region: args[2], Recipient: id.Recipient().String()}
	for _, s := range strings.Split(args[4], ",") {
		p, err := netip.ParsePrefix(s)
		ts.Check(err)
		entry.Prefixes = append(entry.Prefixes, p)
	}
	dir.ISPs = append(dir.ISPs, entry)
	out, err := json.Marshal(&dir)
	ts.Check(err)
	ts.Check(os.WriteFile(path, out, 0o644))
}

// cmdPayload prints the payload of an envelope: payload FILE.
func cmdPayload(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: payload FILE")
	}
	env, err := dsse.Decode([]byte(ts.ReadFile(args[0])), protocol.MaxAssertionEnvelope)
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%s\n", env.Payload)
}

// cmdEditPayload replaces the first occurrence of OLD in the payload of
// the envelope in assertion bundle IN by NEW and writes the bundle, with
// the envelope's old signature, to OUT: editpayload IN OUT OLD NEW.
func cmdEditPayload(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: editpayload IN OUT OLD NEW")
	}
	var bundle map[string]jsontext.Value
	ts.Check(json.Unmarshal([]byte(ts.ReadFile(args[0])), &bundle))
	env, err := dsse.Decode(bundle["envelope"], protocol.MaxAssertionEnvelope)
	ts.Check(err)
	if !bytes.Contains(env.Payload, []byte(args[2])) {
		ts.Fatalf("payload of %s does not contain %q", args[0], args[2])
	}
	env.Payload = bytes.Replace(env.Payload, []byte(args[2]), []byte(args[3]), 1)
	newEnv, err := dsse.Encode(env)
	ts.Check(err)
	bundle["envelope"] = newEnv
	out, err := json.Marshal(bundle)
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(args[1]), out, 0o644))
}

// cmdPerm checks a file's permission bits: perm FILE MODE (octal).
func cmdPerm(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: perm FILE MODE")
	}
	want, err := strconv.ParseUint(args[1], 8, 32)
	ts.Check(err)
	info, err := os.Stat(ts.MkAbs(args[0]))
	ts.Check(err)
	if got := info.Mode().Perm(); got != fs.FileMode(want) {
		ts.Fatalf("%s has mode %#o, want %#o", args[0], got, want)
	}
}

// TestStatus checks exit statuses, which the scripts cannot see: 0 for
// success and help, 1 for failures, 2 for usage errors. Every failure but a
// missing verb, which just shows the usage, starts with "docket: error: ".
func TestStatus(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want int
	}{
		{nil, 2},
		{[]string{"--help"}, 0},
		{[]string{"help"}, 0},
		{[]string{"credential", "--help"}, 0},
		{[]string{"frobnicate"}, 2},
		{[]string{"credential"}, 2},
		{[]string{"credential", "frobnicate"}, 2},
		{[]string{"keygen"}, 2},
		{[]string{"keygen", "--out", dir, "--name", "x", "--alg", "rsa"}, 2},
		{[]string{"keygen", "--out", dir, "--name", "x", "extra"}, 2},
		{[]string{"keygen", "--no-such-flag"}, 2},
		{[]string{"assert", "inspect"}, 2},
		{[]string{"verify", "--now", "yesterday"}, 2},
		{[]string{"verify", "--permit-prefix", "10.0.0.1"}, 2},
		{[]string{"keygen", "--out", dir + "/missing", "--name", "x"}, 1},
		{[]string{"assert", "inspect", dir + "/missing.json"}, 1},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		if got := run(tt.args, &stdout, &stderr); got != tt.want {
			t.Errorf("docket %s: status %d, want %d\nstderr:\n%s", strings.Join(tt.args, " "), got, tt.want, &stderr)
		}
		if tt.want != 0 && len(tt.args) > 0 && !strings.HasPrefix(stderr.String(), "docket: error: ") {
			t.Errorf("docket %s: stderr does not start with \"docket: error: \":\n%s", strings.Join(tt.args, " "), &stderr)
		}
	}
}

// TestHelp checks that every verb's help names all its flags and has an
// example.
func TestHelp(t *testing.T) {
	for _, c := range commands() {
		for _, help := range []string{"--help", "-h"} {
			var stdout, stderr bytes.Buffer
			args := append(strings.Fields(c.name), help)
			if status := run(args, &stdout, &stderr); status != 0 || stderr.Len() > 0 {
				t.Errorf("docket %s %s: status %d, stderr %q", c.name, help, status, &stderr)
			}
			out := stdout.String()
			for _, want := range []string{"Usage: docket " + c.name + " ", "\nFlags:\n", "\nExample:\n  docket " + c.name + " "} {
				if !strings.Contains(out, want) {
					t.Errorf("docket %s %s: output lacks %q:\n%s", c.name, help, want, out)
				}
			}
			c.flags.VisitAll(func(f *flag.Flag) {
				if !strings.Contains(out, "\n  --"+f.Name+" ") && !strings.Contains(out, "\n  --"+f.Name+"\n") {
					t.Errorf("docket %s %s: flag --%s is not listed", c.name, help, f.Name)
				}
			})
		}
	}
}
