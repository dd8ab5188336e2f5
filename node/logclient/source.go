package logclient

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
	"time"

	"github.com/transparency-dev/tessera/api/layout"
)

// MaxFileSize is the largest file of a log a Source reads, in bytes: a
// full entry bundle of 256 entries of the largest size a tile can hold.
const MaxFileSize = layout.EntryBundleWidth * (2 + 1<<16 - 1)

// Source reads the files of a log published in the c2sp.org/tlog-tiles
// layout. A path is relative to the log's root: "checkpoint",
// "tile/0/x001/234", "tile/entries/000.p/5". ReadFile returns an error
// wrapping fs.ErrNotExist for a file the log does not have, and an error
// for one longer than MaxFileSize.
type Source interface {
	ReadFile(ctx context.Context, path string) ([]byte, error)
}

// OpenSource returns the Source for location: an http:// or https:// URL
// of a log's root, or the directory a log is stored in (the layout of
// Tessera's POSIX driver, as "docket log serve" writes it).
func OpenSource(location string) (Source, error) {
	if strings.HasPrefix(location, "http://") || strings.HasPrefix(location, "https://") {
		return NewHTTPSource(location, nil)
	}
	return NewDirSource(location)
}

// httpSource reads a log over HTTP.
type httpSource struct {
	base   *url.URL
	client *http.Client
}

// NewHTTPSource returns a Source reading the log whose root is the URL
// base, with client (default: one with a one-minute timeout).
func NewHTTPSource(base string, client *http.Client) (Source, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("log URL %q is not an http or https URL", base)
	}
	if client == nil {
		client = &http.Client{Timeout: time.Minute}
	}
	return &httpSource{base: u, client: client}, nil
}

func (s *httpSource) ReadFile(ctx context.Context, path string) ([]byte, error) {
	u := s.base.JoinPath(path).String()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", u, err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error // it repeats the URL
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("failed to read %s: %w", u, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return nil, fmt.Errorf("failed to read %s: %w", u, fs.ErrNotExist)
	default:
		return nil, fmt.Errorf("failed to read %s: %s", u, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", u, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("failed to read %s: longer than %d bytes", u, MaxFileSize)
	}
	return data, nil
}

// dirSource reads a log from a local directory.
type dirSource struct{ dir string }

// NewDirSource returns a Source reading the log stored in the directory
// dir. Paths never reach outside dir.
func NewDirSource(dir string) (Source, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to open log directory: %w", err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("failed to open log directory: %s is not a directory", dir)
	}
	return dirSource{dir: dir}, nil
}

func (s dirSource) ReadFile(_ context.Context, path string) ([]byte, error) {
	name := filepath.Join(s.dir, path)
	f, err := os.OpenInRoot(s.dir, path)
	if err != nil {
		var pe *fs.PathError // it names the path within the directory
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("failed to read %s: %w", name, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", name, err)
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("failed to read %s: longer than %d bytes", name, MaxFileSize)
	}
	return data, nil
}

// readPartial reads the tile or entry bundle at partial, or if the log no
// longer has it (a partial resource is removed once the full one exists,
// c2sp.org/tlog-tiles), the full one at full, of which the partial one is
// a prefix. If partial is "" the full one is read.
func readPartial(ctx context.Context, src Source, partial, full string) ([]byte, error) {
	if partial != "" {
		data, err := src.ReadFile(ctx, partial)
		if !errors.Is(err, fs.ErrNotExist) {
			return data, err
		}
	}
	return src.ReadFile(ctx, full)
}
