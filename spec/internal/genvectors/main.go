// Command genvectors writes Docket's test vectors (spec/vectors/*.json).
//
// Run it with `go generate ./spec/...`. Signing keys are derived from fixed
// seeds so that key ids are stable; salts, age ciphertexts and ISP
// identities are fresh on every run. Each vector is made the way an
// attacker or a buggy peer would make it: by building a valid object and
// then changing it, re-signing where the attack needs a valid signature.
package main

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	jsonv2 "github.com/go-json-experiment/json"

	"github.com/docket-project/docket/crypto/dsse"
	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
	"github.com/docket-project/docket/spec"
)

var now = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

const (
	contentV1 = protocol.ContentID("btih:c9e15763f722f23e98a29decdfae341b98d53056")
	otherV1   = protocol.ContentID("btih:0123456789abcdef0123456789abcdef01234567")
	fileV2    = protocol.ContentID("bt2file:5f4dcc3b5aa765d61d8327deb882cf99e1b4b3e0c7d1a3f2a9e8d7c6b5a49382")
	swarmV2   = protocol.ContentID("btmh:1220d8f0c1b2a39485766758493a2b1c0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c")
)

// lab is the set of documentation prefixes the vectors' peers live in; the
// vectors permit them explicitly since they are not global unicast.
var lab = []string{"198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32"}

type isp struct {
	name, region string
	id           *age.X25519Identity
	prefixes     []netip.Prefix
}

type world struct {
	registrar, rogue, holder, agent *sign.PrivateKey
	ispA, ispB, ispC                *isp
	cred, deleg                     []byte
	credID, delegID                 protocol.ID
	dir                             protocol.Directory
	vectors                         map[string]spec.Vector
}

func main() {
	out := flag.String("out", "vectors", "directory to write the vectors to")
	flag.Parse()
	w := generate()
	if err := w.write(*out); err != nil {
		log.Fatal(err)
	}
}

// generate makes every vector.
func generate() *world {
	w := newWorld()
	w.credentialVectors()
	w.revocationVectors()
	w.assertionVectors()
	w.announcementVectors()
	w.receiptVectors()
	return w
}

func must[T any](v T, err error) T {
	if err != nil {
		log.Fatal(err)
	}
	return v
}

func edKey(label string) *sign.PrivateKey {
	seed := sha256.Sum256([]byte("docket vector key: " + label))
	return must(sign.NewPrivateKey(ed25519.NewKeyFromSeed(seed[:])))
}

func p256Key(label string) *sign.PrivateKey {
	scalar := sha256.Sum256([]byte("docket vector key: " + label))
	k := must(ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar[:]))
	return must(sign.NewPrivateKey(k))
}

func newISP(name, region string, prefixes ...string) *isp {
	i := &isp{name: name, region: region, id: must(seal.GenerateIdentity())}
	for _, p := range prefixes {
		i.prefixes = append(i.prefixes, netip.MustParsePrefix(p))
	}
	return i
}

func newWorld() *world {
	w := &world{
		registrar: edKey("registrar"),
		rogue:     edKey("rogue"),
		holder:    p256Key("holder"),
		agent:     edKey("agent"),
		ispA:      newISP("isp-a", "DE", "198.51.100.0/25", "10.0.0.0/8"),
		ispB:      newISP("isp-b", "FR", "198.51.100.128/25", "2001:db8::/32"),
		ispC:      newISP("isp-c", "IT", "203.0.113.0/24"),
		vectors:   map[string]spec.Vector{},
	}
	for _, i := range []*isp{w.ispA, w.ispB, w.ispC} {
		w.dir.ISPs = append(w.dir.ISPs, protocol.DirectoryEntry{
			Name: i.name, Region: i.region, Recipient: i.id.Recipient().String(), Prefixes: i.prefixes,
		})
	}
	w.cred, w.credID = w.issue(w.registrar, w.baseCredential())
	w.deleg, w.delegID = w.issue(w.holder, w.baseDelegation())
	return w
}

func (w *world) baseCredential() protocol.Credential {
	return protocol.Credential{
		Subject: protocol.Subject{Name: "Example Records GmbH", PublicKey: w.holder.Public().DER()},
		Works: []protocol.Work{{
			ID: "isrc-de-a12-26-00001", Title: "Night Trains (album)",
			Content: []protocol.ContentID{contentV1, fileV2},
		}},
		Scope:     protocol.Scope{ISPs: []string{"isp-a", "isp-b"}, Regions: []string{"IT"}},
		NotBefore: now.AddDate(0, -1, 0),
		NotAfter:  now.AddDate(0, 11, 0),
	}
}

func (w *world) baseDelegation() protocol.Credential {
	return protocol.Credential{
		Parent:  w.credID,
		Subject: protocol.Subject{Name: "Anti-Piracy Agent Ltd", PublicKey: w.agent.Public().DER()},
		Works: []protocol.Work{{
			ID: "isrc-de-a12-26-00001", Title: "Night Trains (album)",
			Content: []protocol.ContentID{contentV1},
		}},
		Scope:     protocol.Scope{ISPs: []string{"isp-a"}},
		NotBefore: now.AddDate(0, 0, -7),
		NotAfter:  now.AddDate(0, 3, 0),
	}
}

func (w *world) issue(key *sign.PrivateKey, c protocol.Credential) ([]byte, protocol.ID) {
	env, id, err := protocol.IssueCredential(key, c)
	if err != nil {
		log.Fatalf("failed to issue credential: %v", err)
	}
	return env, id
}

// signRaw signs payload as-is: for objects the builders would refuse.
func signRaw(key *sign.PrivateKey, payloadType string, payload []byte) []byte {
	return must(dsse.Sign(key, payloadType, payload))
}

func marshal(v any) []byte { return must(jsonv2.Marshal(v, jsonv2.Deterministic(true))) }

// signCredential signs c without validating it, with Issuer set to key.
func signCredential(key *sign.PrivateKey, c protocol.Credential) []byte {
	c.Issuer = key.Public().ID()
	return signRaw(key, protocol.CredentialType, marshal(&c))
}

func pem(k *sign.PrivateKey) string { return string(must(k.Public().MarshalPEM())) }

// base returns a vector with the common trust settings.
func (w *world) base(kind, expect, description string) spec.Vector {
	return spec.Vector{
		Description:       description,
		Kind:              kind,
		Expect:            expect,
		Now:               now,
		Registrars:        []string{pem(w.registrar)},
		PermittedPrefixes: lab,
		Chain:             []string{string(w.cred)},
	}
}

func (w *world) add(name string, v spec.Vector) {
	if _, dup := w.vectors[name]; dup {
		log.Fatalf("vector %s defined twice", name)
	}
	w.vectors[name] = v
}

func (w *world) write(dir string) error {
	old, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	for name, v := range w.vectors {
		data, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".json"), append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("wrote %d vectors to %s\n", len(w.vectors), dir)
	return nil
}

func ispOf(i *isp) *spec.VectorISP {
	return &spec.VectorISP{Name: i.name, Region: i.region, Identity: i.id.String()}
}

// replaceOnce replaces the first old in s by new, failing if absent.
func replaceOnce(s, old, new string) string {
	if !strings.Contains(s, old) {
		log.Fatalf("replaceOnce: %q not found", old)
	}
	return strings.Replace(s, old, new, 1)
}

type signer = *sign.PrivateKey
