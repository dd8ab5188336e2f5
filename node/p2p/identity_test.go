package p2p

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// TestIdentityPersists: a node's identity file is created with mode 0600
// and a node reopened on it has the same peer id.
func TestIdentityPersists(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	cfg := Config{ListenAddrs: listenOn(t, "tcp"), IdentityFile: path, DialPrefixes: loopback, Logger: testLogger(t)}
	first := startNode(t, cfg)
	id := first.ID()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Fatalf("identity file mode %04o, want 0600", perm)
	}
	second := startNode(t, cfg)
	if second.ID() != id {
		t.Fatalf("peer id %s after reopening, want %s", second.ID(), id)
	}
	other := startNode(t, Config{ListenAddrs: listenOn(t, "tcp"), IdentityFile: filepath.Join(t.TempDir(), "other.key")})
	if other.ID() == id {
		t.Fatal("two identity files gave the same peer id")
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("the identity's directory holds %d files, want only the identity", len(entries))
	}
}

// TestIdentityConcurrentCreate: callers racing to create one identity
// file all end up with the same key.
func TestIdentityConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "node.key")
	ids := make([]peer.ID, 8)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			key, err := LoadIdentity(path)
			if err != nil {
				t.Error(err)
				return
			}
			ids[i], _ = peer.IDFromPrivateKey(key)
		})
	}
	wg.Wait()
	for _, id := range ids[1:] {
		if id != ids[0] {
			t.Fatalf("racing creators got peer ids %s and %s", ids[0], id)
		}
	}
}

// TestIdentityRefused: an identity file that is readable by others, is
// not a libp2p key, or is not Ed25519 is refused with a sentence naming
// the problem, and left as it was.
func TestIdentityRefused(t *testing.T) {
	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secpBytes, err := crypto.MarshalPrivateKey(secp)
	if err != nil {
		t.Fatal(err)
	}
	ed, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	edBytes, err := crypto.MarshalPrivateKey(ed)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		data []byte
		mode os.FileMode
		want string
	}{
		{"world-readable", edBytes, 0o644, "chmod 600"},
		{"garbage", []byte("not a key"), 0o600, "does not hold a libp2p private key"},
		{"secp256k1", secpBytes, 0o600, "Docket nodes use Ed25519"},
		{"huge", make([]byte, 1<<20), 0o600, "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "node.key")
			if err := os.WriteFile(path, c.data, c.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, c.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadIdentity(path)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("LoadIdentity: %v, want an error containing %q", err, c.want)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != string(c.data) {
				t.Fatalf("the refused file changed (%v)", err)
			}
		})
	}
}
