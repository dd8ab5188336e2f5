package p2p

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"regexp"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
	msmux "github.com/multiformats/go-multistream"

	dproto "github.com/docket-project/docket/protocol"
)

// Defaults of Protocol.
const (
	DefaultMaxRequest  = 64 << 10
	DefaultMaxResponse = 1 << 20
	DefaultTimeout     = 10 * time.Second
)

const (
	// maxCodeLength and maxErrorMessage bound an error response's fields;
	// a longer message is cut.
	maxCodeLength   = 64
	maxErrorMessage = 1024
	// maxVarintLength is the longest unsigned varint accepted: 9 bytes,
	// 63 bits, as the multiformats unsigned-varint specification allows.
	maxVarintLength = 9
	// writeGrace is how long after its Timeout a responder may still
	// write its response, and a requester waits for it.
	writeGrace = time.Second
)

// Response status bytes.
const (
	statusOK    = 0
	statusError = 1
)

// Protocol is a request/response protocol: over its own libp2p stream,
// the requester sends one request and the responder one response. Both
// sides use the same Protocol value.
type Protocol struct {
	// Name names the protocol; its id is /docket/<Name>/1. Lower-case
	// letters, digits and '-', at most 32 bytes.
	Name string
	// MaxRequest bounds a request's bytes. Default DefaultMaxRequest.
	MaxRequest int
	// MaxResponse bounds a response's bytes. Default DefaultMaxResponse.
	MaxResponse int
	// Timeout bounds one exchange on each side. The responder reads the
	// request and runs the handler within Timeout of the stream's arrival
	// and writes the response within one more second; the requester
	// waits Timeout plus that second from opening the stream (less if its
	// context ends sooner). Default DefaultTimeout.
	Timeout time.Duration
}

var protocolName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ID returns the protocol's libp2p protocol id, /docket/<Name>/1.
func (p Protocol) ID() protocol.ID {
	return protocol.ID("/docket/" + p.Name + "/1")
}

func (p Protocol) withDefaults() (Protocol, error) {
	if !protocolName.MatchString(p.Name) {
		return p, fmt.Errorf("protocol name %q is not lower-case letters, digits and '-', at most 32 bytes", p.Name)
	}
	if p.MaxRequest < 0 || p.MaxResponse < 0 || p.Timeout < 0 {
		return p, fmt.Errorf("protocol %s has a negative limit", p.Name)
	}
	if p.MaxRequest == 0 {
		p.MaxRequest = DefaultMaxRequest
	}
	if p.MaxResponse == 0 {
		p.MaxResponse = DefaultMaxResponse
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	return p, nil
}

// Handler answers one request. from is the requesting peer, whose
// identity the secure channel proved. ctx ends when the protocol's
// Timeout runs out. A returned error is sent to the requester as an error
// response: with its code if it is or wraps an *Error or a *protocol.Error,
// with CodeFailed otherwise; in every case with its message.
type Handler func(ctx context.Context, from peer.ID, req []byte) ([]byte, error)

// Code classifies a request/response failure. The codes of spec/SPEC.md
// §8 that a handler returns travel as they are; the transport adds its
// own, below.
type Code string

// Codes of request/response failures.
const (
	// CodeOversize: a request or response exceeds its protocol's limit
	// (the spec's OVERSIZE).
	CodeOversize = Code(dproto.CodeOversize)
	// CodeMalformed: a frame is not well-formed (the spec's MALFORMED).
	CodeMalformed Code = Code(dproto.CodeMalformed)
	// CodeTimeout: the exchange did not finish within its time.
	CodeTimeout Code = "TIMEOUT"
	// CodeUnsupported: the peer does not serve the protocol.
	CodeUnsupported Code = "UNSUPPORTED_PROTOCOL"
	// CodeUnreachable: no stream could be opened to the peer.
	CodeUnreachable Code = "UNREACHABLE"
	// CodeFailed: the handler failed with an error that has no code, or
	// the stream broke.
	CodeFailed Code = "FAILED"
)

// Error is a failed request, or a failure a Handler reports with a code.
type Error struct {
	// Code says what failed.
	Code Code
	// Msg is a sentence for humans.
	Msg string
	// Remote is true when the peer sent the error in its response; false
	// when this node found it.
	Remote bool
	// Err is the underlying cause found locally, if any.
	Err error
}

func (e *Error) Error() string {
	s := string(e.Code) + ": " + e.Msg
	if e.Remote {
		s = "peer answered " + s
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// CodeOf returns the code of the first *Error in err's chain, or "".
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Handle serves p with h, replacing any handler of p. Requests are served
// concurrently, each on its own stream, until the node closes.
func (n *Node) Handle(p Protocol, h Handler) error {
	p, err := p.withDefaults()
	if err != nil {
		return fmt.Errorf("failed to register handler: %w", err)
	}
	stats := n.stats.request(string(p.ID()))
	n.host.SetStreamHandler(p.ID(), func(s network.Stream) {
		stats.served.Add(1)
		if err := n.serve(p, h, s); err != nil {
			stats.serveFailed.Add(1)
			n.logger.Debug("request failed", "protocol", p.ID(), "peer", s.Conn().RemotePeer(), "err", err)
		}
	})
	return nil
}

// serve answers one request on s and closes s.
func (n *Node) serve(p Protocol, h Handler, s network.Stream) error {
	deadline := time.Now().Add(p.Timeout)
	if err := s.SetReadDeadline(deadline); err != nil {
		s.Reset()
		return fmt.Errorf("failed to set deadline: %w", err)
	}
	// A response, or the handler's error at the deadline, may still be
	// written a little after it.
	if err := s.SetWriteDeadline(deadline.Add(writeGrace)); err != nil {
		s.Reset()
		return fmt.Errorf("failed to set deadline: %w", err)
	}
	ctx, cancel := context.WithDeadline(n.ctx, deadline)
	defer cancel()
	from := s.Conn().RemotePeer()

	req, err := readFrame(bufio.NewReader(s), p.MaxRequest, "request")
	if err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code != CodeTimeout {
			// Tell the requester what was wrong with its request.
			writeError(s, e)
			s.Close()
		} else {
			s.Reset()
		}
		return err
	}
	resp, herr := h(ctx, from, req)
	if herr == nil && len(resp) > p.MaxResponse {
		herr = &Error{Code: CodeOversize, Msg: fmt.Sprintf("response of %d bytes exceeds the limit of %d", len(resp), p.MaxResponse)}
	}
	if herr != nil {
		if err := writeError(s, asError(herr)); err != nil {
			s.Reset()
			return fmt.Errorf("failed to write error response: %w", err)
		}
		s.Close()
		return herr
	}
	buf := make([]byte, 0, 1+maxVarintLength+len(resp))
	buf = append(buf, statusOK)
	buf = appendFrame(buf, resp)
	if _, err := s.Write(buf); err != nil {
		s.Reset()
		return fmt.Errorf("failed to write response: %w", err)
	}
	return s.Close()
}

// asError turns a handler's error into the Error sent to the requester.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return &Error{Code: e.Code, Msg: e.Msg}
	}
	if c := dproto.CodeOf(err); c != "" {
		return &Error{Code: Code(c), Msg: err.Error()}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: CodeTimeout, Msg: err.Error()}
	}
	return &Error{Code: CodeFailed, Msg: err.Error()}
}

func writeError(w io.Writer, e *Error) error {
	code, msg := string(e.Code), e.Msg
	if len(code) > maxCodeLength {
		code = code[:maxCodeLength]
	}
	if len(msg) > maxErrorMessage {
		msg = msg[:maxErrorMessage]
	}
	buf := []byte{statusError}
	buf = appendFrame(buf, []byte(code))
	buf = appendFrame(buf, []byte(msg))
	_, err := w.Write(buf)
	return err
}

// Request sends req to peer to under protocol p and returns the response.
// The exchange ends at ctx's deadline or after p.Timeout and a second,
// whichever comes first. A failure is an *Error: Remote when the peer answered with an
// error, a local code otherwise.
func (n *Node) Request(ctx context.Context, to peer.ID, p Protocol, req []byte) ([]byte, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("failed to send request: %w", err)
	}
	stats := n.stats.request(string(p.ID()))
	stats.sent.Add(1)
	resp, err := n.request(ctx, to, p, req)
	if err != nil {
		stats.sendFailed.Add(1)
		return nil, err
	}
	return resp, nil
}

func (n *Node) request(ctx context.Context, to peer.ID, p Protocol, req []byte) ([]byte, error) {
	if len(req) > p.MaxRequest {
		return nil, &Error{Code: CodeOversize, Msg: fmt.Sprintf("request of %d bytes exceeds the limit of %d of %s", len(req), p.MaxRequest, p.ID())}
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout+writeGrace)
	defer cancel()
	s, err := n.host.NewStream(ctx, to, p.ID())
	if err != nil {
		return nil, streamError(ctx, err, fmt.Sprintf("failed to open a %s stream to %s", p.ID(), to))
	}
	deadline, _ := ctx.Deadline()
	if err := s.SetDeadline(deadline); err != nil {
		s.Reset()
		return nil, &Error{Code: CodeFailed, Msg: "failed to set the stream's deadline", Err: err}
	}
	// Reset the stream if ctx is cancelled before the deadline.
	stop := context.AfterFunc(ctx, func() { s.Reset() })
	defer stop()

	buf := make([]byte, 0, maxVarintLength+len(req))
	buf = appendFrame(buf, req)
	_, werr := s.Write(buf)
	if werr == nil {
		werr = s.CloseWrite()
	}
	// Read even after a failed write: the responder may have refused the
	// request with an error response before it was all sent.
	resp, rerr := readResponse(bufio.NewReader(s), p.MaxResponse)
	if rerr != nil {
		s.Reset()
		var e *Error
		if errors.As(rerr, &e) && e.Remote {
			return nil, e
		}
		if werr != nil {
			rerr = werr
		}
		return nil, streamError(ctx, rerr, fmt.Sprintf("%s request to %s failed", p.ID(), to))
	}
	s.Close()
	return resp, nil
}

// streamError classifies an error of a stream operation.
func streamError(ctx context.Context, err error, msg string) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ns msmux.ErrNotSupported[protocol.ID]
	switch {
	case errors.As(err, &ns):
		return &Error{Code: CodeUnsupported, Msg: msg + ": the peer does not serve the protocol", Err: err}
	case isTimeout(err) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return &Error{Code: CodeTimeout, Msg: msg + ": deadline exceeded", Err: err}
	case errors.As(err, new(*swarm.DialError)) || errors.Is(err, swarm.ErrNoAddresses) ||
		errors.Is(err, swarm.ErrNoGoodAddresses) || errors.Is(err, swarm.ErrDialBackoff) ||
		errors.Is(err, swarm.ErrGaterDisallowedConnection) || errors.Is(err, network.ErrNoConn) ||
		errors.Is(err, network.ErrNoRemoteAddrs):
		return &Error{Code: CodeUnreachable, Msg: msg, Err: err}
	}
	return &Error{Code: CodeFailed, Msg: msg, Err: err}
}

// isTimeout reports whether err is a deadline that passed: the stream
// multiplexers' timeout errors implement net.Error.
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readResponse reads a response: a status byte, then the body, or the
// error's code and message.
func readResponse(r *bufio.Reader, limit int) ([]byte, error) {
	status, err := r.ReadByte()
	if err != nil {
		return nil, err
	}
	switch status {
	case statusOK:
		return readFrame(r, limit, "response")
	case statusError:
		code, err := readFrame(r, maxCodeLength, "error code")
		if err != nil {
			return nil, err
		}
		msg, err := readFrame(r, maxErrorMessage, "error message")
		if err != nil {
			return nil, err
		}
		return nil, &Error{Code: Code(code), Msg: string(msg), Remote: true}
	}
	return nil, &Error{Code: CodeMalformed, Msg: fmt.Sprintf("response status %d is neither 0 nor 1", status)}
}

// readFrame reads an unsigned-varint length and that many bytes, refusing
// a length over limit before reading the bytes.
func readFrame(r *bufio.Reader, limit int, what string) ([]byte, error) {
	length, err := readUvarint(r)
	if err != nil {
		if isTimeout(err) {
			return nil, &Error{Code: CodeTimeout, Msg: fmt.Sprintf("%s not received in time", what), Err: err}
		}
		var e *Error
		if errors.As(err, &e) {
			return nil, err
		}
		return nil, &Error{Code: CodeMalformed, Msg: fmt.Sprintf("%s length is missing or truncated", what), Err: err}
	}
	if length > uint64(limit) {
		return nil, &Error{Code: CodeOversize, Msg: fmt.Sprintf("%s of %d bytes exceeds the limit of %d", what, length, limit)}
	}
	buf := make([]byte, length)
	if _, err := io.ReadFull(r, buf); err != nil {
		if isTimeout(err) {
			return nil, &Error{Code: CodeTimeout, Msg: fmt.Sprintf("%s not received in time", what), Err: err}
		}
		return nil, &Error{Code: CodeMalformed, Msg: fmt.Sprintf("%s is truncated", what), Err: err}
	}
	return buf, nil
}

// readUvarint reads a multiformats unsigned varint: at most 9 bytes, in
// its minimal encoding.
func readUvarint(r io.ByteReader) (uint64, error) {
	var x uint64
	for i := 0; i < maxVarintLength; i++ {
		b, err := r.ReadByte()
		if err != nil {
			if i > 0 && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, err
		}
		x |= uint64(b&0x7f) << (7 * i)
		if b < 0x80 {
			if b == 0 && i > 0 {
				return 0, &Error{Code: CodeMalformed, Msg: "length is not minimally encoded"}
			}
			return x, nil
		}
	}
	return 0, &Error{Code: CodeMalformed, Msg: "length is longer than 9 bytes"}
}

// appendFrame appends data's unsigned-varint length and data.
func appendFrame(buf, data []byte) []byte {
	x := uint64(len(data))
	for x >= 0x80 {
		buf = append(buf, byte(x)|0x80)
		x >>= 7
	}
	buf = append(buf, byte(x))
	return append(buf, data...)
}
