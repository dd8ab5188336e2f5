package audit_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"github.com/transparency-dev/tessera/api/layout"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/node/audit"
)

// TestCleanLog audits a log whose entries all verify, first without and
// then with an earlier audit's state, and again after the log grew.
func TestCleanLog(t *testing.T) {
	m := newMixedLog(t, 100, false)
	state := filepath.Join(t.TempDir(), "audit.state")
	cfg := m.config(m.log.dir)
	cfg.StateFile = state

	first, err := audit.Audit(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Findings) != 0 {
		t.Errorf("findings in a clean log:\n%s", describeFindings(first.Findings))
	}
	checkCounts(t, first, m.want)
	if first.Previous != nil {
		t.Errorf("first audit has a previous tree %+v", first.Previous)
	}
	saved, err := os.ReadFile(state)
	if err != nil || string(saved) != first.Checkpoint {
		t.Fatalf("state file holds %q (%v), want the audited checkpoint %q", saved, err, first.Checkpoint)
	}

	// The log grows; the next audit checks that it extends the first.
	more := m.world.grant(t, 0, "late-holder")
	m.log.submit(t, more.cred)
	second, err := audit.Audit(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if second.Previous == nil || second.Previous.Size != first.Size || !bytes.Equal(second.Previous.Root, first.Root) {
		t.Errorf("previous tree %+v, want size %d root %x", second.Previous, first.Size, first.Root)
	}
	if second.Size != first.Size+1 || len(second.Findings) != 0 {
		t.Errorf("second audit: size %d (want %d), findings:\n%s", second.Size, first.Size+1, describeFindings(second.Findings))
	}
	if saved, _ := os.ReadFile(state); string(saved) != second.Checkpoint {
		t.Errorf("state file not replaced by the second audit's checkpoint")
	}

	var text strings.Builder
	if err := second.WriteText(&text, 3); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf("log %s: %d entries, root ", origin, second.Size),
		fmt.Sprintf("consistent with the previous audit at %d entries", first.Size),
		"\n  credential   51\n", "\n  revocation   7\n", "\n  assertion    100\n",
		"\nclaimants: 50 (top 3 by assertions)\n", "\nfindings: 0\n",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, &text)
		}
	}
}

// TestTampered flips one byte of an entry in an entry bundle on disk: the
// entries no longer hash to the checkpoint's root, and the intact hash
// tiles tell which entry changed.
func TestTampered(t *testing.T) {
	m := newMixedLog(t, 200, false)
	m.log.close(t)
	const victim = 300 // in the second entry bundle
	size := uint64(logSize(m.want))
	path := filepath.Join(m.log.dir, layout.EntriesPath(victim/layout.EntryBundleWidth, layout.PartialTileSize(0, victim/layout.EntryBundleWidth, size)))
	bundle, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	off := 0
	for range victim % 256 {
		off += 2 + int(binary.BigEndian.Uint16(bundle[off:]))
	}
	bundle[off+2+10] ^= 0x20
	if err := os.WriteFile(path, bundle, 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(t.TempDir(), "audit.state")
	cfg := m.config(m.log.dir)
	cfg.StateFile = state
	report, err := audit.Audit(t.Context(), cfg)
	var rerr *audit.RootMismatchError
	if !errors.As(err, &rerr) {
		t.Fatalf("audit of a tampered log: %v, %v; want a *RootMismatchError", report, err)
	}
	if rerr.Index != victim || rerr.Size != size || bytes.Equal(rerr.EntriesRoot, rerr.CheckpointRoot) {
		t.Errorf("got %+v, want entry %d of %d", rerr, victim, logSize(m.want))
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("entry %d is not the one", victim)) {
		t.Errorf("error %q does not name entry %d", err, victim)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed audit wrote the state file: %v", err)
	}
}

// forkedLogs writes, with one key, logs whose entries are given in order:
// the same first entries and then different ones are two histories.
func forkedLogs(t *testing.T, key logKey, histories ...[][]byte) []*testLog {
	t.Helper()
	var logs []*testLog
	for _, entries := range histories {
		l := openLog(t, key, t.TempDir())
		for i, e := range entries {
			if got := l.submit(t, e); got != uint64(i) {
				t.Fatalf("entry %d appended at %d", i, got)
			}
		}
		logs = append(logs, l)
	}
	return logs
}

// TestSplitView audits logs signed by one key that show different
// histories against the state of an earlier audit.
func TestSplitView(t *testing.T) {
	w := newWorld(t)
	var creds [][]byte
	for i := range 6 {
		creds = append(creds, w.grant(t, 0, fmt.Sprintf("holder-%d", i)).cred)
	}
	key := newLogKey(t)
	logs := forkedLogs(t, key,
		creds[:4], // the history first audited
		[][]byte{creds[0], creds[1], creds[4], creds[5], creds[3]}, // a fork after two entries
		creds[:2], // a rollback
	)
	state := filepath.Join(t.TempDir(), "audit.state")
	config := func(l *testLog) audit.Config {
		return audit.Config{Source: l.dir, LogKey: key.verifier, Registrars: w.trusted(), StateFile: state}
	}
	first, err := audit.Audit(t.Context(), config(logs[0]))
	if err != nil {
		t.Fatal(err)
	}
	saved, _ := os.ReadFile(state)

	for i, c := range []struct {
		log              *testLog
		oldSize, newSize uint64
	}{
		{logs[1], 4, 5},
		{logs[2], 4, 2},
	} {
		_, err := audit.Audit(t.Context(), config(c.log))
		var split *audit.SplitViewError
		if !errors.As(err, &split) {
			t.Fatalf("case %d: %v, want a *SplitViewError", i, err)
		}
		if split.OldSize != c.oldSize || split.NewSize != c.newSize || !bytes.Equal(split.OldRoot, first.Root) {
			t.Errorf("case %d: %+v, want sizes %d and %d", i, split, c.oldSize, c.newSize)
		}
		for _, want := range []string{fmt.Sprint(c.oldSize), fmt.Sprint(c.newSize)} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("case %d: %q does not name size %s", i, err, want)
			}
		}
		if !bytes.Equal(split.OldCheckpoint, saved) || !bytes.HasPrefix(split.NewCheckpoint, []byte(fmt.Sprintf("%s\n%d\n", origin, c.newSize))) {
			t.Errorf("case %d: the error does not carry both checkpoints:\n%s\n%s", i, split.OldCheckpoint, split.NewCheckpoint)
		}
		if now, _ := os.ReadFile(state); !bytes.Equal(now, saved) {
			t.Errorf("case %d: a split view replaced the state file", i)
		}
	}
}

// TestWitnesses audits a log whose checkpoint is cosigned by witnesses,
// with enough and too few cosignatures, and with the wrong log key.
func TestWitnesses(t *testing.T) {
	m := newMixedLog(t, 10, false)
	m.log.close(t)
	path := filepath.Join(m.log.dir, "checkpoint")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := note.Open(raw, note.VerifierList(m.log.key.verifier))
	if err != nil {
		t.Fatal(err)
	}
	var signers []note.Signer
	var verifiers []note.Verifier
	for _, name := range []string{"witness1.example", "witness2.example", "witness3.example"} {
		skey, vkey, err := note.GenerateKey(rand.Reader, name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := fnote.NewSignerForCosignatureV1(skey)
		if err != nil {
			t.Fatal(err)
		}
		v, err := fnote.NewVerifierForCosignatureV1(vkey)
		if err != nil {
			t.Fatal(err)
		}
		signers, verifiers = append(signers, s), append(verifiers, v)
	}
	// Two of the three witnesses cosign.
	cosigned, err := note.Sign(n, signers[:2]...)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, cosigned, 0o644); err != nil {
		t.Fatal(err)
	}

	cfg := m.config(m.log.dir)
	cfg.Witnesses, cfg.WitnessesRequired = verifiers, 2
	report, err := audit.Audit(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(report.Witnesses, ","); got != "witness1.example,witness2.example" {
		t.Errorf("witnesses %s, want witness1.example and witness2.example", got)
	}
	if report.Checkpoint != string(cosigned) {
		t.Errorf("report's checkpoint is not the cosigned one")
	}

	cfg.WitnessesRequired = 0 // all three
	_, err = audit.Audit(t.Context(), cfg)
	var werr *audit.WitnessError
	if !errors.As(err, &werr) || werr.Required != 3 || len(werr.Cosigned) != 2 {
		t.Errorf("with three witnesses required: %v, want a *WitnessError with 2 of 3", err)
	}

	cfg.Witnesses, cfg.WitnessesRequired = nil, 0
	cfg.LogKey = newLogKey(t).verifier
	_, err = audit.Audit(t.Context(), cfg)
	var cerr *audit.CheckpointError
	if !errors.As(err, &cerr) {
		t.Errorf("with another log's key: %v, want a *CheckpointError", err)
	}
}

// TestBadConfig checks that an audit that cannot start says why and
// writes nothing.
func TestBadConfig(t *testing.T) {
	m := newMixedLog(t, 0, false)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("not a checkpoint"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := m.config(m.log.dir)
	for _, c := range []struct {
		name string
		edit func(*audit.Config)
		want string
	}{
		{"no source", func(c *audit.Config) { c.Source = "" }, "Source is empty"},
		{"no key", func(c *audit.Config) { c.LogKey = nil }, "LogKey is nil"},
		{"missing directory", func(c *audit.Config) { c.Source = filepath.Join(t.TempDir(), "missing") }, "neither an http(s) URL nor a log directory"},
		{"file", func(c *audit.Config) { c.Source = file }, "is a file"},
		{"too many witnesses required", func(c *audit.Config) { c.WitnessesRequired = 1 }, "WitnessesRequired is 1, with 0 witnesses"},
		{"state is not a checkpoint", func(c *audit.Config) { c.StateFile = file }, "does not hold a checkpoint"},
		{"nothing listens", func(c *audit.Config) { c.Source = "http://127.0.0.1:9" }, "failed to read the log's checkpoint"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := base
			c.edit(&cfg)
			_, err := audit.Audit(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	if data, _ := os.ReadFile(file); string(data) != "not a checkpoint" {
		t.Errorf("a failed audit changed the state file")
	}
}

// TestHostileServer checks that the auditor stops reading a response
// larger than any resource of a log.
func TestHostileServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("A"), 1<<20)
		for range 20 { // 20 MiB, more than a full entry bundle
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	_, err := audit.Audit(t.Context(), audit.Config{Source: srv.URL, LogKey: newLogKey(t).verifier})
	if err == nil || !strings.Contains(err.Error(), "larger than the largest entry bundle") {
		t.Errorf("got %v, want an error for a response too large", err)
	}
}

// TestEmptyLog audits a log with no entry, then the same log grown by one.
func TestEmptyLog(t *testing.T) {
	w := newWorld(t)
	l := openLog(t, newLogKey(t), t.TempDir())
	cfg := audit.Config{Source: l.url, LogKey: l.key.verifier, Registrars: w.trusted(), StateFile: filepath.Join(t.TempDir(), "state")}
	empty, err := audit.Audit(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if empty.Size != 0 || len(empty.Findings) != 0 || logSize(empty) != 0 {
		t.Errorf("empty log: size %d, %d findings, entries %v", empty.Size, len(empty.Findings), empty.Entries)
	}
	l.submit(t, w.grant(t, 0, "holder").cred)
	grown, err := audit.Audit(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if grown.Size != 1 || grown.Previous == nil || grown.Previous.Size != 0 || !bytes.Equal(grown.Previous.Root, empty.Root) {
		t.Errorf("grown log: size %d, previous %+v", grown.Size, grown.Previous)
	}
}
