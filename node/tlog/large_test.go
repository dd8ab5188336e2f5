package tlog_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"
	sumtlog "golang.org/x/mod/sumdb/tlog"

	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// partHeader is the length of a part entry's header, by the spec's layout:
// magic "docket-part-v1" 0x00, kind, SHA-256, 4-byte size, 2-byte number.
const partHeader = 15 + 1 + 32 + 4 + 2

// wireBundle decodes a bundle with encoding/json, independently of
// protocol: json.RawMessage keeps the envelope's exact bytes.
type wireBundle struct {
	Envelope json.RawMessage `json:"envelope"`
	Sealed   []struct {
		ISP  string `json:"isp"`
		Data []byte `json:"data"`
	} `json:"sealed"`
}

// readRecord reads the entries at indexes from the log's entry bundles and
// reassembles a record stored in parts by the spec's layout, checking
// every header: kind, digest, size and numbering.
func (tl *testLog) readRecord(t *testing.T, n int64, kind byte, indexes []uint64) []byte {
	t.Helper()
	var record []byte
	var digest []byte
	size := -1
	for i, index := range indexes {
		e := tl.entry(t, n, index)
		if !bytes.HasPrefix(e, []byte("docket-part-v1\x00")) || len(e) < partHeader || len(e) > tlog.MaxEntrySize {
			t.Fatalf("entry %d is not a part entry of at most %d bytes", index, tlog.MaxEntrySize)
		}
		h := e[15:partHeader]
		if h[0] != kind {
			t.Fatalf("part %d has kind %d, want %d", i, h[0], kind)
		}
		if digest == nil {
			digest, size = h[1:33], int(binary.BigEndian.Uint32(h[33:]))
		} else if !bytes.Equal(digest, h[1:33]) || size != int(binary.BigEndian.Uint32(h[33:])) {
			t.Fatalf("part %d names another record", i)
		}
		if num := int(binary.BigEndian.Uint16(h[37:])); num != i {
			t.Fatalf("part %d is numbered %d", i, num)
		}
		if i < len(indexes)-1 && len(e)-partHeader != tlog.PartSize {
			t.Fatalf("part %d of %d carries %d bytes, want %d", i, len(indexes), len(e)-partHeader, tlog.PartSize)
		}
		record = append(record, e[partHeader:]...)
	}
	if len(record) != size {
		t.Fatalf("record has %d bytes, its parts say %d", len(record), size)
	}
	if sum := sha256.Sum256(record); !bytes.Equal(sum[:], digest) {
		t.Fatal("record does not have the digest its parts name")
	}
	return record
}

// splitProof returns the indexes a proof gives, in order.
func splitProof(p tlog.Proof) []uint64 {
	out := []uint64{p.Index}
	for _, e := range p.More {
		out = append(out, e.Index)
	}
	return out
}

// TestLargeObjects stores objects of every size the spec allows: the log
// keeps each object that fits in one entry whole, longer objects and every
// sealed section in parts, and the proof covers every entry.
func TestLargeObjects(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	o := newObjects(t)
	bigCred, credID := o.bigCredential(t, 240)
	if len(bigCred) <= tlog.MaxEntrySize || len(bigCred) > protocol.MaxCredentialEnvelope {
		t.Fatalf("credential is %d bytes: want more than an entry, at most %d", len(bigCred), protocol.MaxCredentialEnvelope)
	}
	t.Run("credential over 64 KiB", func(t *testing.T) {
		p := tl.submit(t, tlog.KindAuto, bigCred)
		if want := (len(bigCred) + tlog.PartSize - 1) / tlog.PartSize; 1+len(p.More) != want {
			t.Errorf("credential of %d bytes stored in %d entries, want %d", len(bigCred), 1+len(p.More), want)
		}
		n := tl.openCheckpoint(t, []byte(p.Checkpoint)).N
		if got := tl.readRecord(t, n, 1, splitProof(p)); !bytes.Equal(got, bigCred) {
			t.Error("reassembled credential differs from the submission")
		}
	})

	for _, c := range []struct {
		name                 string
		isps, perISP, pieces int
		check                func(t *testing.T, b *wireBundle)
	}{
		// Four sections of about 430 KB: a bundle of 2.3 MB.
		{"bundle of 2 MB", 4, 500, 4, func(t *testing.T, b *wireBundle) {
			for _, s := range b.Sealed {
				if len(s.Data) < 5*tlog.PartSize {
					t.Errorf("section %s is %d bytes, want several parts", s.ISP, len(s.Data))
				}
			}
		}},
		// One section whose plaintext is within 1% of MaxSectionPlaintext:
		// 1,180 peers with 16 piece proofs each.
		{"section near the maximum", 1, 1180, 16, func(t *testing.T, b *wireBundle) {
			if n := len(b.Sealed[0].Data); n < protocol.MaxSectionPlaintext*99/100 || n > protocol.MaxSectionSealed {
				t.Errorf("section is %d bytes, want within 1%% of %d", n, protocol.MaxSectionPlaintext)
			}
		}},
		// 256 sections (MaxSections), each for an ISP with a long name: the
		// envelope alone is over 64 KiB and is stored in parts too.
		{"envelope over 64 KiB", protocol.MaxSections, 1, 1, func(t *testing.T, b *wireBundle) {
			if len(b.Envelope) <= tlog.MaxEntrySize {
				t.Errorf("envelope is %d bytes, want over %d", len(b.Envelope), tlog.MaxEntrySize)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bundle := o.bigAssertion(t, credID, c.isps, c.perISP, c.pieces)
			var b wireBundle
			if err := json.Unmarshal(bundle, &b); err != nil {
				t.Fatal(err)
			}
			c.check(t, &b)
			p := tl.submit(t, tlog.KindAuto, bundle)
			n := tl.openCheckpoint(t, []byte(p.Checkpoint)).N
			indexes := splitProof(p)

			// First the object: the bundle without its sections.
			object := []byte(`{"envelope":` + string(b.Envelope) + `,"sealed":[]}`)
			objectParts := 1
			if len(object) > tlog.MaxEntrySize {
				objectParts = (len(object) + tlog.PartSize - 1) / tlog.PartSize
				if got := tl.readRecord(t, n, 1, indexes[:objectParts]); !bytes.Equal(got, object) {
					t.Fatal("reassembled object differs from the bundle without sections")
				}
			} else if got := tl.entry(t, n, indexes[0]); !bytes.Equal(got, object) {
				t.Fatalf("object entry %.80q…, want the bundle without sections", got)
			}
			// Then each section, in the order the bundle (built in the order
			// of the assertion's sections) carries them.
			rest := indexes[objectParts:]
			for _, s := range b.Sealed {
				k := (len(s.Data) + tlog.PartSize - 1) / tlog.PartSize
				if len(rest) < k {
					t.Fatalf("proof is missing parts of section %s", s.ISP)
				}
				if got := tl.readRecord(t, n, 2, rest[:k]); !bytes.Equal(got, s.Data) {
					t.Fatalf("reassembled section %s differs from the sealed bytes", s.ISP)
				}
				rest = rest[k:]
			}
			if len(rest) != 0 {
				t.Fatalf("proof has %d entries beyond the object and its sections", len(rest))
			}

			// The bundle sent to one ISP (the envelope and that ISP's
			// section) maps to entries already in the log: submitting it
			// appends nothing and proves the same indexes.
			one, err := json.Marshal(map[string]any{"envelope": b.Envelope, "sealed": b.Sealed[len(b.Sealed)-1:]})
			if err != nil {
				t.Fatal(err)
			}
			before := tl.tree(t)
			again := tl.submit(t, tlog.KindAssertion, one)
			last := len(b.Sealed[len(b.Sealed)-1].Data)
			want := append(indexes[:objectParts:objectParts], indexes[len(indexes)-(last+tlog.PartSize-1)/tlog.PartSize:]...)
			if got := splitProof(again); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("one ISP's bundle proved at %v, want %v", got, want)
			}
			if after := tl.tree(t); after.N != before.N {
				t.Errorf("one ISP's bundle grew the log from %d to %d", before.N, after.N)
			}
		})
	}
}

// TestEntriesOrderFree: an assertion's entries do not depend on the order
// or the encoding of the sealed sections in the bundle.
func TestEntriesOrderFree(t *testing.T) {
	t.Parallel()
	o := newObjects(t)
	_, credID := o.credential(t, "Example Films")
	bundle := o.bigAssertion(t, credID, 3, 2, 1)
	var b wireBundle
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	reversed := []any{}
	for i := len(b.Sealed) - 1; i >= 0; i-- {
		reversed = append(reversed, map[string]string{"data": base64.StdEncoding.EncodeToString(b.Sealed[i].Data), "isp": b.Sealed[i].ISP})
	}
	other, err := json.MarshalIndent(map[string]any{"sealed": reversed, "envelope": b.Envelope}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want, err := tlog.Entries(tlog.KindAuto, bundle)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tlog.Entries(tlog.KindAssertion, other)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || len(want) != 4 {
		t.Fatalf("%d and %d entries, want 4: the object and 3 one-part sections", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("entry %d differs between two encodings of one bundle", i)
		}
	}
}

// TestTLogProofFormat reads the c2sp.org/tlog-proof answer with a parser
// written from that spec and verifies it with x/mod/sumdb/tlog.
func TestTLogProofFormat(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	o := newObjects(t)
	cred, credID := o.credential(t, "Example Films")
	tl.submit(t, tlog.KindAuto, cred)
	bundle := o.assertion(t, credID)
	var b wireBundle
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		query         string
		object, entry []byte
	}{
		"credential": {"?format=tlog-proof", cred, cred},
		// The proof of an assertion is the proof of its object, the bundle
		// without sections.
		"assertion": {"?kind=assertion&format=tlog-proof", bundle, []byte(`{"envelope":` + string(b.Envelope) + `,"sealed":[]}`)},
	} {
		t.Run(name, func(t *testing.T) {
			resp, err := testClient.Post(tl.url+"/add"+c.query, "application/octet-stream", bytes.NewReader(c.object))
			if err != nil {
				t.Fatal(err)
			}
			body := readAll(t, resp)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			index, hashes, cp := parseTLogProof(t, body)
			tree := tl.openCheckpoint(t, cp)
			if err := checkRecord(hashes, tree, index, c.entry); err != nil {
				t.Fatal(err)
			}
			if got := tl.entry(t, tree.N, uint64(index)); !bytes.Equal(got, c.entry) {
				t.Fatalf("entry %d is not the object", index)
			}
		})
	}

	t.Run("object in parts", func(t *testing.T) {
		big, _ := o.bigCredential(t, 240)
		before := tl.tree(t)
		resp, err := testClient.Post(tl.url+"/add?format=tlog-proof", "application/octet-stream", bytes.NewReader(big))
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != http.StatusNotAcceptable {
			t.Fatalf("status %d %s, want 406", resp.StatusCode, body)
		}
		if after := tl.tree(t); after != before {
			t.Errorf("a refused tlog-proof request appended entries: %d → %d", before.N, after.N)
		}
	})
	t.Run("unknown format", func(t *testing.T) {
		resp, err := testClient.Post(tl.url+"/add?format=xml", "application/octet-stream", bytes.NewReader(cred))
		if err != nil {
			t.Fatal(err)
		}
		if body := readAll(t, resp); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d %s, want 400", resp.StatusCode, body)
		}
	})
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// parseTLogProof parses a c2sp.org/tlog-proof: the header line, an
// optional "extra" line, "index N", the proof hashes one per line, an
// empty line and the checkpoint verbatim.
func parseTLogProof(t *testing.T, proof []byte) (int64, []sumtlog.Hash, []byte) {
	t.Helper()
	text, cp, ok := strings.Cut(string(proof), "\n\n")
	if !ok {
		t.Fatalf("tlog-proof %q has no empty line", proof)
	}
	lines := strings.Split(text, "\n")
	if lines[0] != "c2sp.org/tlog-proof@v1" {
		t.Fatalf("tlog-proof header %q", lines[0])
	}
	lines = lines[1:]
	if len(lines) > 0 && strings.HasPrefix(lines[0], "extra ") {
		lines = lines[1:]
	}
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "index ") {
		t.Fatalf("tlog-proof %q has no index line", proof)
	}
	digits := strings.TrimPrefix(lines[0], "index ")
	index, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || index < 0 || strconv.FormatInt(index, 10) != digits {
		t.Fatalf("tlog-proof index %q", digits)
	}
	var hashes []sumtlog.Hash
	for _, l := range lines[1:] {
		h, err := base64.StdEncoding.DecodeString(l)
		if err != nil || len(h) != sumtlog.HashSize || base64.StdEncoding.EncodeToString(h) != l {
			t.Fatalf("tlog-proof hash line %q", l)
		}
		hashes = append(hashes, sumtlog.Hash(h))
	}
	return index, hashes, []byte(cp)
}

// checkRecord checks an inclusion proof of entry at index in tree with
// x/mod/sumdb/tlog.
func checkRecord(proof []sumtlog.Hash, tree sumtlog.Tree, index int64, entry []byte) error {
	return sumtlog.CheckRecord(proof, tree.N, tree.Hash, index, sumtlog.RecordHash(entry))
}

// TestProofVerify: Proof.Verify accepts a proof of a submission's entries,
// or of its object's alone, and nothing else.
func TestProofVerify(t *testing.T) {
	t.Parallel()
	tl := newTestLog(t)
	o := newObjects(t)
	_, credID := o.credential(t, "Example Films")
	bundle := o.bigAssertion(t, credID, 2, 3, 1)
	p := tl.submit(t, tlog.KindAuto, bundle)
	entries, err := tlog.Entries(tlog.KindAuto, bundle)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d entries, want the object and two one-part sections", len(entries))
	}
	if _, err := p.Verify(entries, tl.verifier); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(entries[:1], tl.verifier); err != nil {
		t.Fatalf("the object's entry alone: %v", err)
	}
	_, otherKey := newKey(t)
	tampered := p
	tampered.More = append([]tlog.EntryProof(nil), p.More...)
	tampered.More[1].Inclusion = append([][]byte{bytes.Repeat([]byte{1}, 32)}, p.More[1].Inclusion[1:]...)
	for name, c := range map[string]struct {
		p       tlog.Proof
		entries [][]byte
		key     note.Verifier
	}{
		"another log's key":     {p, entries, otherKey},
		"an entry changed":      {p, [][]byte{entries[0], entries[2], entries[1]}, tl.verifier},
		"more entries":          {p, append(entries, entries[0]), tl.verifier},
		"no entry":              {p, nil, tl.verifier},
		"a proof hash replaced": {tampered, entries, tl.verifier},
	} {
		if _, err := c.p.Verify(c.entries, c.key); err == nil {
			t.Errorf("%s: Verify succeeded", name)
		}
	}
}
