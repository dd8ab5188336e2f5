package logclient_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/docket-project/docket/node/logclient"
	"github.com/docket-project/docket/node/tlog"
)

// The checkpoint and keys of the package documentation.
const (
	docCheckpoint = "docket.example/log\n3\nG5FYsMjG4zK90Z4fpS0UdRm4VHBAl1UZTu/BV+DEBWE=\n\n" +
		"— docket.example/log uTBx75GAmY1rA20Ibd4Pju/c01BbeYcVUtP6iYlLVWVXfwxGRkndWJhOIzUvB5AIiOZE1NtT1h3SnQTd89tHrbSxsAU=\n" +
		"— witness1.example nGJYwgAAAABrBZB0oczcnTPoIASNG/BnzBLh4TvOAmesfiv9VZJrxKF4BWA8eUajslBcJAf1vkJ7x5eKogqCv2k0vHpjLgVYcra0DQ==\n" +
		"— witness2.example LBk8tgAAAABrBZB0sb4Dtc5jSk9znHBd5sR9AH1a5jMRdRfdWesKN2aSHy+Qm7empRJ9BAahZpWxsuKuES+ikBci0bULCbEt36BFAA==\n"
	docLogKey   = "docket.example/log+b93071ef+AZDmxfUlt8pQ0jEsDz654d+UHbPB+cjCbYnuQFZA/fE3"
	docWitness1 = "witness1.example+9c6258c2+BFhT+y21KfikhFtHoi8r0EWUrS8z899pZ0Nt4dZe2Mcl"
	docWitness2 = "witness2.example+2c193cb6+BF8cWbebZ8HYRfTGk7N/YkWHeq9n795Lw7qroKtkFeis"
)

func ExampleVerifier_Open() {
	v, err := logclient.NewVerifier(docLogKey, []string{docWitness1, docWitness2}, 2)
	if err != nil {
		panic(err)
	}
	cp, err := v.Open([]byte(docCheckpoint))
	if err != nil {
		panic(err)
	}
	fmt.Println(cp.Origin, cp.Size, cp.Hash)
	for _, c := range cp.Cosignatures {
		fmt.Println("cosigned by", c.Name, "at", c.Time)
	}
	// Output:
	// docket.example/log 3 G5FYsMjG4zK90Z4fpS0UdRm4VHBAl1UZTu/BV+DEBWE=
	// cosigned by witness1.example at 2026-11-24 13:26:12 +0000 UTC
	// cosigned by witness2.example at 2026-11-24 13:26:12 +0000 UTC
}

// cosigner is a witness key pair, outside any witness.
type cosigner struct {
	signer note.Signer
	vkey   string
}

func newCosigner(t testing.TB, name string) cosigner {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := fnote.NewSignerForCosignatureV1(skey)
	if err != nil {
		t.Fatal(err)
	}
	cvkey, err := fnote.VKeyToCosignatureV1(vkey)
	if err != nil {
		t.Fatal(err)
	}
	return cosigner{s, cvkey}
}

func TestOpen(t *testing.T) {
	lk := newLogKey(t)
	w1, w2, w3 := newCosigner(t, "w1.example"), newCosigner(t, "w2.example"), newCosigner(t, "w3.example")
	impostor := newLogKey(t) // the log's name, another key
	root := sumtlog.RecordHash([]byte("entry"))
	text := fmt.Sprintf("%s\n1\n%s\n", origin, root)
	sign := func(text string, signers ...note.Signer) string {
		cp, err := note.Sign(&note.Note{Text: text}, signers...)
		if err != nil {
			t.Fatal(err)
		}
		return string(cp)
	}
	good := sign(text, lk.signer, w1.signer, w2.signer)
	// The log's signature line with one bit of its signature changed.
	lines := strings.Split(good, "\n")
	for i, l := range lines {
		if b64, ok := strings.CutPrefix(l, "— "+origin+" "); ok {
			sig, err := base64.StdEncoding.DecodeString(b64)
			if err != nil {
				t.Fatal(err)
			}
			sig[len(sig)-1] ^= 1
			lines[i] = "— " + origin + " " + base64.StdEncoding.EncodeToString(sig)
		}
	}
	tampered := strings.Join(lines, "\n")
	empty := sha256.Sum256(nil)

	for _, c := range []struct {
		name     string
		cp       string
		required int
		want     error // nil: accepted
		cosigs   int
	}{
		{"log and two witnesses, 2 required", good, 2, nil, 2},
		{"log and two witnesses, 0 required", good, 0, nil, 2},
		{"log and one witness, 2 required", sign(text, lk.signer, w1.signer), 2, &logclient.QuorumError{}, 0},
		{"log and one witness twice, 2 required", sign(text, lk.signer, w1.signer) + "— " + strings.SplitN(sign(text, w1.signer), "— ", 2)[1], 2, &logclient.QuorumError{}, 0},
		{"log, one trusted and one unknown witness, 2 required", sign(text, lk.signer, w1.signer, w3.signer), 2, &logclient.QuorumError{}, 0},
		{"log and unknown witness, 0 required", sign(text, lk.signer, w3.signer), 0, nil, 0},
		{"witnesses only", sign(text, w1.signer, w2.signer), 0, logclient.ErrNotSigned, 0},
		{"another key of the log's name", sign(text, impostor.signer, w1.signer, w2.signer), 0, logclient.ErrNotSigned, 0},
		{"log signature altered", tampered, 0, logclient.ErrBadSignature, 0},
		{"not a note", "docket.example/log\n1\n", 0, logclient.ErrMalformed, 0},
		{"over the size limit", good + strings.Repeat("— x.example AAAAAAAA\n", logclient.MaxCheckpointSize/20), 0, logclient.ErrMalformed, 0},
		{"another origin", sign(fmt.Sprintf("docket.example/other\n1\n%s\n", root), lk.signer), 0, logclient.ErrWrongOrigin, 0},
		{"size with a leading zero", sign(fmt.Sprintf("%s\n01\n%s\n", origin, root), lk.signer), 0, logclient.ErrMalformed, 0},
		{"size with a sign", sign(fmt.Sprintf("%s\n+1\n%s\n", origin, root), lk.signer), 0, logclient.ErrMalformed, 0},
		{"size over int64", sign(fmt.Sprintf("%s\n9223372036854775808\n%s\n", origin, root), lk.signer), 0, logclient.ErrMalformed, 0},
		{"hash of 31 bytes", sign(fmt.Sprintf("%s\n1\n%s\n", origin, base64.StdEncoding.EncodeToString(root[:31])), lk.signer), 0, logclient.ErrMalformed, 0},
		{"hash in URL base64", sign(fmt.Sprintf("%s\n1\n%s\n", origin, base64.URLEncoding.EncodeToString(make([]byte, 31))+"_w=="), lk.signer), 0, logclient.ErrMalformed, 0},
		{"no hash line", sign(fmt.Sprintf("%s\n1\n", origin), lk.signer), 0, logclient.ErrMalformed, 0},
		{"empty extension line", sign(text+"\n", lk.signer), 0, logclient.ErrMalformed, 0},
		{"extension line", sign(text+"ext\n", lk.signer), 0, nil, 0},
		{"empty tree", sign(fmt.Sprintf("%s\n0\n%s\n", origin, base64.StdEncoding.EncodeToString(empty[:])), lk.signer), 0, nil, 0},
		{"empty tree with another root", sign(fmt.Sprintf("%s\n0\n%s\n", origin, root), lk.signer), 0, logclient.ErrMalformed, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			v, err := logclient.NewVerifier(lk.vkey, []string{w1.vkey, w2.vkey}, c.required)
			if err != nil {
				t.Fatal(err)
			}
			cp, err := v.Open([]byte(c.cp))
			var quorum *logclient.QuorumError
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("Open: %v", err)
			case c.want == nil:
				if len(cp.Cosignatures) != c.cosigs || cp.Origin != origin || string(cp.Note) != c.cp {
					t.Errorf("Open: %d cosignatures, origin %q", len(cp.Cosignatures), cp.Origin)
				}
			case errors.As(c.want, &quorum):
				if !errors.As(err, &quorum) || quorum.Have != 1 || quorum.Need != 2 {
					t.Errorf("Open: %v, want a *QuorumError with 1 of 2", err)
				}
			case !errors.Is(err, c.want):
				t.Errorf("Open: %v, want %v", err, c.want)
			}
		})
	}
}

func TestNewVerifier(t *testing.T) {
	lk := newLogKey(t)
	w1, w2 := newCosigner(t, "w1.example"), newCosigner(t, "w2.example")
	for _, c := range []struct {
		name     string
		logKey   string
		wkeys    []string
		required int
	}{
		{"bad log key", "docket.example/log+00000000+AAAA", nil, 0},
		{"witness key as the log key", w1.vkey, nil, 0},
		{"bad witness key", lk.vkey, []string{"w1.example+00000000+AAAA"}, 0},
		{"witness key twice", lk.vkey, []string{w1.vkey, w2.vkey, w1.vkey}, 1},
		{"more required than witnesses", lk.vkey, []string{w1.vkey, w2.vkey}, 3},
		{"negative required", lk.vkey, []string{w1.vkey}, -1},
	} {
		if _, err := logclient.NewVerifier(c.logKey, c.wkeys, c.required); err == nil {
			t.Errorf("NewVerifier with %s succeeded", c.name)
		}
	}
	v, err := logclient.NewVerifier(lk.vkey, []string{w1.vkey, w2.vkey}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if v.Origin() != origin || v.Required() != 1 {
		t.Errorf("Origin %q, Required %d", v.Origin(), v.Required())
	}
}

func TestVerifyProofRejects(t *testing.T) {
	lk := newLogKey(t)
	w1 := newCosigner(t, "w1.example")
	// A tree of two entries, built with x/mod/sumdb/tlog.
	entries := [][]byte{[]byte("entry 0"), []byte("entry 1")}
	hashes := []sumtlog.Hash{sumtlog.RecordHash(entries[0]), sumtlog.RecordHash(entries[1])}
	root := sumtlog.NodeHash(hashes[0], hashes[1])
	cp, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n2\n%s\n", origin, root)}, lk.signer, w1.signer)
	if err != nil {
		t.Fatal(err)
	}
	good := &tlog.Proof{Index: 1, Checkpoint: string(cp), Inclusion: [][]byte{hashes[0][:]}}
	v, err := logclient.NewVerifier(lk.vkey, []string{w1.vkey}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyProof(good, entries[1]); err != nil {
		t.Fatalf("VerifyProof: %v", err)
	}
	strict, err := logclient.NewVerifier(lk.vkey, []string{w1.vkey, newCosigner(t, "w2.example").vkey}, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		p     *tlog.Proof
		entry []byte
		v     *logclient.Verifier
		want  error
	}{
		{"another entry", good, entries[0], v, logclient.ErrInclusion},
		{"another index", &tlog.Proof{Index: 0, Checkpoint: good.Checkpoint, Inclusion: good.Inclusion}, entries[1], v, logclient.ErrInclusion},
		{"index past the tree", &tlog.Proof{Index: 2, Checkpoint: good.Checkpoint, Inclusion: good.Inclusion}, entries[1], v, logclient.ErrIndexOutOfRange},
		{"short proof hash", &tlog.Proof{Index: 1, Checkpoint: good.Checkpoint, Inclusion: [][]byte{hashes[0][:31]}}, entries[1], v, logclient.ErrInclusion},
		{"extra proof hash", &tlog.Proof{Index: 1, Checkpoint: good.Checkpoint, Inclusion: [][]byte{hashes[0][:], hashes[1][:]}}, entries[1], v, logclient.ErrInclusion},
		{"checkpoint edited", &tlog.Proof{Index: 1, Checkpoint: strings.Replace(good.Checkpoint, "\n2\n", "\n3\n", 1), Inclusion: good.Inclusion}, entries[1], v, logclient.ErrBadSignature},
	} {
		if _, err := c.v.VerifyProof(c.p, c.entry); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
	var quorum *logclient.QuorumError
	if _, err := strict.VerifyProof(good, entries[1]); !errors.As(err, &quorum) {
		t.Errorf("VerifyProof requiring two cosignatures of a checkpoint with one: %v", err)
	}
}
