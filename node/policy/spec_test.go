package policy_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/docket-project/docket/node/policy"
)

// TestCodesMatchSpec checks that Codes are exactly the codes of the table
// in SPEC.md §11.5, in the same order.
func TestCodesMatchSpec(t *testing.T) {
	text, err := os.ReadFile("../../spec/SPEC.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(text), "\n### 11.5 ")
	if !ok {
		t.Fatal("SPEC.md has no §11.5")
	}
	section, _, _ = strings.Cut(section, "\n#")
	var theirs []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\|").FindAllStringSubmatch(section, -1) {
		theirs = append(theirs, m[1])
	}
	var ours []string
	for _, c := range policy.Codes {
		ours = append(ours, string(c))
	}
	if !slices.Equal(ours, theirs) {
		t.Fatalf("policy.Codes and SPEC.md §11.5 differ:\npolicy: %v\nspec:   %v", ours, theirs)
	}
}
