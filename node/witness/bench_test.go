package witness_test

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/docket-project/docket/node/witness"
)

// BenchmarkAddCheckpoint measures one add-checkpoint round trip over HTTP
// on loopback: parse, the log's signature, the consistency proof, the
// cosignature and the durable write of the state, each request one entry
// further than the last. The request bodies are made before the timer
// starts.
func BenchmarkAddCheckpoint(b *testing.B) {
	l, lv := newMemLog(b, origin)
	tw := newTestWitness(b, witness.Log{Origin: origin, Verifier: lv})
	const batch = 1000
	l.append(b, "entry", 1)
	tw.cosign(b, l, lv, 0, 1)
	l.append(b, "entry", batch)
	bodies := make([][]byte, batch)
	for i := range bodies {
		bodies[i] = request(int64(i+1), l.proof(b, int64(i+1), int64(i+2)), l.checkpoint(b, int64(i+2)))
	}
	client := &http.Client{}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if i == batch {
			b.StopTimer()
			// Start over with a fresh witness: the bodies assume its state.
			tw = newTestWitness(b, witness.Log{Origin: origin, Verifier: lv})
			tw.cosign(b, l, lv, 0, 1)
			i = 0
			b.StartTimer()
		}
		resp, err := client.Post(tw.url+"/add-checkpoint", "text/plain", bytes.NewReader(bodies[i]))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("add-checkpoint: %s", resp.Status)
		}
		i++
	}
}
