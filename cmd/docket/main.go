// Command docket issues credentials, builds and inspects assertions, and
// verifies them offline the way an ISP does.
//
// Run "docket --help" for the verbs and "docket VERB --help" for a verb's
// flags and an example. spec/SPEC.md defines the objects it reads and
// writes; scripts/walkthrough.sh runs every verb end to end.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/docket-project/docket/protocol"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one verb: its flags, its help text and what it does.
type command struct {
	// name is the verb as typed: "keygen", "credential issue".
	name string
	// summary is the one line "docket --help" shows.
	summary string
	// synopsis follows "Usage: docket NAME" in the verb's help.
	synopsis string
	// description is the paragraph below the usage line.
	description string
	// example is one or more command lines, without leading indentation.
	example string
	// flags holds the verb's flags; run reads their values.
	flags *flag.FlagSet
	// args is the number of positional arguments the verb takes.
	args int
	// run carries out the verb with its positional arguments, writing
	// results to stdout.
	run func(args []string, stdout io.Writer) error
}

// commands returns the verbs, each with a fresh FlagSet.
func commands() []*command {
	return []*command{
		keygenCommand(),
		credentialIssueCommand(),
		credentialDelegateCommand(),
		observeCommand(),
		assertBuildCommand(),
		assertInspectCommand(),
		verifyCommand(),
		policyCheckCommand(),
		revokeCommand(),
		enforceApplyCommand(),
		enforceStatusCommand(),
		enforceUninstallCommand(),
		logKeygenCommand(),
		logServeCommand(),
		logSubmitCommand(),
		logGetCommand(),
		logProveCommand(),
		witnessKeygenCommand(),
		witnessServeCommand(),
		auditCommand(),
		nodeInitCommand(),
		nodeRunCommand(),
		devnetSeedCommand(),
		devnetCommand(),
	}
}

// newCommand returns a command with an empty FlagSet that reports errors to
// run instead of printing them.
func newCommand(name string) *command {
	fs := flag.NewFlagSet("docket "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &command{name: name, flags: fs}
}

// usageError is an error in how docket was invoked; it exits with status 2.
type usageError struct {
	// verb is the verb whose flags or arguments are wrong.
	verb string
	msg  string
}

func (e *usageError) Error() string { return e.msg }

func usagef(verb, format string, args ...any) error {
	return &usageError{verb: verb, msg: fmt.Sprintf(format, args...)}
}

// run executes docket with args (without the program name) and returns the
// exit status: 0 on success, 1 on failure, 2 on a usage error.
func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 {
		printUsage(stderr, cmds)
		return 2
	}
	if isHelp(args[0]) || args[0] == "help" {
		printUsage(stdout, cmds)
		return 0
	}
	c, rest := lookup(cmds, args)
	if c == nil {
		group := len(args) > 1 && isGroup(cmds, args[0])
		if group && isHelp(args[1]) {
			printUsage(stdout, cmds)
			return 0
		}
		verb := args[0]
		if group {
			verb += " " + args[1]
		}
		fmt.Fprintf(stderr, "docket: error: unknown verb %q\n\n", verb)
		printUsage(stderr, cmds)
		return 2
	}
	positional, err := c.parse(rest)
	if errors.Is(err, flag.ErrHelp) {
		c.printHelp(stdout)
		return 0
	}
	if err == nil {
		err = c.run(positional, stdout)
	}
	if err == nil {
		return 0
	}
	return report(stderr, err)
}

// lookup finds the verb args start with, and returns it with the remaining
// arguments.
func lookup(cmds []*command, args []string) (*command, []string) {
	for _, c := range cmds {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c, args[len(words):]
		}
	}
	return nil, nil
}

// isGroup reports whether word is the first of several two-word verbs, such
// as "credential".
func isGroup(cmds []*command, word string) bool {
	for _, c := range cmds {
		if first, _, ok := strings.Cut(c.name, " "); ok && first == word {
			return true
		}
	}
	return false
}

func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// parse parses the verb's flags, which may come before and after its
// positional arguments, and returns the positional arguments.
func (c *command) parse(args []string) ([]string, error) {
	var positional []string
	for {
		if err := c.flags.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usagef(c.name, "%v", err)
		}
		rest := c.flags.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	switch {
	case len(positional) < c.args:
		return nil, usagef(c.name, "missing argument: usage: docket %s %s", c.name, c.synopsis)
	case len(positional) > c.args:
		return nil, usagef(c.name, "unexpected argument %q", positional[c.args])
	}
	return positional, nil
}

// printUsage writes the list of verbs.
func printUsage(w io.Writer, cmds []*command) {
	fmt.Fprintf(w, "Usage: docket VERB [flags]\n\n")
	fmt.Fprintf(w, "Docket makes and checks signed, expiring BitTorrent block assertions.\n\n")
	fmt.Fprintf(w, "Verbs:\n")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-21s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun \"docket VERB --help\" for a verb's flags and an example.\n")
}

// printHelp writes the verb's usage, flags and example.
func (c *command) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: docket %s %s\n\n", c.name, c.synopsis)
	fmt.Fprintf(w, "%s\n\nFlags:\n", strings.TrimSpace(c.description))
	printFlags(w, c.flags)
	fmt.Fprintf(w, "\nExample:\n")
	for _, line := range strings.Split(strings.TrimSpace(c.example), "\n") {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

// report prints err as "docket: error: ..." with any hints, and returns the
// exit status for it.
func report(w io.Writer, err error) int {
	// A rejection as protocol returned it prints as the spec's code and
	// message; one wrapped with context prints whole.
	if perr, ok := err.(*protocol.Error); ok {
		fmt.Fprintf(w, "docket: error: %s: %s\n", perr.Code, perr.Msg)
	} else {
		fmt.Fprintf(w, "docket: error: %v\n", err)
	}
	if hint, ok := hints[protocol.CodeOf(err)]; ok {
		fmt.Fprintf(w, "docket: hint: %s\n", hint)
	}
	var uerr *usageError
	if errors.As(err, &uerr) {
		fmt.Fprintf(w, "docket: hint: run \"docket %s --help\" for usage\n", uerr.verb)
		return 2
	}
	return 1
}

// hints says what to check next after a rejection with a given code.
var hints = map[protocol.Code]string{
	protocol.CodeBadSignature:       "the file was changed after it was signed",
	protocol.CodeUntrustedRegistrar: "pass the public key of the registrar that issued the root credential with --registrar",
	protocol.CodeChainBroken:        "give --chain root first (the registrar's grant, then the delegation), ending in the credential the assertion was built with",
	protocol.CodeSectionUnreadable:  "--identity must be the age identity of the ISP named by --isp",
	protocol.CodeNoSection:          "the assertion addresses no peer of this ISP; \"docket assert inspect\" lists its sections",
	protocol.CodeAddressNotGlobal:   "only laboratory networks should use --permit-prefix to accept addresses that are not global unicast",
	protocol.CodeExpired:            "check the system clock, or the time given with --now",
	protocol.CodeNotYetValid:        "check the system clock, or the time given with --now",
}
