package isp_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/docket-project/docket/node/isp"
	"github.com/docket-project/docket/node/policy"
	"github.com/docket-project/docket/protocol"
)

// TestCodesMatchSpec checks that Codes are exactly the codes of the table
// in SPEC.md §13.3, in the same order, and that none is a code of §8 or
// §11.5.
func TestCodesMatchSpec(t *testing.T) {
	t.Parallel()
	text, err := os.ReadFile("../../spec/SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(text), "\n### 13.3 ")
	if !ok {
		t.Fatal("SPEC.md has no §13.3")
	}
	section, _, _ = strings.Cut(section, "\n#")
	var theirs []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		theirs = append(theirs, m[1])
	}
	var ours []string
	for _, c := range isp.Codes {
		ours = append(ours, string(c))
		if slices.Contains(protocol.Codes, protocol.Code(c)) || slices.Contains(policy.Codes, policy.Code(c)) {
			t.Errorf("%s is also a protocol or policy code", c)
		}
	}
	if !slices.Equal(ours, theirs) {
		t.Fatalf("isp.Codes and SPEC.md §13.3 differ:\nisp:  %v\nspec: %v", ours, theirs)
	}
}
