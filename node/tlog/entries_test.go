package tlog_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/docket-project/docket/node/tlog"
	"github.com/docket-project/docket/protocol"
)

// TestPartLayout checks the part entries of records of the sizes around
// PartSize and up to the largest sealed section against the layout of
// spec/SPEC.md §14.2, and that ParsePart and Assembler read them back.
func TestPartLayout(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, tlog.PartSize - 1, tlog.PartSize, tlog.PartSize + 1, 100000, 2*tlog.PartSize + 7, protocol.MaxSectionSealed} {
		record := make([]byte, size)
		_, _ = rand.Read(record)
		digest := sha256.Sum256(record)
		entries := tlog.Parts(tlog.RecordSection, record)
		if want := (size + tlog.PartSize - 1) / tlog.PartSize; len(entries) != want {
			t.Fatalf("record of %d bytes has %d parts, want %d", size, len(entries), want)
		}
		var a tlog.Assembler
		var got []byte
		// Add the parts in a shuffled order, each twice.
		order := mrand.Perm(len(entries))
		order = append(order, order...)
		for _, i := range order {
			e := entries[i]
			if len(e) > tlog.MaxEntrySize {
				t.Fatalf("part %d of a record of %d bytes is %d bytes, more than an entry", i, size, len(e))
			}
			// magic, kind, digest, size, number, data
			var header []byte
			header = append(header, "docket-part-v1\x00\x02"...)
			header = append(header, digest[:]...)
			header = binary.BigEndian.AppendUint32(header, uint32(size))
			header = binary.BigEndian.AppendUint16(header, uint16(i))
			data := record[i*tlog.PartSize : min((i+1)*tlog.PartSize, size)]
			if !bytes.Equal(e, append(header, data...)) {
				t.Fatalf("part %d of a record of %d bytes does not follow the layout", i, size)
			}
			p, err := tlog.ParsePart(e)
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != tlog.RecordSection || p.Digest != digest || p.Size != size || p.Number != i || !bytes.Equal(p.Data, data) {
				t.Fatalf("ParsePart of part %d of %d bytes: %v %d %d", i, size, p.Kind, p.Size, p.Number)
			}
			r, err := a.Add(p)
			if err != nil {
				t.Fatal(err)
			}
			if r != nil {
				if got != nil {
					t.Fatalf("record of %d bytes completed twice", size)
				}
				got = r
			}
		}
		if !bytes.Equal(got, record) {
			t.Fatalf("assembled record of %d bytes differs", size)
		}
		if a.Pending() != 0 {
			t.Errorf("%d records pending after every part was added", a.Pending())
		}
	}
}

// The example of spec/SPEC.md §14.2: a section of 100 000 bytes.
func TestPartSpecExample(t *testing.T) {
	t.Parallel()
	record := bytes.Repeat([]byte{0xa5}, 100000)
	d := sha256.Sum256(record)
	entries := tlog.Parts(tlog.RecordSection, record)
	want := []string{"02" + hex.EncodeToString(d[:]) + "000186a0" + "0000", "02" + hex.EncodeToString(d[:]) + "000186a0" + "0001"}
	if len(entries) != 2 {
		t.Fatalf("%d parts, want 2", len(entries))
	}
	for i, e := range entries {
		if got := hex.EncodeToString(e[15:54]); got != want[i] {
			t.Errorf("part %d header %s, want %s", i, got, want[i])
		}
	}
	if n := len(entries[1]) - 54; n != 35488 {
		t.Errorf("second part carries %d bytes, want 35 488", n)
	}
}

func TestParsePartRejects(t *testing.T) {
	t.Parallel()
	record := make([]byte, tlog.PartSize+10)
	good := tlog.Parts(tlog.RecordObject, record)
	edit := func(e []byte, at int, b ...byte) []byte {
		e = bytes.Clone(e)
		copy(e[at:], b)
		return e
	}
	for name, e := range map[string][]byte{
		"truncated header":     good[0][:53],
		"unknown kind":         edit(good[0], 15, 3),
		"zero size":            edit(good[0], 48, 0, 0, 0, 0),
		"number past the end":  edit(good[1], 52, 0, 2),
		"short first part":     good[0][:len(good[0])-1],
		"long last part":       append(bytes.Clone(good[1]), 0),
		"last part as first":   edit(good[1], 52, 0, 0),
		"size beyond any part": edit(good[0], 48, 0xff, 0xff, 0xff, 0xff),
	} {
		if _, err := tlog.ParsePart(e); err == nil || errors.Is(err, tlog.ErrNotPart) {
			t.Errorf("%s: ParsePart: %v, want an error other than ErrNotPart", name, err)
		}
	}
	if _, err := tlog.ParsePart([]byte(`{"payloadType":"x"}`)); !errors.Is(err, tlog.ErrNotPart) {
		t.Errorf("an object entry: %v, want ErrNotPart", err)
	}

	// A record whose bytes do not have the digest its parts name.
	var a tlog.Assembler
	p0, _ := tlog.ParsePart(good[0])
	p1, _ := tlog.ParsePart(edit(good[1], 54, 1))
	if _, err := a.Add(p0); err != nil {
		t.Fatal(err)
	}
	if r, err := a.Add(p1); err == nil {
		t.Errorf("Assembler accepted a record of %d bytes with the wrong digest", len(r))
	}
}

// TestSpecLayout: spec/SPEC.md §14.2 gives the part size and header of
// this package.
func TestSpecLayout(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile("../../spec/SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(text), "\n## 14. Log entries\n")
	if !ok {
		t.Fatal("SPEC.md has no §14")
	}
	header := len(tlog.Parts(tlog.RecordObject, []byte{1})[0]) - 1
	for _, want := range []string{
		fmt.Sprintf("`PartSize` = %d %03d bytes", tlog.PartSize/1000, tlog.PartSize%1000),
		fmt.Sprintf("behind a %d-byte header", header),
		fmt.Sprintf("at most %d %03d bytes", tlog.MaxEntrySize/1000, tlog.MaxEntrySize%1000),
		`magic  = "docket-part-v1" 0x00`,
	} {
		if !strings.Contains(section, want) {
			t.Errorf("SPEC.md §14 does not say %q", want)
		}
	}
}
