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
	"strconv"
	"strings"
	"syscall"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/node/logclient"
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
		return noteKeygen(stdout, *name, *out, "log origin", func(skey, vkey string) (string, error) {
			_, err := note.NewSigner(skey)
			return vkey, err
		})
	}
	return c
}

// noteKeygen generates an Ed25519 note signing key (c2sp.org/signed-note)
// named name, writes it to out (mode 0600, never replacing a file) and
// prints the verifier key that verifierKey derives from the pair; what
// names the key's owner in the error for a name a note cannot carry.
func noteKeygen(stdout io.Writer, name, out, what string, verifierKey func(skey, vkey string) (string, error)) error {
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err == nil {
		// GenerateKey accepts any name; a signer only a valid one.
		vkey, err = verifierKey(skey, vkey)
	}
	if err != nil {
		return fmt.Errorf("--name %q: not a valid %s (no spaces or '+'): %w", name, what, err)
	}
	if err := writeFiles(false, outFile{path: out, data: []byte(skey + "\n"), perm: 0o600}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "verifier key: %s\n", vkey)
	return nil
}

func logServeCommand() *command {
	c := newCommand("log serve")
	c.summary = "run a transparency log of signed objects"
	c.synopsis = "--dir DIR --key FILE [--registrar PUB... [--isp PUB...]] [--listen ADDR] [--witness VKEY=URL... [--witnesses-required K]]"
	c.description = `
Run a transparency log stored in DIR (created if missing), signing
checkpoints with the key in FILE (from "docket log keygen"), and serve it
over HTTP on ADDR until interrupted: the c2sp.org/tlog-tiles read endpoints
(/checkpoint, /tile/...) and POST /add, which takes one signed object
(credential, revocation, assertion bundle, announcement or receipt) and
answers with its inclusion proof once a checkpoint covers it. See package
node/tlog for the formats.

With --registrar, the log verifies the signature of every object before
appending it: a root credential must be signed by a --registrar key; a
delegation, an assertion or a revocation must be signed by a key that a
credential already in the log (or a --registrar) gives, so submit
credentials first; an announcement or receipt must be signed by an --isp
key. It judges no time, scope or revocation status: an expired credential
is logged. Without --registrar the log is open: it checks structure only
and verifies no signature.

With --witness, every checkpoint is first submitted to the witnesses
(c2sp.org/tlog-witness) and published only once K of them (default: all)
have cosigned it; its cosignatures travel with it, in every inclusion
proof. VKEY is a witness's cosignature verifier key (as "docket witness
keygen" prints it), URL its address. The witnesses must be running when a
new log starts, as its first checkpoint is cosigned too.

Logs to standard error.`
	c.example = `
docket log serve --dir /var/lib/docket/log --key log.key --listen 127.0.0.1:8080 \
    --registrar keys/registrar.pub --isp keys/isp-a.pub --isp keys/isp-b.pub
docket log serve --dir /var/lib/docket/log --key log.key \
    --witness witness1.example+9c6258c2+BFhT+y21KfikhFtHoi8r0EWUrS8z899pZ0Nt4dZe2Mcl=http://127.0.0.1:8081 \
    --witness witness2.example+2c193cb6+BF8cWbebZ8HYRfTGk7N/YkWHeq9n795Lw7qroKtkFeis=http://127.0.0.1:8082`
	dir := c.flags.String("dir", "", "`DIR` holding the log (required)")
	keyPath := c.flags.String("key", "", "the checkpoint signing key `FILE` (required)")
	listen := c.flags.String("listen", "127.0.0.1:8080", "`ADDR` to serve HTTP on")
	var witnesses stringList
	c.flags.Var(&witnesses, "witness", "a witness that must cosign checkpoints, `VKEY=URL` (repeatable)")
	required := c.flags.Int("witnesses-required", 0, "how many witnesses, `K`, must cosign each checkpoint (default: all)")
	var registrars, isps stringList
	c.flags.Var(&registrars, "registrar", "a trusted registrar's public key `PUB`: verify every object's signature (repeatable)")
	c.flags.Var(&isps, "isp", "a trusted ISP's public signing key `PUB`, the signer of announcements and receipts (repeatable; needs --registrar)")
	c.run = func(_ []string, stdout io.Writer) error {
		if *dir == "" || *keyPath == "" {
			return usagef(c.name, "--dir and --key are required")
		}
		if len(isps) > 0 && len(registrars) == 0 {
			return usagef(c.name, "--isp needs --registrar: a log verifies signatures only when it trusts a registrar")
		}
		cfg := tlog.Config{Dir: *dir, WitnessesRequired: *required}
		var err error
		if cfg.Registrars, err = readPublicKeys(registrars); err != nil {
			return err
		}
		if cfg.ISPs, err = readPublicKeys(isps); err != nil {
			return err
		}
		for _, s := range witnesses {
			w, err := parseWitness(s)
			if err != nil {
				return usagef(c.name, "--witness: %v", err)
			}
			cfg.Witnesses = append(cfg.Witnesses, w)
		}
		if *required < 0 || *required > len(witnesses) {
			return usagef(c.name, "--witnesses-required %d: give 1 to the number of --witness flags (%d)", *required, len(witnesses))
		}
		skey, err := readFile(*keyPath, maxKeyFile)
		if err != nil {
			return err
		}
		cfg.Signer, err = note.NewSigner(strings.TrimSpace(string(skey)))
		if err != nil {
			return fmt.Errorf("failed to read %s: not a note signing key: %w", *keyPath, err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
		return serveLog(ctx, stdout, *listen, cfg)
	}
	return c
}

// parseWitness parses a --witness flag, VKEY=URL. A verifier key's base64
// may end in '=' padding, so the URL starts at "=http://" or "=https://".
func parseWitness(s string) (tlog.Witness, error) {
	i := strings.Index(s, "=http://")
	if i < 0 {
		i = strings.Index(s, "=https://")
	}
	if i <= 0 {
		return tlog.Witness{}, fmt.Errorf("%q is not VKEY=URL with an http:// or https:// URL", s)
	}
	key := s[:i]
	if _, err := fnote.NewVerifierForCosignatureV1(key); err != nil {
		return tlog.Witness{}, fmt.Errorf("%q: not a witness verifier key: %w", key, err)
	}
	return tlog.Witness{Key: key, URL: s[i+1:]}, nil
}

// serveLog runs the log of cfg on listen until ctx is done.
func serveLog(ctx context.Context, stdout io.Writer, listen string, cfg tlog.Config) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("failed to listen: %w", err)
	}
	l, err := tlog.Open(ctx, cfg)
	if err != nil {
		ln.Close()
		return err
	}
	fmt.Fprintf(stdout, "log %s serving on http://%s\n", l.Origin(), ln.Addr())
	if len(cfg.Registrars) == 0 {
		fmt.Fprintln(stdout, "signatures are not checked: no --registrar was given, so the log appends every well-formed object")
	} else {
		fmt.Fprintf(stdout, "signatures are checked: %d registrar and %d ISP keys trusted\n", len(cfg.Registrars), len(cfg.ISPs))
	}
	err = serveUntil(ctx, ln, l.Handler())
	closing, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := l.Close(closing); cerr != nil && err == nil {
		err = cerr
	}
	return err
}

// serveUntil serves h on ln until ctx is done or serving fails, then shuts
// the server down, waiting up to 10 seconds for requests in progress.
func serveUntil(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var err error
	select {
	case err = <-served:
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := srv.Shutdown(shutdown); serr != nil && err == nil {
		err = serr
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
described in package node/tlog. The object's structure is checked first as
the log checks it, so a malformed one is not sent; a log that verifies
signatures (log serve --registrar) may still refuse it, for example a
delegation or assertion whose credential it does not hold yet.`
	c.example = `
docket log submit --url http://127.0.0.1:8080 holder.cred.json`
	c.args = 1
	url := c.flags.String("url", "", "the log's base `URL` (required)")
	kind := c.flags.String("kind", "", "the object's `KIND`: credential, revocation, assertion, announcement or receipt (default: detect)")
	c.run = func(args []string, stdout io.Writer) error {
		if *url == "" {
			return usagef(c.name, "--url is required")
		}
		data, err := readEnvelope(args[0], tlog.MaxSubmissionSize)
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

// logReadFlags are the flags of the verbs that read a log as a client.
type logReadFlags struct {
	location  *string
	key       *string
	witnesses stringList
	required  *int
	state     *string
}

func addLogReadFlags(c *command) *logReadFlags {
	f := &logReadFlags{
		location: c.flags.String("log", "", "the log: its base `URL`, or the DIR it is stored in (required)"),
		key:      c.flags.String("key", "", "the log's note verifier `VKEY`, as \"docket log keygen\" prints it (required)"),
		required: c.flags.Int("witnesses-required", 0, "how many of the --witness-key witnesses, `K`, must have cosigned the checkpoint (default: all)"),
		state:    c.flags.String("state", "", "`FILE` keeping the last checkpoint accepted: the log must be consistent with it"),
	}
	c.flags.Var(&f.witnesses, "witness-key", "a trusted witness's cosignature verifier `VKEY` (repeatable)")
	return f
}

// run carries out a verb that reads entry INDEX, args[0], of the log the
// flags name: it opens and updates the log and calls do.
func (f *logReadFlags) run(verb string, args []string, do func(context.Context, *logclient.Client, uint64) error) error {
	index, err := strconv.ParseUint(args[0], 10, 64)
	if err != nil {
		return usagef(verb, "INDEX %q is not an entry index (0, 1, 2, ...)", args[0])
	}
	ctx := context.Background()
	c, err := f.client(ctx, verb)
	if err != nil {
		return err
	}
	return do(ctx, c, index)
}

// client opens the log as the flags say and updates it: the log's
// checkpoint must verify and, with --state, be consistent with the one
// kept there.
func (f *logReadFlags) client(ctx context.Context, verb string) (*logclient.Client, error) {
	switch {
	case *f.location == "" || *f.key == "":
		return nil, usagef(verb, "--log and --key are required")
	case *f.required < 0 || *f.required > len(f.witnesses):
		return nil, usagef(verb, "--witnesses-required %d: give 1 to the number of --witness-key flags (%d)", *f.required, len(f.witnesses))
	}
	required := *f.required
	if required == 0 {
		required = len(f.witnesses)
	}
	v, err := logclient.NewVerifier(*f.key, f.witnesses, required)
	if err != nil {
		return nil, usagef(verb, "%v", err)
	}
	src, err := logclient.OpenSource(*f.location)
	if err != nil {
		return nil, err
	}
	c, err := logclient.NewClient(src, v, *f.state)
	if err != nil {
		return nil, err
	}
	if _, err := c.Update(ctx); err != nil {
		var split *logclient.SplitViewError
		if errors.As(err, &split) && *f.state != "" {
			return nil, fmt.Errorf("%w (the checkpoint it contradicts is kept in %s)", err, *f.state)
		}
		return nil, err
	}
	return c, nil
}

func logGetCommand() *command {
	c := newCommand("log get")
	c.summary = "print an entry of a transparency log"
	c.synopsis = "INDEX --log URL|DIR --key VKEY [--witness-key VKEY... [--witnesses-required K]] [--state FILE]"
	c.description = `
Print the entry at INDEX (from 0) of the log at URL or stored in DIR, exactly
as it was submitted. The log's checkpoint must be signed by the log's key
VKEY and cosigned by the witnesses given with --witness-key (K of them,
default all); the entry is checked against it: its leaf hash is read from
tiles that hash up to the checkpoint's root.

With --state, the checkpoint is also checked against the one kept in FILE
(created on first use) and replaces it: a log that contradicts what it
showed before (a split view) is refused with both tree sizes and roots.`
	c.example = `
docket log get 0 --log http://127.0.0.1:8080 --key docket.example/log+b93071ef+AZDmxfUlt8pQ0jEsDz654d+UHbPB+cjCbYnuQFZA/fE3 > entry.json`
	c.args = 1
	f := addLogReadFlags(c)
	c.run = func(args []string, stdout io.Writer) error {
		return f.run(c.name, args, func(ctx context.Context, lc *logclient.Client, index uint64) error {
			entry, err := lc.Entry(ctx, index)
			if err != nil {
				return err
			}
			_, err = stdout.Write(entry)
			return err
		})
	}
	return c
}

func logProveCommand() *command {
	c := newCommand("log prove")
	c.summary = "print an inclusion proof of a transparency log entry"
	c.synopsis = "INDEX --log URL|DIR --key VKEY [--witness-key VKEY... [--witnesses-required K]] [--state FILE]"
	c.description = `
Print the inclusion proof of the entry at INDEX (from 0) in the current
checkpoint of the log at URL or stored in DIR: the JSON object
{"index", "checkpoint", "inclusion"} that "docket log submit" prints,
described in package node/tlog. The proof is built from the log's tiles and
checked against the checkpoint, which is verified as "docket log get" does;
it can then be checked offline by anyone with the log's key.`
	c.example = `
docket log prove 0 --log /var/lib/docket/log --key docket.example/log+b93071ef+AZDmxfUlt8pQ0jEsDz654d+UHbPB+cjCbYnuQFZA/fE3`
	c.args = 1
	f := addLogReadFlags(c)
	c.run = func(args []string, stdout io.Writer) error {
		return f.run(c.name, args, func(ctx context.Context, lc *logclient.Client, index uint64) error {
			p, err := lc.Prove(ctx, index)
			if err != nil {
				return err
			}
			return writeJSON(stdout, p)
		})
	}
	return c
}
