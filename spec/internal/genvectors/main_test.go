package main

import (
	"testing"

	"github.com/docket-project/docket/spec"
)

// TestVectorsUpToDate checks that the committed vectors are what the
// generator makes now (names, kinds, expectations, descriptions), so that a
// change to the generator cannot land without regenerating them.
func TestVectorsUpToDate(t *testing.T) {
	committed, err := spec.Vectors()
	if err != nil {
		t.Fatal(err)
	}
	fresh := generate().vectors
	for _, c := range committed {
		f, ok := fresh[c.Name]
		if !ok {
			t.Errorf("committed vector %s is no longer generated", c.Name)
			continue
		}
		if f.Kind != c.Kind || f.Expect != c.Expect || f.Description != c.Description {
			t.Errorf("vector %s: committed %s/%s %q, generator makes %s/%s %q", c.Name, c.Kind, c.Expect, c.Description, f.Kind, f.Expect, f.Description)
		}
		delete(fresh, c.Name)
	}
	for name := range fresh {
		t.Errorf("vector %s is generated but not committed: run go generate ./spec/...", name)
	}
}
