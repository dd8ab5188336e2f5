package store_test

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/node/store"
	"github.com/docket-project/docket/protocol"
)

// helperEnv makes the test binary act as a second process: "lock" tries to
// open the store named by helperPath, "writer" commits decisions until
// killed.
const (
	helperEnv  = "DOCKET_STORE_HELPER"
	helperPath = "DOCKET_STORE_HELPER_PATH"
)

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "lock":
		_, err := store.Open(os.Getenv(helperPath), store.Options{Timeout: 200 * time.Millisecond})
		fmt.Println(err)
		if errors.Is(err, store.ErrLocked) {
			os.Exit(3)
		}
		os.Exit(1)
	case "writer":
		writer(os.Getenv(helperPath))
	}
	os.Exit(2)
}

// writer commits decisions, each in one transaction, printing the number
// of each after it commits, until it is killed or has written 100000.
func writer(path string) {
	s, err := store.Open(path, store.Options{})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	out := bufio.NewWriter(os.Stdout)
	for i := range 100000 {
		if err := s.Update(func(tx *store.Tx) error { return decide(tx, i) }); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Fprintln(out, i)
		out.Flush()
	}
	os.Exit(0)
}

var base = time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)

func id(i int) protocol.ID { return protocol.ID(fmt.Sprintf("%064x", i)) }

func claimant(i int) sign.KeyID { return sign.KeyID(fmt.Sprintf("%064x", 1000+i)) }

// pair returns the i-th test pair: an IPv4 pair for even i, IPv6 for odd.
func pair(i int, expires time.Time) enforce.Pair {
	if i%2 == 0 {
		return enforce.Pair{Key: enforce.Key{
			Local:  netip.AddrFrom4([4]byte{198, 51, 100, byte(i / 256)}),
			Remote: netip.AddrFrom4([4]byte{203, 0, byte(i / 256), byte(i)}),
		}, Expires: expires}
	}
	return enforce.Pair{Key: enforce.Key{
		Local:  netip.MustParseAddr(fmt.Sprintf("2001:db8:a::%x", i)),
		Remote: netip.MustParseAddr(fmt.Sprintf("2001:db8:b::%x", i)),
	}, Expires: expires}
}

// decide writes what accepting the i-th assertion writes: its seen id,
// two pairs, its Enforcement, an install and a receipt.
func decide(tx *store.Tx, i int) error {
	exp := base.Add(10 * time.Minute)
	pairs := []enforce.Pair{pair(2*i, exp), pair(2*i+1, exp)}
	if err := tx.MarkSeen(id(i), exp.Add(time.Minute)); err != nil {
		return err
	}
	if err := tx.AddPairs(pairs); err != nil {
		return err
	}
	if err := tx.PutEnforcement(&store.Enforcement{
		Assertion: id(i), Claimant: claimant(i % 3), Chain: []protocol.ID{id(1 << 20)},
		Expires: exp, Pairs: []enforce.Key{pairs[0].Key, pairs[1].Key},
	}); err != nil {
		return err
	}
	if err := tx.RecordInstall(store.Install{Claimant: claimant(i % 3), Pairs: 2, At: base}); err != nil {
		return err
	}
	_, err := tx.QueueReceipt(id(i), []byte(fmt.Sprintf(`{"receipt":%d}`, i)))
	return err
}

// checkDecided fails unless every effect of decide(i) is in the store.
func checkDecided(t *testing.T, tx *store.Tx, i int) {
	t.Helper()
	if !tx.Seen(id(i)) {
		t.Errorf("assertion %d not seen", i)
	}
	for _, p := range []enforce.Pair{pair(2*i, base), pair(2*i+1, base)} {
		if exp, ok := tx.Pair(p.Key); !ok || !exp.Equal(base.Add(10*time.Minute)) {
			t.Errorf("pair %v: %v, %v", p.Key, exp, ok)
		}
	}
	e, err := tx.Enforcement(id(i))
	if err != nil || e == nil || len(e.Pairs) != 2 || e.Claimant != claimant(i%3) {
		t.Errorf("enforcement %d: %+v, %v", i, e, err)
	}
}

func open(t *testing.T, path string) *store.Store {
	t.Helper()
	s, err := store.Open(path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func update(t *testing.T, s *store.Store, fn func(*store.Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatal(err)
	}
}

func view(t *testing.T, s *store.Store, fn func(*store.Tx)) {
	t.Helper()
	if err := s.View(func(tx *store.Tx) error { fn(tx); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	path := filepath.Join(t.TempDir(), "isp.db")
	s := open(t, path)
	update(t, s, func(tx *store.Tx) error {
		for i := range 3 {
			if err := decide(tx, i); err != nil {
				return err
			}
		}
		if err := tx.MarkRejectionReceipted(id(9), "BAD_SIGNATURE", base); err != nil {
			return err
		}
		if err := tx.PutCredential(id(1<<20), []byte(`{"credential":1}`)); err != nil {
			return err
		}
		if err := tx.PutRevocation(id(1<<21), []byte(`{"revocation":1}`)); err != nil {
			return err
		}
		return tx.PutCheckpoint("docket.example/log", []byte("docket.example/log\n3\nAAAA\n\n— sig\n"))
	})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	defer s.Close()
	view(t, s, func(tx *store.Tx) {
		for i := range 3 {
			checkDecided(t, tx, i)
		}
		if tx.Seen(id(3)) {
			t.Error("assertion 3 seen, never written")
		}
		if !tx.RejectionReceipted(id(9), "BAD_SIGNATURE") || tx.RejectionReceipted(id(9), "EXPIRED") {
			t.Error("rejection record lost or confused")
		}
		if got := string(tx.Credential(id(1 << 20))); got != `{"credential":1}` {
			t.Errorf("credential %q", got)
		}
		if tx.Credential(id(5)) != nil {
			t.Error("unknown credential found")
		}
		if got := string(tx.Revocation(id(1 << 21))); got != `{"revocation":1}` {
			t.Errorf("revocation %q", got)
		}
		if got := string(tx.Checkpoint("docket.example/log")); !strings.HasPrefix(got, "docket.example/log\n3\n") {
			t.Errorf("checkpoint %q", got)
		}
		if n := tx.PairCount(); n != 6 || len(tx.Pairs()) != 6 {
			t.Errorf("%d pairs counted, %d listed, want 6", n, len(tx.Pairs()))
		}
		if got := tx.EnforcementsUnder(id(1 << 20)); len(got) != 3 || got[0] != id(0) {
			t.Errorf("enforcements under the credential: %v", got)
		}
		if ins := tx.Installs(base.Add(-time.Hour)); len(ins) != 3 || ins[0].Pairs != 2 || ins[1].Claimant != claimant(1) {
			t.Errorf("installs %+v", ins)
		}
		pending := tx.PendingReceipts()
		if len(pending) != 3 || pending[2].Assertion != id(2) || string(pending[2].Envelope) != `{"receipt":2}` {
			t.Errorf("outbox %+v", pending)
		}
	})
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
}

func TestSecondProcessIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "isp.db")
	s := open(t, path)
	defer s.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=lock", helperPath+"="+path)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("second process: %v, output %q; want exit 3 (ErrLocked)", err, out)
	}
	if !strings.Contains(string(out), "in use by another process") || !strings.Contains(string(out), path) {
		t.Errorf("second process's error %q does not say the store is in use", out)
	}

	// Once the first closes, a new Open succeeds.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path)
	s2.Close()
}

func TestKilledWriterLosesNoCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "isp.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"=writer", helperPath+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Kill the writer at a moment that is not a commit boundary: after it
	// reported 200 commits, while it is writing more.
	last := -1
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer deadline.Stop()
	for sc.Scan() {
		n, err := strconv.Atoi(sc.Text())
		if err != nil {
			t.Fatalf("writer: %s", sc.Text())
		}
		last = n
		if n == 200 {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	_ = cmd.Wait()
	if last != 200 {
		t.Fatalf("writer stopped after commit %d", last)
	}

	s := open(t, path)
	defer s.Close()
	if err := s.Check(); err != nil {
		t.Fatal(err)
	}
	view(t, s, func(tx *store.Tx) {
		for i := 0; i <= last; i++ {
			checkDecided(t, tx, i)
		}
		// Each commit is all or nothing: the pairs, enforcements and
		// receipts beyond the last reported commit come in whole decisions.
		c := tx.Counts()
		if c.Pairs != 2*c.Seen || c.Enforcements != c.Seen || c.PendingReceipts != c.Seen || c.Installs != c.Seen {
			t.Errorf("partial decision after kill: %+v", c)
		}
		t.Logf("%d decisions reported, %d on disk", last+1, c.Seen)
	})
}

func TestSchema(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	db, err := bolt.Open(foreign, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket([]byte("other")); return err }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := store.Open(foreign, store.Options{}); !errors.Is(err, store.ErrSchema) {
		t.Errorf("foreign bbolt file: %v, want ErrSchema", err)
	}

	future := filepath.Join(dir, "future.db")
	s := open(t, future)
	s.Close()
	db, err = bolt.Open(future, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket([]byte("meta")).Put([]byte("schema"), []byte("2")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = store.Open(future, store.Options{})
	if !errors.Is(err, store.ErrSchema) || !strings.Contains(err.Error(), `"2"`) {
		t.Errorf("schema 2: %v, want ErrSchema naming the version", err)
	}

	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(garbage, store.Options{}); err == nil {
		t.Error("a file that is not a bbolt file opened")
	}
}

func TestPairs(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "isp.db"))
	defer s.Close()
	early, late := base.Add(time.Minute), base.Add(time.Hour)
	a, b := pair(0, early), pair(1, late)
	update(t, s, func(tx *store.Tx) error {
		if err := tx.AddPairs([]enforce.Pair{a, b}); err != nil {
			return err
		}
		// A later expiry extends; an earlier one through AddPairs does not.
		if err := tx.AddPairs([]enforce.Pair{{Key: a.Key, Expires: late}, {Key: b.Key, Expires: early}}); err != nil {
			return err
		}
		if got, _ := tx.Pair(a.Key); !got.Equal(late) {
			t.Errorf("pair a expires %v, want extended to %v", got, late)
		}
		if got, _ := tx.Pair(b.Key); !got.Equal(late) {
			t.Errorf("pair b expires %v, want kept at %v", got, late)
		}
		// SetPair may shorten.
		if err := tx.SetPair(enforce.Pair{Key: b.Key, Expires: early}); err != nil {
			return err
		}
		if next, ok := tx.NextPairExpiry(); !ok || !next.Equal(early) {
			t.Errorf("next expiry %v, want %v", next, early)
		}
		if tx.PairCount() != 2 {
			t.Errorf("count %d after updates, want 2", tx.PairCount())
		}
		// An invalid pair adds nothing.
		bad := enforce.Pair{Key: enforce.Key{Local: a.Local, Remote: a.Local}, Expires: late}
		if err := tx.AddPairs([]enforce.Pair{pair(2, late), bad}); !errors.Is(err, enforce.ErrInvalidPair) {
			t.Errorf("invalid pair: %v", err)
		}
		if tx.PairCount() != 2 {
			t.Errorf("count %d after a refused add, want 2", tx.PairCount())
		}
		gone, err := tx.ExpirePairs(early)
		if err != nil {
			return err
		}
		if len(gone) != 1 || gone[0].Key != b.Key {
			t.Errorf("expired %v, want pair b", gone)
		}
		if err := tx.RemovePairs([]enforce.Key{a.Key, b.Key}); err != nil {
			return err
		}
		if tx.PairCount() != 0 || len(tx.Pairs()) != 0 {
			t.Errorf("count %d after removing all", tx.PairCount())
		}
		if _, ok := tx.NextPairExpiry(); ok {
			t.Error("expiry index not empty")
		}
		return nil
	})
	// IPv4 and IPv6 keys come back as they went in (no IPv4-mapped form).
	update(t, s, func(tx *store.Tx) error { return tx.AddPairs([]enforce.Pair{a, b}) })
	view(t, s, func(tx *store.Tx) {
		got := tx.Pairs()
		if len(got) != 2 || got[0].Key != a.Key || got[1].Key != b.Key || !got[0].Local.Is4() {
			t.Errorf("pairs %v, want %v and %v", got, a.Key, b.Key)
		}
	})
}

func TestReadOnlyTxRefusesWrites(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "isp.db"))
	defer s.Close()
	err := s.View(func(tx *store.Tx) error { return tx.MarkSeen(id(1), base) })
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("write in View: %v", err)
	}
}

func TestFailedUpdateKeepsNothing(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "isp.db"))
	defer s.Close()
	boom := errors.New("boom")
	err := s.Update(func(tx *store.Tx) error {
		if err := decide(tx, 1); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update: %v", err)
	}
	view(t, s, func(tx *store.Tx) {
		if c := tx.Counts(); c != (store.Counts{}) {
			t.Errorf("a failed update left %+v", c)
		}
	})
}

func TestPrune(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "isp.db"))
	defer s.Close()
	now := base.Add(time.Hour)
	update(t, s, func(tx *store.Tx) error {
		for i, exp := range []time.Time{now.Add(-time.Second), now, now.Add(time.Second)} {
			p := pair(i, exp)
			if err := tx.MarkSeen(id(i), exp); err != nil {
				return err
			}
			if err := tx.MarkRejectionReceipted(id(i), "EXPIRED", exp); err != nil {
				return err
			}
			if err := tx.AddPairs([]enforce.Pair{p}); err != nil {
				return err
			}
			if err := tx.PutEnforcement(&store.Enforcement{Assertion: id(i), Claimant: claimant(0),
				Chain: []protocol.ID{id(100)}, Expires: exp, Pairs: []enforce.Key{p.Key}}); err != nil {
				return err
			}
			if err := tx.RecordInstall(store.Install{Claimant: claimant(0), Pairs: 1, At: exp.Add(-time.Hour)}); err != nil {
				return err
			}
		}
		if err := tx.PutRevocation(id(100), []byte("r")); err != nil {
			return err
		}
		_, err := tx.QueueReceipt(id(0), []byte("receipt"))
		return err
	})
	var got store.Pruned
	update(t, s, func(tx *store.Tx) error {
		var err error
		got, err = tx.Prune(now, now.Add(-time.Hour))
		return err
	})
	// Entries expiring at or before now go; the one a second later stays.
	want := store.Pruned{Seen: 2, Rejections: 2, Pairs: 2, Enforcements: 2, Installs: 2}
	if got != want {
		t.Errorf("pruned %+v, want %+v", got, want)
	}
	view(t, s, func(tx *store.Tx) {
		if tx.Seen(id(1)) || !tx.Seen(id(2)) {
			t.Error("wrong seen ids pruned")
		}
		if tx.RejectionReceipted(id(0), "EXPIRED") || !tx.RejectionReceipted(id(2), "EXPIRED") {
			t.Error("wrong rejections pruned")
		}
		if ps := tx.Pairs(); len(ps) != 1 || ps[0].Key != pair(2, now).Key {
			t.Errorf("pairs left %v", ps)
		}
		if under := tx.EnforcementsUnder(id(100)); len(under) != 1 || under[0] != id(2) {
			t.Errorf("enforcements left under the credential %v", under)
		}
		if ins := tx.Installs(time.Time{}); len(ins) != 1 {
			t.Errorf("installs left %+v", ins)
		}
		if tx.Revocation(id(100)) == nil || len(tx.PendingReceipts()) != 1 {
			t.Error("prune removed a revocation or a pending receipt")
		}
	})
	// Pruning again removes nothing.
	update(t, s, func(tx *store.Tx) error {
		again, err := tx.Prune(now, now.Add(-time.Hour))
		if again != (store.Pruned{}) {
			t.Errorf("second prune %+v", again)
		}
		return err
	})
}

func TestConcurrentUse(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "isp.db"))
	defer s.Close()
	const writers, perWriter = 4, 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*writers)
	for w := range writers {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for i := range perWriter {
				if err := s.Update(func(tx *store.Tx) error { return decide(tx, w*perWriter+i) }); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range perWriter {
				err := s.View(func(tx *store.Tx) error {
					// A reader sees whole decisions only.
					if c := tx.Counts(); c.Pairs != 2*c.Seen || c.PendingReceipts != c.Seen {
						return fmt.Errorf("reader saw a partial decision: %+v", c)
					}
					return nil
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	view(t, s, func(tx *store.Tx) {
		for i := range writers * perWriter {
			checkDecided(t, tx, i)
		}
		if c := tx.Counts(); c.Seen != writers*perWriter || c.Pairs != 2*writers*perWriter {
			t.Errorf("counts %+v", c)
		}
	})
}
