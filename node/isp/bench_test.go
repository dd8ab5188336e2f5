package isp_test

import (
	"log/slog"
	"testing"
	"time"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/node/isp"
	"github.com/docket-project/docket/protocol"
)

// BenchmarkSubmit measures the decision on an assertion that is applied:
// every verification step, the log proof, the policy, the dry-run backend
// and the store's durable commit. It reports the time per decision as a
// multiple of protocol.Verifier.Verify on the same bundle (x-verify), the
// cryptographic work an ISP cannot avoid, measured in the same run.
// Each iteration needs a new logged assertion, so run it with a fixed
// count: go test -run '^$' -bench Submit -benchtime 300x ./node/isp/
func BenchmarkSubmit(b *testing.B) {
	fx := newFixture(b)
	fx.logger = slog.New(slog.DiscardHandler)
	n := fx.start(b)
	fulls := make([][]byte, b.N)
	for i := range b.N {
		fulls[i], _ = fx.build(b, claim{})
	}
	proofs := proveAll(b, fx.log, fulls...)
	subs := make([]isp.Submission, b.N)
	for i := range b.N {
		subs[i] = isp.Submission{Bundle: ownBundle(b, fulls[i]), Chain: [][]byte{fx.grant}, Proof: proofs[i]}
	}

	// The floor: the protocol's verification of one bundle as isp-a.
	v := protocol.NewVerifier([]*sign.PublicKey{fx.registrar.Public()}, protocol.WithPermittedPrefixes(labPermits...))
	chain := must(v.VerifyChain([][]byte{fx.grant}, fx.clock.Now()))
	self := &protocol.ISP{Name: ispName, Region: ispRegion, Identity: fx.ours}
	const rounds = 200
	start := time.Now()
	for range rounds {
		must(v.Verify(subs[0].Bundle, chain, self, fx.clock.Now()))
	}
	floor := time.Since(start) / rounds

	b.ResetTimer()
	for i := range b.N {
		d, err := n.p.Submit(b.Context(), subs[i])
		if err != nil || d.Verdict != protocol.VerdictApplied {
			b.Fatalf("submission %d: %+v, %v", i, d, err)
		}
	}
	b.StopTimer()
	per := b.Elapsed() / time.Duration(b.N)
	b.ReportMetric(float64(per)/float64(floor), "x-verify")
	b.ReportMetric(float64(floor.Microseconds()), "verify-µs")
}
