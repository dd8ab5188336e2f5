package main

import (
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// stringList is a flag that may be given several times.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(s string) error {
	*l = append(*l, s)
	return nil
}

// timeFlag is an RFC 3339 time, kept in UTC; set records whether it was
// given.
type timeFlag struct {
	t   time.Time
	set bool
}

func (f *timeFlag) String() string {
	if !f.set {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *timeFlag) Set(s string) error {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("not an RFC 3339 time such as 2030-01-31T12:00:00Z")
	}
	f.t, f.set = t.UTC(), true
	return nil
}

// or returns the flag's time if it was given, def otherwise.
func (f *timeFlag) or(def time.Time) time.Time {
	if f.set {
		return f.t
	}
	return def
}

// prefixList is a repeatable CIDR prefix flag.
type prefixList []netip.Prefix

func (l *prefixList) String() string {
	s := make([]string, len(*l))
	for i, p := range *l {
		s[i] = p.String()
	}
	return strings.Join(s, ",")
}

func (l *prefixList) Set(s string) error {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return fmt.Errorf("not a CIDR prefix such as 198.51.100.0/24")
	}
	*l = append(*l, p.Masked())
	return nil
}

// isSet reports whether the flag called name was given on the command line.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

// now returns the current time in UTC, to the second, as timestamps in
// Docket's objects are usually written.
func now() time.Time { return time.Now().UTC().Truncate(time.Second) }

// printFlags writes the flags of fs in the style of flag.PrintDefaults,
// with the double dashes the help texts use.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		name, usage := flag.UnquoteUsage(f)
		if name == "" {
			fmt.Fprintf(w, "  --%s\n", f.Name)
		} else {
			fmt.Fprintf(w, "  --%s %s\n", f.Name, name)
		}
		fmt.Fprintf(w, "        %s", usage)
		switch f.DefValue {
		case "", "false", "0", "0s":
		default:
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}
