package dryrun_test

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/enforce/dryrun"
	"github.com/docket-project/docket/enforce/enforcetest"
)

func pair(local, remote string, expires time.Time) enforce.Pair {
	return enforce.Pair{Key: enforce.Key{Local: netip.MustParseAddr(local), Remote: netip.MustParseAddr(remote)}, Expires: expires}
}

func newBackend(t *testing.T, path string) *dryrun.Backend {
	t.Helper()
	b, err := dryrun.New(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBackend(t *testing.T) {
	t.Parallel()
	enforcetest.TestBackend(t, func(t *testing.T) enforce.Backend {
		return newBackend(t, filepath.Join(t.TempDir(), "state.json"))
	}, 5*time.Second)
}

// TestFile checks the file's format, that a new backend reads it back, and
// that writes leave no temporary file behind.
func TestFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	exp := time.Date(2099, 6, 1, 10, 0, 0, 0, time.FixedZone("CEST", 2*3600))
	b := newBackend(t, path)
	if err := b.Add(ctx, []enforce.Pair{
		pair("2001:db8::1", "2001:db8:1::1", exp),
		pair("198.51.100.2", "203.0.113.1", exp),
		pair("198.51.100.1", "203.0.113.1", exp),
		pair("198.51.100.1", "203.0.113.9", time.Now().Add(-time.Second)),
	}); err != nil {
		t.Fatal(err)
	}
	want := `[
  {"local":"198.51.100.1","remote":"203.0.113.1","expires":"2099-06-01T08:00:00Z"},
  {"local":"198.51.100.2","remote":"203.0.113.1","expires":"2099-06-01T08:00:00Z"},
  {"local":"2001:db8::1","remote":"2001:db8:1::1","expires":"2099-06-01T08:00:00Z"}
]
`
	if got, err := os.ReadFile(path); err != nil || string(got) != want {
		t.Fatalf("state file (%v):\n%s\nwant:\n%s", err, got, want)
	}

	restarted := newBackend(t, path)
	got, err := restarted.Installed(ctx)
	if err != nil || len(got) != 3 || !got[0].Expires.Equal(exp) {
		t.Fatalf("after a restart Installed = %v, %v; want the three pairs until %v", got, err, exp)
	}
	if err := restarted.Remove(ctx, []enforce.Key{got[0].Key}); err != nil {
		t.Fatal(err)
	}
	if err := restarted.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); string(got) != "[\n]\n" {
		t.Fatalf("empty state file:\n%s", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Fatalf("directory holds %v (%v), want only the state file", entries, err)
	}
}

// TestWriteFailure checks that a state that cannot be written is not
// taken either, and that the error says the configuration is wrong.
func TestWriteFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := newBackend(t, filepath.Join(t.TempDir(), "missing", "state.json"))
	err := b.Add(ctx, []enforce.Pair{pair("198.51.100.1", "203.0.113.1", time.Now().Add(time.Hour))})
	if !errors.Is(err, enforce.ErrConfig) {
		t.Fatalf("Add into a missing directory: %v, want ErrConfig", err)
	}
	if got, _ := b.Installed(ctx); len(got) != 0 {
		t.Fatalf("a failed write left %v installed", got)
	}
}

func TestNewRejectsBadFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, []byte(`[{"local":"198.51.100.1","remote":"198.51.100.1","expires":"2099-01-01T00:00:00Z"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := dryrun.New(path); !errors.Is(err, enforce.ErrInvalidPair) {
		t.Fatalf("New with an invalid pair in the file: %v, want ErrInvalidPair", err)
	}
	if _, err := dryrun.New(t.TempDir()); err == nil {
		t.Fatalf("New with a directory as the file succeeded")
	}
}

func TestUnmarshal(t *testing.T) {
	t.Parallel()
	pairs, err := dryrun.Unmarshal([]byte(`[{"local":"198.51.100.1","remote":"203.0.113.1","expires":"2030-06-01T10:00:00.5+02:00"}]`))
	if err != nil || len(pairs) != 1 || !pairs[0].Expires.Equal(time.Date(2030, 6, 1, 8, 0, 0, 5e8, time.UTC)) {
		t.Fatalf("Unmarshal = %v, %v", pairs, err)
	}
	for _, tt := range []struct {
		in, want string
	}{
		{`{}`, "failed to parse pairs"},
		{`[{"local":"198.51.100.1","remote":"203.0.113.1","expires":"2030-06-01T10:00:00Z","why":"x"}]`, "unknown"},
		{`[{"local":"198.51.100.1","local":"198.51.100.2","remote":"203.0.113.1","expires":"2030-06-01T10:00:00Z"}]`, "duplicate"},
		{`[{"local":"198.51.100.1","remote":"203.0.113.1"}]`, "pair 1: missing expires"},
		{`[{"local":"198.51.100.1","remote":"203.0.113.1","expires":"tomorrow"}]`, "failed to parse pairs"},
		{`[{"local":"198.51.100.300","remote":"203.0.113.1","expires":"2030-06-01T10:00:00Z"}]`, "failed to parse pairs"},
		{`[{"local":"198.51.100.1","remote":"203.0.113.1","expires":"2030-06-01T10:00:00Z"},{"remote":"203.0.113.1","expires":"2030-06-01T10:00:00Z"}]`, "pair 2: invalid pair: missing address"},
		{`[{"local":"198.51.100.1","remote":"2001:db8::1","expires":"2030-06-01T10:00:00Z"}]`, "different address families"},
	} {
		if _, err := dryrun.Unmarshal([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Unmarshal(%s) = %v, want an error containing %q", tt.in, err, tt.want)
		}
	}
}
