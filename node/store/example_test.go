package store_test

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/docket-project/docket/enforce"
	"github.com/docket-project/docket/node/store"
	"github.com/docket-project/docket/protocol"
)

// A decision's effects commit together; a reopened store has them all.
func Example() {
	dir, _ := os.MkdirTemp("", "store-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "isp.db")
	now := time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC)
	id := protocol.IDOf([]byte("an assertion's payload"))
	pair := enforce.Pair{Key: enforce.Key{
		Local: netip.MustParseAddr("198.51.100.7"), Remote: netip.MustParseAddr("203.0.113.9"),
	}, Expires: now.Add(10 * time.Minute)}

	s, err := store.Open(path, store.Options{})
	if err != nil {
		panic(err)
	}
	err = s.Update(func(tx *store.Tx) error {
		if err := tx.MarkSeen(id, now.Add(11*time.Minute)); err != nil {
			return err
		}
		return tx.AddPairs([]enforce.Pair{pair})
	})
	if err != nil {
		panic(err)
	}
	s.Close()

	s, err = store.Open(path, store.Options{})
	if err != nil {
		panic(err)
	}
	defer s.Close()
	_ = s.View(func(tx *store.Tx) error {
		fmt.Println("seen:", tx.Seen(id))
		for _, p := range tx.Pairs() {
			fmt.Println(p.Local, "-", p.Remote, "until", p.Expires.Format(time.RFC3339))
		}
		return nil
	})
	// Output:
	// seen: true
	// 198.51.100.7 - 203.0.113.9 until 2030-06-01T12:10:00Z
}
