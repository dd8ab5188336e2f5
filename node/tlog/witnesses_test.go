package tlog_test

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/docket-project/docket/node/tlog"
)

// A witness configuration is checked before anything is written: each
// mistake is named, and the log's directory is not created.
func TestWitnessConfig(t *testing.T) {
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	const (
		w1 = "witness1.example+9c6258c2+BFhT+y21KfikhFtHoi8r0EWUrS8z899pZ0Nt4dZe2Mcl"
		w2 = "witness2.example+2c193cb6+BF8cWbebZ8HYRfTGk7N/YkWHeq9n795Lw7qroKtkFeis"
	)
	for _, c := range []struct {
		name      string
		witnesses []tlog.Witness
		required  int
		timeout   time.Duration
		want      string
	}{
		{"required without witnesses", nil, 1, 0, "WitnessesRequired is 1, but Witnesses is empty"},
		{"more required than witnesses", []tlog.Witness{{Key: w1, URL: "http://127.0.0.1:9"}}, 2, 0, "WitnessesRequired is 2: use 1 to 1"},
		{"negative required", []tlog.Witness{{Key: w1, URL: "http://127.0.0.1:9"}}, -1, 0, "WitnessesRequired is -1"},
		{"negative timeout", []tlog.Witness{{Key: w1, URL: "http://127.0.0.1:9"}}, 0, -time.Second, "WitnessTimeout is negative"},
		{"not a URL", []tlog.Witness{{Key: w1, URL: "127.0.0.1:9"}}, 0, 0, `Witnesses[0].URL "127.0.0.1:9" is not an http or https URL`},
		{"not a key", []tlog.Witness{{Key: w1, URL: "http://127.0.0.1:9"}, {Key: "w2", URL: "http://127.0.0.1:10"}}, 0, 0, `Witnesses[1].Key "w2" is not a cosignature verifier key`},
		{"same URL twice", []tlog.Witness{{Key: w1, URL: "http://127.0.0.1:9"}, {Key: w2, URL: "http://127.0.0.1:9"}}, 0, 0, "Witnesses[1] repeats the URL or key"},
		{"same key twice", []tlog.Witness{{Key: w1, URL: "http://127.0.0.1:9"}, {Key: w1, URL: "http://127.0.0.1:10"}}, 0, 0, "Witnesses[1] repeats the URL or key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "log")
			_, err := tlog.Open(t.Context(), tlog.Config{Dir: dir, Signer: signer,
				Witnesses: c.witnesses, WitnessesRequired: c.required, WitnessTimeout: c.timeout})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open: %v, want an error saying %q", err, c.want)
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("a refused configuration created the log's directory (%v)", err)
			}
		})
	}
}
