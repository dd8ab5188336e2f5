package p2p

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	dproto "github.com/docket-project/docket/protocol"
)

// pair starts a client and a server connected over transport.
func pair(t *testing.T, transport string) (client, server *Node) {
	t.Helper()
	client = startNode(t, Config{ListenAddrs: listenOn(t, transport)})
	server = startNode(t, Config{ListenAddrs: listenOn(t, transport)})
	connect(t, client, server)
	return client, server
}

var echo = Protocol{Name: "echo"}

func echoHandler(_ context.Context, from peer.ID, req []byte) ([]byte, error) {
	return append([]byte("echo:"), req...), nil
}

// wantError checks that err is an *Error with code and remote.
func wantError(t *testing.T, err error, code Code, remote bool) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want *Error with code %s", err, err, code)
	}
	if e.Code != code || e.Remote != remote {
		t.Fatalf("error %v: code %s remote %v, want code %s remote %v", err, e.Code, e.Remote, code, remote)
	}
	return e
}

// TestRequestRoundTrip: a request reaches the handler with the
// requester's peer id and the response comes back, over TCP and QUIC; the
// counters of both sides see it.
func TestRequestRoundTrip(t *testing.T) {
	for _, transport := range []string{"tcp", "quic"} {
		t.Run(transport, func(t *testing.T) {
			client, server := pair(t, transport)
			// The race detector cannot see the network order handler
			// before response, hence the atomic.
			var gotFrom atomic.Value
			err := server.Handle(echo, func(ctx context.Context, from peer.ID, req []byte) ([]byte, error) {
				gotFrom.Store(from)
				return echoHandler(ctx, from, req)
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			for i := range 3 {
				req := fmt.Sprintf("hello %d", i)
				resp, err := client.Request(ctx, server.ID(), echo, []byte(req))
				if err != nil {
					t.Fatal(err)
				}
				if string(resp) != "echo:"+req {
					t.Fatalf("response %q, want %q", resp, "echo:"+req)
				}
			}
			if got := gotFrom.Load(); got != client.ID() {
				t.Errorf("handler saw peer %v, want %s", got, client.ID())
			}
			// An empty request and response are fine too.
			if err := server.Handle(Protocol{Name: "empty"}, func(context.Context, peer.ID, []byte) ([]byte, error) { return nil, nil }); err != nil {
				t.Fatal(err)
			}
			if resp, err := client.Request(ctx, server.ID(), Protocol{Name: "empty"}, nil); err != nil || len(resp) != 0 {
				t.Fatalf("empty exchange: %q, %v", resp, err)
			}
			id := string(echo.ID())
			if got := client.Stats().Requests[id]; got.Sent != 3 || got.SendFailed != 0 {
				t.Errorf("client stats %+v, want 3 sent", got)
			}
			if got := server.Stats().Requests[id]; got.Served != 3 || got.ServeFailed != 0 {
				t.Errorf("server stats %+v, want 3 served", got)
			}
		})
	}
}

// TestRequestOversize: requests and responses over their protocol's
// limits are refused with OVERSIZE, by whichever side finds them.
func TestRequestOversize(t *testing.T) {
	client, server := pair(t, "tcp")
	small := Protocol{Name: "small", MaxRequest: 16, MaxResponse: 16}
	if err := server.Handle(small, echoHandler); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	// The requester refuses to send a request over its own limit.
	_, err := client.Request(ctx, server.ID(), small, make([]byte, 17))
	wantError(t, err, CodeOversize, false)
	if got := server.Stats().Requests[string(small.ID())].Served; got != 0 {
		t.Fatalf("the server saw %d requests, want none sent", got)
	}

	// A requester with a larger limit is refused by the responder, which
	// reads the length and not the request.
	big := Protocol{Name: "small", MaxRequest: 1 << 20, MaxResponse: 1 << 20}
	_, err = client.Request(ctx, server.ID(), big, make([]byte, 100_000))
	e := wantError(t, err, CodeOversize, true)
	if !strings.Contains(e.Msg, "100000") {
		t.Errorf("message %q does not give the size", e.Msg)
	}

	// The responder refuses to send a response over its limit.
	_, err = client.Request(ctx, server.ID(), big, []byte("0123456789ab"))
	wantError(t, err, CodeOversize, true)

	// The requester refuses a response over its limit.
	if err := server.Handle(Protocol{Name: "large"}, func(context.Context, peer.ID, []byte) ([]byte, error) {
		return make([]byte, 2048), nil
	}); err != nil {
		t.Fatal(err)
	}
	_, err = client.Request(ctx, server.ID(), Protocol{Name: "large", MaxResponse: 1024}, nil)
	wantError(t, err, CodeOversize, false)
}

// TestRequestHandlerError: a handler's error reaches the requester with
// its code (a protocol code, a p2p code, or FAILED) and its sentence.
func TestRequestHandlerError(t *testing.T) {
	client, server := pair(t, "tcp")
	errs := map[string]error{
		"spec":  &dproto.Error{Code: dproto.CodeMalformed, Msg: "the entry is not JSON"},
		"typed": &Error{Code: "NOT_FOUND", Msg: "no entry 42"},
		"plain": errors.New("disk full"),
	}
	for name, herr := range errs {
		if err := server.Handle(Protocol{Name: name}, func(context.Context, peer.ID, []byte) ([]byte, error) {
			return []byte("ignored"), fmt.Errorf("failed to serve: %w", herr)
		}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, want := range map[string]struct {
		code Code
		msg  string
	}{
		"spec":  {CodeMalformed, "the entry is not JSON"},
		"typed": {"NOT_FOUND", "no entry 42"},
		"plain": {CodeFailed, "failed to serve: disk full"},
	} {
		_, err := client.Request(ctx, server.ID(), Protocol{Name: name}, []byte("x"))
		e := wantError(t, err, want.code, true)
		if !strings.Contains(e.Msg, want.msg) {
			t.Errorf("%s: message %q, want it to contain %q", name, e.Msg, want.msg)
		}
		if got := server.Stats().Requests[string(Protocol{Name: name}.ID())]; got.ServeFailed != 1 {
			t.Errorf("%s: server stats %+v, want 1 failed", name, got)
		}
	}
	if got := client.Stats().Requests[string(Protocol{Name: "plain"}.ID())]; got.SendFailed != 1 {
		t.Errorf("client stats %+v, want 1 failed", got)
	}
}

// TestRequestDeadline: each side keeps its deadline: the requester gives
// up at its context's deadline, a responder's handler is stopped at the
// protocol's Timeout and says so, and a requester that never sends its
// request is cut off.
func TestRequestDeadline(t *testing.T) {
	client, server := pair(t, "tcp")
	stuck := func(ctx context.Context, _ peer.ID, _ []byte) ([]byte, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	slow := Protocol{Name: "slow"}
	if err := server.Handle(slow, stuck); err != nil {
		t.Fatal(err)
	}
	hasty := Protocol{Name: "hasty", Timeout: 200 * time.Millisecond}
	if err := server.Handle(hasty, stuck); err != nil {
		t.Fatal(err)
	}

	t.Run("requester", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := client.Request(ctx, server.ID(), slow, []byte("x"))
		wantError(t, err, CodeTimeout, false)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("Request returned after %v, want about 300ms", d)
		}
	})
	t.Run("responder", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		start := time.Now()
		_, err := client.Request(ctx, server.ID(), Protocol{Name: "hasty", Timeout: 10 * time.Second}, []byte("x"))
		wantError(t, err, CodeTimeout, true)
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("Request returned after %v, want about 200ms", d)
		}
	})
	t.Run("silent-requester", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s, err := client.Host().NewStream(ctx, server.ID(), hasty.ID())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Reset()
		start := time.Now()
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := s.Read(make([]byte, 1))
		if err == nil || n != 0 {
			t.Fatalf("read %d bytes, err %v from a responder that got no request", n, err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Fatalf("the responder waited %v for the request, want about 200ms", d)
		}
		waitFor(t, 2*time.Second, "the responder to count the failure", func() bool {
			return server.Stats().Requests[string(hasty.ID())].ServeFailed >= 1
		})
	})
}

// TestRequestUnknownProtocol: a protocol the peer does not serve fails
// with UNSUPPORTED_PROTOCOL, a peer with no address with UNREACHABLE.
func TestRequestUnknownProtocol(t *testing.T) {
	client, server := pair(t, "tcp")
	if err := server.Handle(echo, echoHandler); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := client.Request(ctx, server.ID(), Protocol{Name: "nope"}, []byte("x"))
	wantError(t, err, CodeUnsupported, false)

	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	_, err = client.Request(ctx, stranger, echo, []byte("x"))
	wantError(t, err, CodeUnreachable, false)

	if err := server.Handle(Protocol{Name: "Bad Name"}, echoHandler); err == nil {
		t.Fatal("Handle accepted a protocol name with spaces and capitals")
	}
}

// TestRequestMalformedFrame: a request whose length is not a minimal
// unsigned varint is answered with MALFORMED and never reaches the
// handler.
func TestRequestMalformedFrame(t *testing.T) {
	client, server := pair(t, "tcp")
	var called atomic.Bool
	if err := server.Handle(echo, func(ctx context.Context, from peer.ID, req []byte) ([]byte, error) {
		called.Store(true)
		return echoHandler(ctx, from, req)
	}); err != nil {
		t.Fatal(err)
	}
	for name, frame := range map[string][]byte{
		"non-minimal": {0x81, 0x00, 'x'},
		"too-long":    bytes.Repeat([]byte{0xff}, 10),
		"truncated":   {0x05, 'a', 'b'},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := client.Host().NewStream(ctx, server.ID(), echo.ID())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Reset()
			if _, err := s.Write(frame); err != nil {
				t.Fatal(err)
			}
			s.CloseWrite()
			s.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = readResponse(bufio.NewReader(s), 1024)
			wantError(t, err, CodeMalformed, true)
		})
	}
	if called.Load() {
		t.Fatal("the handler saw a malformed request")
	}
}

// FuzzReadResponse: reading any bytes as a response never panics, and a
// response written by the responder's code reads back as written.
func FuzzReadResponse(f *testing.F) {
	f.Add([]byte{statusOK, 0x03, 'a', 'b', 'c'})
	f.Add([]byte{statusError, 0x03, 'B', 'A', 'D', 0x02, 'n', 'o'})
	f.Add([]byte{statusOK, 0x80, 0x00})
	f.Add([]byte{statusOK, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f})
	f.Fuzz(func(t *testing.T, data []byte) {
		resp, err := readResponse(bufio.NewReader(bytes.NewReader(data)), 1024)
		if err != nil {
			return
		}
		again, err := readResponse(bufio.NewReader(bytes.NewReader(appendFrame([]byte{statusOK}, resp))), 1024)
		if err != nil || !bytes.Equal(again, resp) {
			t.Fatalf("response %q re-encoded reads back as %q, %v", resp, again, err)
		}
	})
}

// TestWireExample: the frames of the package documentation's example are
// what the code writes.
func TestWireExample(t *testing.T) {
	if got, want := fmt.Sprintf("% x", appendFrame(nil, []byte("hello"))), "05 68 65 6c 6c 6f"; got != want {
		t.Errorf("request frame %s, want %s", got, want)
	}
	if got, want := fmt.Sprintf("% x", appendFrame([]byte{statusOK}, []byte("echo:hello"))), "00 0a 65 63 68 6f 3a 68 65 6c 6c 6f"; got != want {
		t.Errorf("response %s, want %s", got, want)
	}
	var buf bytes.Buffer
	if err := writeError(&buf, &Error{Code: CodeOversize, Msg: "request of 100000 bytes exceeds the limit of 16"}); err != nil {
		t.Fatal(err)
	}
	want := "\x01\x08OVERSIZE\x2frequest of 100000 bytes exceeds the limit of 16"
	if buf.String() != want {
		t.Errorf("error response %q, want %q", buf.String(), want)
	}
}
