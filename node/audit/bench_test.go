package audit_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/docket-project/docket/node/audit"
)

// ed25519Verify returns the time of one Ed25519 verification on this
// machine, now.
func ed25519Verify(b *testing.B) time.Duration {
	b.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	msg := make([]byte, 1024)
	sig := ed25519.Sign(priv, msg)
	const n = 2000
	start := time.Now()
	for range n {
		if !ed25519.Verify(pub, msg, sig) {
			b.Fatal("signature does not verify")
		}
	}
	return time.Since(start) / n
}

// BenchmarkAudit measures the audit of a clean mixed log of about 2,000
// entries (half of them assertions, half their sealed sections), read from
// its directory and over HTTP on loopback: entries/s, and the time per
// signed object (credential, revocation or assertion) as a multiple of one
// Ed25519 verification measured in the same run (x-ed25519).
//
//	go test -run '^$' -bench Audit ./node/audit
func BenchmarkAudit(b *testing.B) {
	m := newMixedLog(b, mixedAssertions(2000), false)
	for _, src := range []struct{ name, source string }{{"dir", m.log.dir}, {"http", m.log.url}} {
		b.Run(src.name, func(b *testing.B) {
			cfg := m.config(src.source)
			var r *audit.Report
			for b.Loop() {
				var err error
				if r, err = audit.Audit(b.Context(), cfg); err != nil {
					b.Fatal(err)
				}
			}
			if len(r.Findings) != 0 {
				b.Fatalf("%d findings in a clean log", len(r.Findings))
			}
			floor := ed25519Verify(b)
			perAudit := b.Elapsed().Seconds() / float64(b.N)
			signed := r.Entries[audit.EntryCredential] + r.Entries[audit.EntryRevocation] + r.Entries[audit.EntryAssertion]
			b.ReportMetric(float64(r.Size)/perAudit, "entries/s")
			b.ReportMetric(perAudit/float64(signed)/floor.Seconds(), "x-ed25519")
		})
	}
}
