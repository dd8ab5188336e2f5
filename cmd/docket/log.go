package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

func logKeygenCommand() *command {
	c := newCommand("log keygen")
	c.summary = "generate a transparency log's checkpoint key"
	c.synopsis = "--name ORIGIN --out FILE"
	c.description = `
Generate the note signing key a transparency log signs its checkpoints with
(c2sp.org/signed-note, Ed25519) and write it to FILE, mode 0600. ORIGIN, the
key's name, is the log's origin: the first line of every checkpoint, by
convention a URL without scheme.

Prints the verifier key, which clients use to check checkpoints. An existing
file is never overwritten.`
	c.example = `
docket log keygen --name docket.example/log --out log.key`
	name := c.flags.String("name", "", "the log's `ORIGIN` (required)")
	out := c.flags.String("out", "", "`FILE` to write the signing key to (required)")
	c.run = func(_ []string, stdout io.Writer) error {
		if *name == "" || *out == "" {
			return usagef(c.name, "--name and --out are required")
		}
		skey, vkey, err := note.GenerateKey(rand.Reader, *name)
		if err == nil {
			// GenerateKey accepts any name; a signer only a valid one.
			_, err = note.NewSigner(skey)
		}
		if err != nil {
			return fmt.Errorf("--name %q: not a valid log origin (no spaces or '+'): %w", *name, err)
		}
		if err := writeFiles(false, outFile{path: *out, data: []byte(skey + "\n"), perm: 0o600}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "verifier key: %s\n", vkey)
		return nil
	}
	return c
}

func logServeCommand() *command {
	c := newCommand("log serve")
	c.summary = "run a transparency log of signed objects"
	c.synopsis = "--dir DIR --key FILE [--listen ADDR]"
	c.description = `
Run a transparency log stored in DIR (created if missing), signing
checkpoints with the key in FILE (from "docket log keygen"), and serve it
over HTTP on ADDR until interrupted: the c2sp.org/tlog-tiles read endpoints
(/checkpoint, /tile/...) and POST /add, which takes one signed object
(credential, revocation or assertion bundle) and answers with its inclusion
proof once a checkpoint covers it. See package node/tlog for the formats.

Logs to standard error.`
	c.example = `
docket log serve --dir /var/lib/docket/log --key log.key --listen 127.0.0.1:8080`
	dir := c.flags.String("dir", "", "`DIR` holding the log (required)")
	keyPath := c.flags.String("key", "", "the checkpoint signing key `FILE` (required)")
	listen := c.flags.String("listen", "127.0.0.1:8080", "`ADDR` to serve HTTP on")
	c.run = func(_ []string, stdout io.Writer) error {
		if *dir == "" || *keyPath == "" {
			return usagef(c.name, "--dir and --key are required")
		}
		skey, err := readFile(*keyPath, maxKeyFile)
		if err != nil {
			return err
		}
		signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
		if err != nil {
			return fmt.Errorf("failed to read %s: not a note signing key: %w", *keyPath, err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
		return serveLog(ctx, stdout, logger, *dir, *listen, signer)
	}
	return c
}

// serveLog runs the log in dir on listen until ctx is done.
func serveLog(ctx context.Context, stdout io.Writer, logger *slog.Logger, dir, listen string, signer note.Signer) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("failed to listen: %w", err)
	}
	l, err := tlog.Open(ctx, tlog.Config{Dir: dir, Signer: signer, Logger: logger})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{Handler: l.Handler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "log %s serving on http://%s\n", l.Origin(), ln.Addr())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdown); serr != nil && err == nil {
		err = serr
	}
	if cerr := l.Close(shutdown); cerr != nil && err == nil {
		err = cerr
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	if err != nil {
		return fmt.Errorf("failed to serve: %w", err)
	}
	return nil
}

func logSubmitCommand() *command {
	c := newCommand("log submit")
	c.summary = "submit a signed object to a transparency log"
	c.synopsis = "--url URL [--kind KIND] FILE"
	c.description = `
Submit the signed object in FILE (a credential, a revocation or an assertion
bundle, exactly as written by docket) to the transparency log at URL and
print the inclusion proof it returns: {"index", "checkpoint", "inclusion"},
described in package node/tlog. The object is checked first as the log
checks it, so a malformed one is not sent.`
	c.example = `
docket log submit --url http://127.0.0.1:8080 holder.cred.json`
	c.args = 1
	url := c.flags.String("url", "", "the log's base `URL` (required)")
	kind := c.flags.String("kind", "", "the object's `KIND`: credential, revocation or assertion (default: detect)")
	c.run = func(args []string, stdout io.Writer) error {
		if *url == "" {
			return usagef(c.name, "--url is required")
		}
		data, err := readEnvelope(args[0], tlog.MaxEntrySize)
		if err != nil {
			return err
		}
		if _, err := tlog.Check(tlog.Kind(*kind), data); err != nil {
			return annotate(args[0], err)
		}
		return submitLog(stdout, *url, tlog.Kind(*kind), data)
	}
	return c
}

// submitLog posts data to the log at base and prints the proof.
func submitLog(stdout io.Writer, base string, kind tlog.Kind, data []byte) error {
	u := strings.TrimSuffix(base, "/") + "/add"
	if kind != tlog.KindAuto {
		u += "?kind=" + string(kind)
	}
	client := &http.Client{Timeout: time.Minute}
	resp, err := client.Post(u, "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("failed to submit: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("failed to submit: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e tlog.ErrorResponse
		if json.Unmarshal(body, &e) == nil && e.Code != "" {
			return &protocol.Error{Code: e.Code, Msg: "the log rejected it: " + e.Message}
		}
		return fmt.Errorf("failed to submit: %s: %s", resp.Status, bytes.TrimSpace(body))
	}
	var p tlog.Proof
	if err := json.Unmarshal(body, &p); err != nil {
		return fmt.Errorf("failed to read the log's answer: %w", err)
	}
	return writeJSON(stdout, p)
}
