// Package interop checks that what Docket writes is read by other
// implementations of the formats it builds on, through their own tools:
// a sealed section that "docket assert inspect --extract-section" writes
// opens with the age command-line tool and its identity file from
// "docket keygen". The package holds tests only.
package interop
