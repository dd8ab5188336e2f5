package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/tessera/api/layout"
	"github.com/transparency-dev/tessera/client"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/node/tlog"
)

// source reads a log in the c2sp.org/tlog-tiles layout. Tessera's
// client.HTTPFetcher and client.FileFetcher implement it.
type source interface {
	ReadCheckpoint(ctx context.Context) ([]byte, error)
	ReadTile(ctx context.Context, level, index uint64, p uint8) ([]byte, error)
	ReadEntryBundle(ctx context.Context, index uint64, p uint8) ([]byte, error)
}

// maxResponse is the largest resource a log serves: a full entry bundle of
// entries of the largest size.
const maxResponse = layout.EntryBundleWidth * (2 + tlog.MaxEntrySize)

// openSource returns the reader of an http(s) URL or a directory.
func openSource(src string, hc *http.Client) (source, error) {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		u, err := url.Parse(src)
		if err != nil {
			return nil, fmt.Errorf("failed to audit: source %q is not a URL: %w", src, err)
		}
		c := &http.Client{Timeout: DefaultHTTPTimeout}
		if hc != nil {
			*c = *hc
		}
		c.Transport = limitTransport{base: c.Transport}
		return client.NewHTTPFetcher(u, c)
	}
	info, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("failed to audit: source is neither an http(s) URL nor a log directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("failed to audit: source %s is a file, not a log directory or an http(s) URL", src)
	}
	return client.FileFetcher{Root: src}, nil
}

// limitTransport fails any response body longer than maxResponse, so that
// a hostile server cannot make the auditor read without end.
type limitTransport struct {
	base http.RoundTripper
}

func (t limitTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: maxResponse + 1}
	return resp, nil
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

var errTooLarge = fmt.Errorf("response is larger than the largest entry bundle (%d bytes)", maxResponse)

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left <= 0 {
		return n, errTooLarge
	}
	return n, err
}

// state is the checkpoint of the previous audit.
type state struct {
	*log.Checkpoint
	raw []byte
}

// maxState bounds the state file: a checkpoint with many cosignatures.
const maxState = 64 << 10

// readState returns the checkpoint in the state file, verified with the
// log's key, or nil if there is no state file.
func readState(path, origin string, key note.Verifier) (*state, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read state: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxState+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read state: %w", err)
	}
	if len(raw) > maxState {
		return nil, fmt.Errorf("failed to read state: %s is larger than %d bytes, too large for a checkpoint", path, maxState)
	}
	cp, _, _, err := log.ParseCheckpoint(raw, origin, key)
	if err != nil {
		return nil, fmt.Errorf("failed to read state: %s does not hold a checkpoint of %s signed by its key: %w", path, origin, err)
	}
	return &state{Checkpoint: cp, raw: raw}, nil
}

// writeState replaces the state file with the checkpoint raw, atomically:
// a crash leaves the old file or the new one.
func writeState(path string, raw []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("failed to write state: %w", err)
	}
	_, err = tmp.Write(raw)
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("failed to write state: %w", err)
	}
	return nil
}
