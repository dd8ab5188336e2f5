package tlog

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/docket-project/docket/protocol"
)

// A record is what the log keeps of a submission: a signed object (a
// credential or revocation envelope, or an assertion bundle that carries
// no section) or the sealed bytes of one section of an assertion. A record
// of at most MaxEntrySize bytes that is an object is one entry, its bytes
// as they are. Every other record is stored in part entries: see Part.

// PartSize is the largest number of record bytes one part entry carries.
// Every part of a record but the last carries exactly PartSize bytes.
const PartSize = 63 << 10

// partMagic begins every part entry. No object entry begins with it: an
// object is a JSON text, which cannot begin with "d".
const partMagic = "docket-part-v1\x00"

// partHeaderSize is the length of a part entry's header: magic, kind,
// digest, record size and part number.
const partHeaderSize = len(partMagic) + 1 + sha256.Size + 4 + 2

// maxRecord is the largest record the header's fields can describe: 65 536
// parts of PartSize bytes, within the 4-byte record size.
const maxRecord = 1<<16*PartSize - 1

// RecordKind says what a record stored in parts is.
type RecordKind byte

// The kinds of record stored in parts.
const (
	// RecordObject is a signed object longer than MaxEntrySize.
	RecordObject RecordKind = 1
	// RecordSection is the sealed bytes of one section of an assertion, named
	// by the digest that the assertion's signed payload gives it.
	RecordSection RecordKind = 2
)

func (k RecordKind) String() string {
	switch k {
	case RecordObject:
		return "object"
	case RecordSection:
		return "section"
	}
	return fmt.Sprintf("RecordKind(%d)", byte(k))
}

// Part is one part entry: a slice of a record stored in parts. Its
// encoding is
//
//	"docket-part-v1" 0x00 || kind (1 byte) || digest (32 bytes) ||
//	size (4 bytes, big-endian) || number (2 bytes, big-endian) || data
//
// where digest is the SHA-256 of the whole record, size its length in
// bytes, number the part's position from 0, and data the record's bytes
// from number×PartSize, PartSize of them or the rest of the record,
// whichever is fewer. A record of size bytes has ⌈size/PartSize⌉ parts.
type Part struct {
	Kind   RecordKind
	Digest [sha256.Size]byte
	Size   int
	Number int
	Data   []byte
}

// ErrNotPart is returned by ParsePart for an entry that is not a part
// entry: an object stored whole.
var ErrNotPart = errors.New("entry is not a part")

// IsPart reports whether an entry is a part entry rather than an object
// stored whole.
func IsPart(entry []byte) bool { return bytes.HasPrefix(entry, []byte(partMagic)) }

// ParsePart decodes a part entry. It returns ErrNotPart for an entry that
// does not begin as a part does, and another error for a part whose header
// does not agree with its data. The returned Data aliases entry.
func ParsePart(entry []byte) (*Part, error) {
	if !IsPart(entry) {
		return nil, ErrNotPart
	}
	if len(entry) < partHeaderSize {
		return nil, fmt.Errorf("part entry is %d bytes, shorter than its %d-byte header", len(entry), partHeaderSize)
	}
	h := entry[len(partMagic):]
	p := &Part{Kind: RecordKind(h[0])}
	copy(p.Digest[:], h[1:])
	h = h[1+sha256.Size:]
	p.Size = int(binary.BigEndian.Uint32(h))
	p.Number = int(binary.BigEndian.Uint16(h[4:]))
	p.Data = entry[partHeaderSize:]
	if p.Kind != RecordObject && p.Kind != RecordSection {
		return nil, fmt.Errorf("part entry has unknown record kind %d", byte(p.Kind))
	}
	if p.Size == 0 || p.Size > maxRecord {
		return nil, fmt.Errorf("part entry gives a record size of %d bytes", p.Size)
	}
	if n := partCount(p.Size); p.Number >= n {
		return nil, fmt.Errorf("part %d of a record of %d bytes, which has %d parts", p.Number, p.Size, n)
	}
	if want := min(PartSize, p.Size-p.Number*PartSize); len(p.Data) != want {
		return nil, fmt.Errorf("part %d of a record of %d bytes carries %d bytes, want %d", p.Number, p.Size, len(p.Data), want)
	}
	return p, nil
}

// partCount is the number of parts of a record of size bytes.
func partCount(size int) int { return (size + PartSize - 1) / PartSize }

// parts returns the part entries of a record.
func parts(kind RecordKind, record []byte) [][]byte {
	digest := sha256.Sum256(record)
	n := partCount(len(record))
	out := make([][]byte, n)
	for i := range n {
		data := record[i*PartSize : min((i+1)*PartSize, len(record))]
		e := make([]byte, 0, partHeaderSize+len(data))
		e = append(e, partMagic...)
		e = append(e, byte(kind))
		e = append(e, digest[:]...)
		e = binary.BigEndian.AppendUint32(e, uint32(len(record)))
		e = binary.BigEndian.AppendUint16(e, uint16(i))
		out[i] = append(e, data...)
	}
	return out
}

// objectEntries returns the entries of an object record: itself if it
// fits one entry, otherwise its parts.
func objectEntries(object []byte) [][]byte {
	if len(object) <= MaxEntrySize {
		return [][]byte{object}
	}
	return parts(RecordObject, object)
}

// Entries checks one submission as Check does and returns the entries the
// log holds for it, in this order: the entries of its object, then, for an
// assertion bundle, the part entries of each section the bundle carries, in
// the order of the assertion's sections. A credential or revocation is its
// own object. An assertion's object is the bundle that carries its
// envelope and no section, {"envelope":ENVELOPE,"sealed":[]} with the
// envelope's bytes as submitted; its sections are stored beside it, each
// under the SHA-256 digest its signed payload gives.
//
// Entries is a pure function of the submission and the carried sections,
// not of their order or of any other byte of the bundle, so the holder of
// any bundle of an assertion (an ISP holding its own section) can compute
// the entries its bundle maps to and check their inclusion proofs.
func Entries(kind Kind, data []byte) ([][]byte, error) {
	d, err := decode(kind, data)
	if err != nil {
		return nil, err
	}
	return d.entries()
}

// entries returns the entries of a decoded submission, as Entries does.
func (d *decoded) entries() ([][]byte, error) {
	if d.kind != KindAssertion {
		return objectEntries(d.data), nil
	}
	sa := d.assertion
	object, err := protocol.EncodeBundle(sa.RawEnvelope, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to encode assertion object: %w", err)
	}
	entries := objectEntries(object)
	for _, ref := range sa.Assertion.Sections {
		if sealed, ok := sa.Sealed[ref.ISP]; ok {
			entries = append(entries, parts(RecordSection, sealed)...)
		}
	}
	return entries, nil
}

// Assembler puts records stored in parts back together from part entries
// read from the log in any order. The zero Assembler is ready to use; it
// is not safe for concurrent use.
type Assembler struct {
	pending map[partKey]*partial
	done    map[partKey]bool
}

type partKey struct {
	kind   RecordKind
	digest [sha256.Size]byte
	size   int
}

type partial struct {
	data []byte
	have []bool
	left int
}

// Add adds a part. When it completes its record, Add returns the record's
// bytes; otherwise it returns nil. Each record is returned once: a part
// added before, or of a record already returned, is ignored. Add returns an
// error if the record's SHA-256 is not its digest, which a log that
// follows the spec never writes.
func (a *Assembler) Add(p *Part) ([]byte, error) {
	if a.pending == nil {
		a.pending, a.done = map[partKey]*partial{}, map[partKey]bool{}
	}
	k := partKey{p.Kind, p.Digest, p.Size}
	if a.done[k] {
		return nil, nil
	}
	if p.Size <= PartSize {
		a.done[k] = true
		return checkDigest(p, p.Data)
	}
	r := a.pending[k]
	if r == nil {
		n := partCount(p.Size)
		r = &partial{data: make([]byte, p.Size), have: make([]bool, n), left: n}
		a.pending[k] = r
	}
	if r.have[p.Number] {
		return nil, nil
	}
	copy(r.data[p.Number*PartSize:], p.Data)
	r.have[p.Number] = true
	if r.left--; r.left > 0 {
		return nil, nil
	}
	delete(a.pending, k)
	a.done[k] = true
	return checkDigest(p, r.data)
}

// Pending returns the number of records of which some parts, not all, were
// added.
func (a *Assembler) Pending() int { return len(a.pending) }

func checkDigest(p *Part, record []byte) ([]byte, error) {
	if sha256.Sum256(record) != p.Digest {
		return nil, fmt.Errorf("%s record of %d bytes does not have the SHA-256 digest its parts name", p.Kind, p.Size)
	}
	return record, nil
}
