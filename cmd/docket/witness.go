package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"

	fnote "github.com/transparency-dev/formats/note"

	"github.com/docket-project/docket/node/witness"
)

func witnessKeygenCommand() *command {
	c := newCommand("witness keygen")
	c.summary = "generate a witness's cosigning key"
	c.synopsis = "--name NAME --out FILE"
	c.description = `
Generate the Ed25519 key a witness cosigns log checkpoints with
(c2sp.org/tlog-cosignature, cosignature/v1) and write it to FILE, mode 0600,
as a c2sp.org/signed-note signing key named NAME, by convention a URL
without scheme.

Prints the witness's cosignature verifier key, which logs pass to
"docket log serve --witness" and clients to --witness-key. An existing file
is never overwritten.`
	c.example = `
docket witness keygen --name witness.example/w1 --out witness.key`
	name := c.flags.String("name", "", "the witness's `NAME` (required)")
	out := c.flags.String("out", "", "`FILE` to write the signing key to (required)")
	c.run = func(_ []string, stdout io.Writer) error {
		if *name == "" || *out == "" {
			return usagef(c.name, "--name and --out are required")
		}
		return noteKeygen(stdout, *name, *out, "witness name", func(skey, vkey string) (string, error) {
			if _, err := fnote.NewSignerForCosignatureV1(skey); err != nil {
				return "", err
			}
			return fnote.VKeyToCosignatureV1(vkey)
		})
	}
	return c
}

func witnessServeCommand() *command {
	c := newCommand("witness serve")
	c.summary = "run a witness that cosigns consistent log checkpoints"
	c.synopsis = "--key FILE --log ORIGIN=VKEY... --state DIR [--listen ADDR]"
	c.description = `
Run a transparency log witness (c2sp.org/tlog-witness) on ADDR until
interrupted. It cosigns, with the key in FILE (from "docket witness
keygen"), each checkpoint a log submits to POST /add-checkpoint, but only if
it is signed by the log's key and consistent with the last checkpoint it
cosigned for that log: a log that shows two histories gets only one of them
cosigned. --log names a log it follows, by its origin and its note verifier
key (as "docket log keygen" prints it), and may be repeated.

The last checkpoint cosigned for each log is kept in DIR (created if
missing) and written before each answer, so a restarted witness never
cosigns an older or forked view. See package node/witness for the answers.

Logs to standard error.`
	c.example = `
docket witness serve --key witness.key --state /var/lib/docket/witness \
    --log docket.example/log=docket.example/log+b93071ef+AZDmxfUlt8pQ0jEsDz654d+UHbPB+cjCbYnuQFZA/fE3 \
    --listen 127.0.0.1:8081`
	keyPath := c.flags.String("key", "", "the cosigning key `FILE` (required)")
	var logs stringList
	c.flags.Var(&logs, "log", "a log to follow, `ORIGIN=VKEY` (required, repeatable)")
	state := c.flags.String("state", "", "`DIR` holding the last checkpoint cosigned for each log (required)")
	listen := c.flags.String("listen", "127.0.0.1:8081", "`ADDR` to serve HTTP on")
	c.run = func(_ []string, stdout io.Writer) error {
		if *keyPath == "" || *state == "" || len(logs) == 0 {
			return usagef(c.name, "--key, --state and at least one --log are required")
		}
		var follow []witness.Log
		for _, s := range logs {
			l, err := witness.ParseLog(s)
			if err != nil {
				return usagef(c.name, "--log: %v", err)
			}
			follow = append(follow, l)
		}
		skey, err := readFile(*keyPath, maxKeyFile)
		if err != nil {
			return err
		}
		signer, err := fnote.NewSignerForCosignatureV1(strings.TrimSpace(string(skey)))
		if err != nil {
			return fmt.Errorf("failed to read %s: not a note signing key: %w", *keyPath, err)
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
		w, err := witness.New(witness.Config{Signer: signer, Logs: follow, StateDir: *state, Logger: logger})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return fmt.Errorf("failed to listen: %w", err)
		}
		fmt.Fprintf(stdout, "witness %s serving on http://%s\n", w.Name(), ln.Addr())
		return serveUntil(ctx, ln, w.Handler())
	}
	return c
}
