package tlog

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/api/layout"

	"github.com/docket-project/docket/protocol"
)

// ErrorResponse is the JSON body of an HTTP error from POST /add.
type ErrorResponse struct {
	// Code is the protocol code of a rejection of the object (HTTP 400);
	// empty for any other error, such as an unknown format or a failure of
	// the log (HTTP 5xx).
	Code protocol.Code `json:"code,omitempty"`
	// Message says what went wrong, for humans.
	Message string `json:"message"`
}

// Handler returns the log's HTTP interface: the c2sp.org/tlog-tiles read
// endpoints (GET /checkpoint, /tile/L/N[.p/W], /tile/entries/N[.p/W]) and
// POST /add[?kind=KIND][&format=tlog-proof], whose body is one signed
// object and whose answer is a Proof in JSON (HTTP 200), or with
// format=tlog-proof the proof of its object in the c2sp.org/tlog-proof
// format, or an ErrorResponse: HTTP 400 for a rejection, 406 when a
// tlog-proof cannot prove the object (nothing is appended then), 503 with
// Retry-After when the log is overloaded, 500 otherwise.
//
// Tiles and entry bundles are served only within the tree of the latest
// published checkpoint: what lies beyond is not yet committed to, and a
// full tile or bundle is served as immutable.
func (l *Log) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /"+layout.CheckpointPath, l.serveCheckpoint)
	mux.HandleFunc("GET /tile/entries/{index...}", l.serveEntries)
	mux.HandleFunc("GET /tile/{level}/{index...}", l.serveTile)
	mux.HandleFunc("POST /add", l.serveAdd)
	return mux
}

func (l *Log) serveCheckpoint(w http.ResponseWriter, r *http.Request) {
	cp, err := l.reader.ReadCheckpoint(r.Context())
	l.serveStatic(w, r, cp, err, "no-cache", "text/plain; charset=utf-8")
}

func (l *Log) serveTile(w http.ResponseWriter, r *http.Request) {
	level, index, p, err := layout.ParseTileLevelIndexPartial(r.PathValue("level"), r.PathValue("index"))
	if err != nil {
		http.Error(w, "bad tile path", http.StatusBadRequest)
		return
	}
	if !l.committed(r.Context(), level, index, p) {
		http.NotFound(w, r)
		return
	}
	tile, err := l.reader.ReadTile(r.Context(), level, index, p)
	l.serveStatic(w, r, tile, err, cacheControl(p), "application/octet-stream")
}

func (l *Log) serveEntries(w http.ResponseWriter, r *http.Request) {
	index, p, err := layout.ParseTileIndexPartial(r.PathValue("index"))
	if err != nil {
		http.Error(w, "bad entry bundle path", http.StatusBadRequest)
		return
	}
	if !l.committed(r.Context(), 0, index, p) {
		http.NotFound(w, r)
		return
	}
	bundle, err := l.reader.ReadEntryBundle(r.Context(), index, p)
	l.serveStatic(w, r, bundle, err, cacheControl(p), "application/octet-stream")
}

// committed reports whether the published checkpoint's tree covers the
// tile at level and index of width p (0: full), an entry bundle being a
// tile at level 0.
func (l *Log) committed(ctx context.Context, level, index uint64, p uint8) bool {
	if level > 7 || index >= 1<<56 {
		return false // beyond any tree of 2^64 entries
	}
	width := uint64(p)
	if width == 0 {
		width = 256
	}
	// The tile holds the nodes index×256 to index×256+width-1 of its level;
	// a tree of size entries has size>>(8×level) whole nodes there.
	need := index*256 + width
	if l.published.latest().size>>(8*level) >= need {
		return true
	}
	// The checkpoint may have been published since it was last read.
	cp, err := l.published.refresh(ctx)
	return err == nil && cp.size>>(8*level) >= need
}

// cacheControl says for how long a tile or entry bundle may be cached: a
// full one never changes, a partial one may be replaced by a fuller one.
func cacheControl(p uint8) string {
	if p == 0 {
		return "public, max-age=31536000, immutable"
	}
	return "no-cache"
}

func (l *Log) serveStatic(w http.ResponseWriter, r *http.Request, data []byte, err error, cache, contentType string) {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		http.NotFound(w, r)
		return
	case err != nil:
		l.logger.Error("failed to read log", "path", r.URL.Path, "err", err)
		http.Error(w, "failed to read log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", cache)
	_, _ = w.Write(data)
}

func (l *Log) serveAdd(w http.ResponseWriter, r *http.Request) {
	// Nothing longer than MaxSubmissionSize is accepted, so reading one
	// byte more is enough to reject any longer body, however long it is.
	data, err := io.ReadAll(io.LimitReader(r.Body, MaxSubmissionSize+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, ErrorResponse{Code: protocol.CodeMalformed,
			Message: fmt.Sprintf("failed to read body: %v", err)})
		return
	}
	q := r.URL.Query()
	format := q.Get("format")
	if format != "" && format != "json" && format != "tlog-proof" {
		writeJSON(w, http.StatusBadRequest, ErrorResponse{Message: fmt.Sprintf("unknown format %q: use json or tlog-proof", format)})
		return
	}
	d, entries, err := l.prepare(Kind(q.Get("kind")), data)
	if err == nil && format == "tlog-proof" && !ObjectFitsOneEntry(entries) {
		writeJSON(w, http.StatusNotAcceptable, ErrorResponse{Message: fmt.Sprintf(
			"the object is longer than one entry (%d bytes) and stored in parts, and a tlog-proof proves one entry: ask for the JSON proof", MaxEntrySize)})
		return
	}
	var proof *Proof
	if err == nil {
		proof, err = l.commit(r.Context(), d, entries)
	}
	var perr *protocol.Error
	switch {
	case errors.As(err, &perr):
		msg := perr.Msg
		if perr.Err != nil {
			msg += ": " + perr.Err.Error()
		}
		writeJSON(w, http.StatusBadRequest, ErrorResponse{Code: perr.Code, Message: msg})
	case errors.Is(err, tessera.ErrPushback):
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, ErrorResponse{Message: "log is overloaded, retry later"})
	case err != nil && r.Context().Err() != nil:
		// The client is gone; what it submitted may still be appended.
	case err != nil:
		l.logger.Error("failed to add entry", "err", err)
		writeJSON(w, http.StatusInternalServerError, ErrorResponse{Message: "failed to add entry"})
	case format == "tlog-proof":
		body, err := proof.TLogProof(entries)
		if err != nil {
			l.logger.Error("failed to encode tlog-proof", "err", err)
			writeJSON(w, http.StatusInternalServerError, ErrorResponse{Message: "failed to encode tlog-proof"})
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(body)
	default:
		writeJSON(w, http.StatusOK, proof)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "failed to encode response", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
