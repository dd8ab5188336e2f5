package witness

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
)

// MaxRequestSize is the largest add-checkpoint request body the witness
// reads, in bytes.
const MaxRequestSize = 32 << 10

// AddCheckpointPath is the path of the add-checkpoint endpoint under the
// witness's submission prefix.
const AddCheckpointPath = "/add-checkpoint"

// SizeContentType is the content type of a 409 Conflict answer that gives
// the size of the checkpoint the witness holds.
const SizeContentType = "text/x.tlog.size"

// Handler returns the witness's HTTP interface, c2sp.org/tlog-witness:
// POST /add-checkpoint. See the package documentation for the request and
// the answers.
func (w *Witness) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+AddCheckpointPath, w.serveAddCheckpoint)
	return mux
}

func (w *Witness) serveAddCheckpoint(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(rw, r.Body, MaxRequestSize))
	if err != nil {
		http.Error(rw, fmt.Sprintf("failed to read request: %v", err), http.StatusBadRequest)
		return
	}
	oldSize, proof, cp, err := ParseRequest(body)
	if err == nil {
		var cosig []byte
		if cosig, err = w.AddCheckpoint(oldSize, proof, cp); err == nil {
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = rw.Write(cosig)
			return
		}
	}
	var conflict *ConflictError
	switch {
	case errors.As(err, &conflict):
		rw.Header().Set("Content-Type", SizeContentType)
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", conflict.Size)
	case errors.Is(err, ErrMalformed):
		http.Error(rw, err.Error(), http.StatusBadRequest)
	case errors.Is(err, ErrUnknownLog):
		http.Error(rw, err.Error(), http.StatusNotFound)
	case errors.Is(err, ErrBadSignature):
		http.Error(rw, err.Error(), http.StatusForbidden)
	case errors.Is(err, ErrRootMismatch):
		http.Error(rw, err.Error(), http.StatusConflict)
	case errors.Is(err, ErrBadProof):
		http.Error(rw, err.Error(), http.StatusUnprocessableEntity)
	default:
		w.logger.Error("failed to add checkpoint", "err", err)
		http.Error(rw, "failed to add checkpoint", http.StatusInternalServerError)
	}
}

// ParseRequest parses an add-checkpoint request body (c2sp.org/tlog-witness):
// the line "old N", N in decimal without leading zeros; up to
// MaxProofHashes lines of one consistency proof hash each, 32 bytes in
// canonical base64; an empty line; and the checkpoint, which is returned
// as it is. An error wraps ErrMalformed.
func ParseRequest(body []byte) (oldSize uint64, proof [][]byte, checkpoint []byte, err error) {
	bad := func(format string, args ...any) (uint64, [][]byte, []byte, error) {
		return 0, nil, nil, fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	r := bufio.NewReader(bytes.NewReader(body))
	line, err := r.ReadString('\n')
	if err != nil {
		return bad("no old size line")
	}
	n, ok := bytes.CutPrefix([]byte(line[:len(line)-1]), []byte("old "))
	if !ok || len(n) == 0 || n[0] < '0' || n[0] > '9' || (n[0] == '0' && len(n) > 1) {
		return bad("the first line %q is not \"old\" and a size without leading zeros", line[:len(line)-1])
	}
	if oldSize, err = strconv.ParseUint(string(n), 10, 64); err != nil {
		return bad("old size %q is out of range", n)
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return bad("no empty line after the consistency proof")
		}
		line = line[:len(line)-1]
		if line == "" {
			break
		}
		if len(proof) == MaxProofHashes {
			return bad("more than %d consistency proof hashes", MaxProofHashes)
		}
		h, err := base64.StdEncoding.DecodeString(line)
		if err != nil || len(h) != 32 || base64.StdEncoding.EncodeToString(h) != line {
			return bad("consistency proof line %q is not a 32-byte hash in canonical base64", line)
		}
		proof = append(proof, h)
	}
	checkpoint, _ = io.ReadAll(r)
	if len(checkpoint) == 0 {
		return bad("no checkpoint after the empty line")
	}
	return oldSize, proof, checkpoint, nil
}
