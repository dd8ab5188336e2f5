package p2p_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/docket-project/docket/node/p2p"
)

// Two nodes on loopback: one asks the other a question, then publishes a
// revocation that the other receives.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	validate := func(context.Context, peer.ID, []byte) error { return nil } // decode and verify here
	received := make(chan p2p.Message, 1)

	isp, err := p2p.New(ctx, p2p.Config{
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Topics: []p2p.Topic{{Name: p2p.TopicRevocation, Validate: validate,
			Deliver: func(m p2p.Message) { received <- m }}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer isp.Close()
	directory := p2p.Protocol{Name: "directory", MaxRequest: 128}
	err = isp.Handle(directory, func(_ context.Context, _ peer.ID, req []byte) ([]byte, error) {
		return []byte("isp-a serves " + string(req)), nil
	})
	if err != nil {
		log.Fatal(err)
	}

	claimant, err := p2p.New(ctx, p2p.Config{
		ListenAddrs: []string{"/ip4/127.0.0.1/tcp/0"},
		Peers:       isp.Addrs(),
		Topics:      []p2p.Topic{{Name: p2p.TopicRevocation, Validate: validate}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer claimant.Close()

	if err := claimant.Publish(ctx, p2p.TopicRevocation, []byte(`{"revocation":"…"}`)); err != nil {
		log.Fatal(err)
	}
	m := <-received
	fmt.Printf("received %s from the claimant: %v\n", m.Data, m.From == claimant.ID())

	resp, err := claimant.Request(ctx, isp.ID(), directory, []byte("192.0.2.0/24"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", resp)
	// Output:
	// received {"revocation":"…"} from the claimant: true
	// isp-a serves 192.0.2.0/24
}
