package policy

import (
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"

	"github.com/docket-project/docket/protocol"
)

// View is what a rule sees of a verified assertion: the CEL variable a,
// of type policy.View. Field names in CEL are the names in the cel tags,
// e.g. a.claimant, a.grades["handshake"], a.not_after - a.not_before.
type View struct {
	// Claimant is the key id that signed the assertion.
	Claimant string `cel:"claimant"`
	// Registrar is the key id of the registrar that issued the chain's
	// first credential.
	Registrar string `cel:"registrar"`
	// Credential is the id of the claimant's credential, the chain's last.
	Credential string `cel:"credential"`
	// Works are the ids of the claimant credential's works that list the
	// assertion's content id.
	Works []string `cel:"works"`
	// Content is the content id claimed.
	Content string `cel:"content"`
	// Swarm is the infohash of the swarm observed.
	Swarm string `cel:"swarm"`
	// Peers is the number of peers in the swarm.
	Peers int `cel:"peers"`
	// LocalPeers is the number of peers carrying evidence in the ISP's
	// section, before the hard rules.
	LocalPeers int `cel:"local_peers"`
	// Grades counts the local peers by evidence grade. It has a key for
	// each of "verified-transfer", "handshake" and "announced", 0 if no
	// peer has that grade.
	Grades map[string]int `cel:"grades"`
	// ObservedStart and ObservedEnd bound the observation window.
	ObservedStart time.Time `cel:"observed_start"`
	ObservedEnd   time.Time `cel:"observed_end"`
	// NotBefore and NotAfter bound the assertion's validity.
	NotBefore time.Time `cel:"not_before"`
	NotAfter  time.Time `cel:"not_after"`
	// LifeSeconds is not_after − not_before in whole seconds.
	LifeSeconds int `cel:"life_seconds"`
	// Delegated reports whether the claimant holds a delegation (a chain of
	// two credentials) rather than the registrar's grant.
	Delegated bool `cel:"delegated"`
}

// viewOf returns the view of a verified assertion.
func viewOf(va *protocol.VerifiedAssertion) *View {
	a := &va.Assertion
	v := &View{
		Claimant:      string(a.Claimant),
		Registrar:     string(va.Chain.Links[0].Credential.Issuer),
		Credential:    string(a.Credential),
		Works:         []string{},
		Content:       string(a.Content),
		Swarm:         string(a.Swarm),
		Peers:         a.Peers,
		Grades:        map[string]int{},
		ObservedStart: a.Observed.Start,
		ObservedEnd:   a.Observed.End,
		NotBefore:     a.NotBefore,
		NotAfter:      a.NotAfter,
		LifeSeconds:   int(a.NotAfter.Sub(a.NotBefore) / time.Second),
		Delegated:     len(va.Chain.Links) > 1,
	}
	for _, g := range []protocol.Grade{protocol.GradeVerifiedTransfer, protocol.GradeHandshake, protocol.GradeAnnounced} {
		v.Grades[string(g)] = 0
	}
	for _, w := range va.Chain.Leaf().Credential.Works {
		if slices.Contains(w.Content, a.Content) {
			v.Works = append(v.Works, w.ID)
		}
	}
	for _, p := range va.Local() {
		v.LocalPeers++
		v.Grades[string(p.Evidence.Grade)]++
	}
	return v
}

// viewVar is the name of the CEL variable holding the View.
const viewVar = "a"

// ruleCostLimit bounds the evaluation cost of one rule, so that no rule,
// such as a comprehension over a large list, can stall the pipeline.
const ruleCostLimit = 1_000_000

// rule is one compiled CEL expression of Config.Rules.
type rule struct {
	index int
	expr  string
	prg   cel.Program
}

// newEnv returns the CEL environment rules compile in: the standard
// library and the variable a of type policy.View.
func newEnv() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[View](), ext.ParseStructTags(true)),
		cel.Variable(viewVar, cel.ObjectType("policy.View")),
	)
}

// compileRules compiles and type-checks each expression; each must be of
// type bool.
func compileRules(exprs []string) ([]rule, error) {
	if len(exprs) == 0 {
		return nil, nil
	}
	env, err := newEnv()
	if err != nil {
		return nil, fmt.Errorf("failed to set up CEL: %w", err)
	}
	rules := make([]rule, len(exprs))
	for i, expr := range exprs {
		field := fmt.Sprintf("rules[%d]", i)
		ast, iss := env.Compile(expr)
		if iss.Err() != nil {
			return nil, &ConfigError{Field: field, Err: fmt.Errorf("failed to compile %q: %w", expr, iss.Err())}
		}
		if t := ast.OutputType(); !t.IsExactType(types.BoolType) {
			return nil, configErrorf(field, "%q is of type %s, not bool", expr, t)
		}
		prg, err := env.Program(ast, cel.CostLimit(ruleCostLimit))
		if err != nil {
			return nil, &ConfigError{Field: field, Err: fmt.Errorf("failed to plan %q: %w", expr, err)}
		}
		rules[i] = rule{index: i, expr: expr, prg: prg}
	}
	return rules, nil
}

// check evaluates the rule on a view. A rule that fails to evaluate, or
// evaluates to false, denies.
func (r *rule) check(v *View) *Rejection {
	out, _, err := r.prg.Eval(map[string]any{viewVar: v})
	switch {
	case err != nil:
		return reject(CodePolicyDenied, "rules[%d] %q failed: %v", r.index, r.expr, err)
	case out != types.True:
		return reject(CodePolicyDenied, "rules[%d] %q does not hold", r.index, r.expr)
	}
	return nil
}
