// Package spec exposes Docket's test vectors (spec/vectors/*.json) to Go
// tests and to other implementations. SPEC.md in this directory is the
// normative specification; README.md in vectors/ describes the vector
// format.
//
// The vectors are made by a generator; do not edit them by hand:
//
//go:generate go run ./internal/genvectors -out vectors
package spec

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"
)

//go:embed vectors
var vectorFiles embed.FS

//go:embed SPEC.md
var specText string

// VectorsFS returns the vector files (vectors/*.json) as a file system.
func VectorsFS() fs.FS {
	sub, err := fs.Sub(vectorFiles, "vectors")
	if err != nil {
		panic(err)
	}
	return sub
}

// Vector is one test vector: the inputs of one verification and its
// expected outcome.
type Vector struct {
	// Name is the file name without ".json".
	Name string `json:"-"`
	// Description says what the vector tests.
	Description string `json:"description"`
	// Kind is what to verify: "credential" (the chain), "assertion" (chain
	// then assertion, opened by ISP if given), "revocation",
	// "announcement" or "receipt" (no chain: the ISP keys).
	Kind string `json:"kind"`
	// Expect is "accept" or the error code verification must return.
	Expect string `json:"expect"`
	// Now is the verifier's current time.
	Now time.Time `json:"now"`
	// Registrars are the trusted registrar public keys, PEM.
	Registrars []string `json:"registrars"`
	// PermittedPrefixes are non-global prefixes the verifier accepts.
	PermittedPrefixes []string `json:"permitted_prefixes,omitempty"`
	// MaxLife overrides the verifier's maximum assertion life (Go duration).
	MaxLife string `json:"max_life,omitempty"`
	// Seen lists assertion ids already accepted.
	Seen []string `json:"seen,omitempty"`
	// Revocations are revocation envelopes to verify against the chain and
	// apply before the main verification; each must verify.
	Revocations []string `json:"revocations,omitempty"`
	// Chain is the credential chain, root first: the exact envelope bytes.
	Chain []string `json:"chain"`
	// Assertion is the assertion envelope's exact bytes (kind "assertion").
	Assertion string `json:"assertion,omitempty"`
	// Revocation is the revocation envelope's exact bytes (kind
	// "revocation").
	Revocation string `json:"revocation,omitempty"`
	// ISP is the verifying ISP (kind "assertion"); absent for a public
	// verification.
	ISP *VectorISP `json:"isp,omitempty"`
	// ISPKeys are the ISP signing keys the verifier trusts, PEM (kinds
	// "announcement" and "receipt"; a receipt is verified with the first).
	ISPKeys []string `json:"isp_keys,omitempty"`
	// Announcement is the announcement envelope's exact bytes (kind
	// "announcement").
	Announcement string `json:"announcement,omitempty"`
	// Receipt is the receipt envelope's exact bytes (kind "receipt").
	Receipt string `json:"receipt,omitempty"`
}

// VectorISP is the verifying ISP of a vector.
type VectorISP struct {
	Name   string `json:"name"`
	Region string `json:"region"`
	// Identity is the ISP's age identity ("AGE-SECRET-KEY-1...").
	Identity string `json:"identity"`
}

// Kinds of vectors.
const (
	KindCredential   = "credential"
	KindAssertion    = "assertion"
	KindRevocation   = "revocation"
	KindAnnouncement = "announcement"
	KindReceipt      = "receipt"
)

// ExpectAccept is the Expect value of a vector that must verify.
const ExpectAccept = "accept"

// Vectors reads and returns every vector, sorted by name.
func Vectors() ([]Vector, error) {
	fsys := VectorsFS()
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, fmt.Errorf("failed to list vectors: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("failed to list vectors: none found")
	}
	out := make([]Vector, 0, len(names))
	for _, name := range names {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("failed to read vector %s: %w", name, err)
		}
		var v Vector
		dec := json.NewDecoder(strings.NewReader(string(data)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("failed to parse vector %s: %w", name, err)
		}
		v.Name = strings.TrimSuffix(path.Base(name), ".json")
		switch v.Kind {
		case KindCredential, KindAssertion, KindRevocation, KindAnnouncement, KindReceipt:
		default:
			return nil, fmt.Errorf("vector %s: unknown kind %q", name, v.Kind)
		}
		out = append(out, v)
	}
	return out, nil
}

// Codes returns the error codes of SPEC.md §8, in the order of its table.
// Runners use it to reject a vector expecting a code they do not know.
func Codes() []string {
	_, rest, _ := strings.Cut(specText, "\n## 8. Error codes\n")
	section, _, _ := strings.Cut(rest, "\n## ")
	var codes []string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		code, _, ok := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
		if ok {
			codes = append(codes, code)
		}
	}
	return codes
}
