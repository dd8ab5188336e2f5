package main

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// repoRoot is the repository's root, seen from this package's directory.
var repoRoot = filepath.Join("..", "..")

// readRepoFile returns a file of the repository, named by its slash path
// from the root.
func readRepoFile(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// TestReadme checks that README.md says what the repository does: its two
// commands are the ones CI runs and the Makefile defines, its verb table is
// the list "docket --help" prints, and every test its threat table cites
// exists.
func TestReadme(t *testing.T) {
	readme := readRepoFile(t, "README.md")
	want := []string{"make devnet", "make test"}

	t.Run("commands", func(t *testing.T) {
		cmds := shellCommands(readme)
		if len(cmds) < len(want) || !slices.Equal(cmds[:len(want)], want) {
			t.Errorf("the first fenced shell commands of README.md are %q, want %q", cmds[:min(len(cmds), len(want))], want)
		}
	})

	t.Run("ci", func(t *testing.T) {
		if got := ciCommands(readRepoFile(t, ".ci/run")); !slices.Equal(got, want) {
			t.Errorf(".ci/run runs %q, want exactly README.md's %q, in that order", got, want)
		}
	})

	t.Run("makefile", func(t *testing.T) {
		mk := parseMakefile(readRepoFile(t, "Makefile"))
		for _, target := range []string{"devnet", "test"} {
			if _, ok := mk.recipes[target]; !ok {
				t.Errorf("the Makefile has no target %q", target)
			}
			if !slices.Contains(mk.phony, target) {
				t.Errorf("the Makefile does not declare %q .PHONY", target)
			}
		}
		if test := mk.commands("test"); !slices.ContainsFunc(test, func(c string) bool { return strings.Contains(c, "scripts/test.sh") }) {
			t.Errorf("make test runs %q, which does not run scripts/test.sh", test)
		}
		devnet := mk.commands("devnet")
		build := slices.Index(devnet, "go build -o bin/docket ./cmd/docket")
		run := slices.IndexFunc(devnet, func(c string) bool { return strings.HasPrefix(c, "bin/docket devnet") })
		if build < 0 || run < build {
			t.Errorf("make devnet runs %q, want \"go build -o bin/docket ./cmd/docket\" then \"bin/docket devnet\"", devnet)
		}
	})

	t.Run("verbs", func(t *testing.T) {
		stdout, stderr, status := docket(t, t.TempDir(), "--help")
		if status != 0 {
			t.Fatalf("docket --help: status %d\n%s", status, stderr)
		}
		help := helpVerbs(stdout)
		if len(help) == 0 {
			t.Fatalf("no verb found in docket --help:\n%s", stdout)
		}
		table := readmeVerbs(t, readme)
		if len(table) == 0 {
			t.Fatal(`README.md has no "Every CLI verb" table of "docket VERB" rows`)
		}
		for _, v := range table {
			if !slices.Contains(help, v) {
				t.Errorf("README.md lists docket %s, which docket --help does not", v)
			}
		}
		for _, v := range help {
			if !slices.Contains(table, v) {
				t.Errorf("docket --help lists docket %s, which README.md's verb table does not", v)
			}
		}
	})

	t.Run("threats", func(t *testing.T) {
		rows := threatRows(t, readme)
		if len(rows) == 0 {
			t.Fatal(`README.md has no "Threats" table`)
		}
		for _, row := range rows {
			attack, _, _ := strings.Cut(strings.Trim(row, "| "), " |")
			cites := citeRE.FindAllStringSubmatch(row, -1)
			if len(cites) == 0 && !strings.Contains(row, "not covered") {
				t.Errorf("threat %q cites no test and does not say it is not covered", attack)
			}
			if n := strings.Count(row, "_test.go)"); n != len(cites) {
				t.Errorf("threat %q links %d test files but only %d as [`package` TestName](file_test.go)", attack, n, len(cites))
			}
			for _, c := range cites {
				pkg, name, file := c[1], c[2], c[3]
				if path.Dir(file) != pkg {
					t.Errorf("threat %q cites %s in %s, which is not in package directory %s", attack, name, file, pkg)
				}
				src, err := os.ReadFile(filepath.Join(repoRoot, filepath.FromSlash(file)))
				switch {
				case errors.Is(err, fs.ErrNotExist) && name == "TestDevnet" && file == "cmd/docket/devnet_test.go":
					t.Logf("threat %q cites %s in %s, which does not exist yet", attack, name, file)
					continue
				case err != nil:
					t.Errorf("threat %q cites %s in %s: %v", attack, name, file, err)
					continue
				}
				if !regexp.MustCompile(`(?m)^func ` + name + `\(`).Match(src) {
					t.Errorf("threat %q cites %s, but %s has no func %s(", attack, name, file, name)
				}
			}
		}
	})
}

// shellCommands returns the commands of the fenced shell blocks of a
// Markdown text, in order, without comments; a line ending in a backslash
// continues on the next.
func shellCommands(md string) []string {
	var cmds []string
	in, shell := false, false
	cont := ""
	for _, line := range strings.Split(md, "\n") {
		if fence, ok := strings.CutPrefix(line, "```"); ok {
			if in {
				in = false
				continue
			}
			in = true
			switch strings.TrimSpace(fence) {
			case "sh", "shell", "bash", "console":
				shell = true
			default:
				shell = false
			}
			continue
		}
		if !in || !shell {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		if i := strings.Index(line, " #"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if more, ok := strings.CutSuffix(line, `\`); ok {
			cont += strings.TrimSpace(more) + " "
			continue
		}
		if line = cont + line; line != "" {
			cmds = append(cmds, line)
		}
		cont = ""
	}
	return cmds
}

// ciCommands returns the lines of a CI script that run something: neither
// blank nor comments nor shell settings nor the change of directory.
func ciCommands(script string) []string {
	var cmds []string
	for _, line := range strings.Split(script, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "", strings.HasPrefix(line, "#"), strings.HasPrefix(line, "set "), strings.HasPrefix(line, "cd "):
			continue
		}
		cmds = append(cmds, line)
	}
	return cmds
}

// makefile is what TestReadme reads of a Makefile.
type makefile struct {
	prereqs map[string][]string
	recipes map[string][]string
	phony   []string
}

// targetRE matches a rule's first line (a target and its prerequisites),
// not a ":=" assignment.
var targetRE = regexp.MustCompile(`^([A-Za-z0-9_.-]+):([^=].*|)$`)

// parseMakefile reads the explicit rules of a simple Makefile.
func parseMakefile(text string) *makefile {
	mk := &makefile{prereqs: map[string][]string{}, recipes: map[string][]string{}}
	target := ""
	for _, line := range strings.Split(text, "\n") {
		if cmd, ok := strings.CutPrefix(line, "\t"); ok {
			if target != "" {
				mk.recipes[target] = append(mk.recipes[target], strings.TrimSpace(cmd))
			}
			continue
		}
		m := targetRE.FindStringSubmatch(line)
		if m == nil {
			if strings.TrimSpace(line) != "" {
				target = ""
			}
			continue
		}
		deps := strings.Fields(m[2])
		if m[1] == ".PHONY" {
			mk.phony = append(mk.phony, deps...)
			target = ""
			continue
		}
		target = m[1]
		mk.prereqs[target] = deps
		if _, ok := mk.recipes[target]; !ok {
			mk.recipes[target] = nil
		}
	}
	return mk
}

// commands returns what "make target" runs: its prerequisites' recipes,
// then its own.
func (mk *makefile) commands(target string) []string {
	var cmds []string
	seen := map[string]bool{}
	var walk func(string)
	walk = func(t string) {
		if seen[t] {
			return
		}
		seen[t] = true
		for _, d := range mk.prereqs[t] {
			walk(d)
		}
		cmds = append(cmds, mk.recipes[t]...)
	}
	walk(target)
	return cmds
}

var helpVerbRE = regexp.MustCompile(`^  (\S+(?: \S+)*?) {2,}\S`)

// helpVerbs returns the verbs "docket --help" lists.
func helpVerbs(help string) []string {
	_, list, ok := strings.Cut(help, "\nVerbs:\n")
	if !ok {
		return nil
	}
	list, _, _ = strings.Cut(list, "\n\n")
	var verbs []string
	for _, line := range strings.Split(list, "\n") {
		if m := helpVerbRE.FindStringSubmatch(line); m != nil {
			verbs = append(verbs, m[1])
		}
	}
	return verbs
}

// section returns the text of the README section whose heading starts
// with title, up to the next heading of its level.
func section(t *testing.T, md, title string) string {
	t.Helper()
	heading := "\n## " + title
	i := strings.Index(md, heading)
	if i < 0 {
		t.Fatalf("README.md has no section %q", "## "+title)
	}
	body := md[i+len(heading):]
	if j := strings.Index(body, "\n## "); j >= 0 {
		body = body[:j]
	}
	return body
}

// readmeVerbs returns the verbs of the README's verb table: the rows whose
// first cell is `docket VERB`.
func readmeVerbs(t *testing.T, md string) []string {
	var verbs []string
	for _, line := range strings.Split(section(t, md, "Every CLI verb"), "\n") {
		rest, ok := strings.CutPrefix(line, "| `docket ")
		if !ok {
			continue
		}
		verb, _, ok := strings.Cut(rest, "`")
		if !ok {
			t.Fatalf("README.md verb table: unterminated verb in %q", line)
		}
		if slices.Contains(verbs, verb) {
			t.Errorf("README.md lists docket %s twice", verb)
		}
		verbs = append(verbs, verb)
	}
	return verbs
}

// citeRE matches a test cited as [`package/dir` TestName](package/dir/file_test.go).
var citeRE = regexp.MustCompile("\\[`([^`]+)` ((?:Test|Fuzz|Benchmark|Example)\\w*)\\]\\(([^)\\s]+_test\\.go)\\)")

// threatRows returns the body rows of the README's threat table.
func threatRows(t *testing.T, md string) []string {
	var rows []string
	header := true
	for _, line := range strings.Split(section(t, md, "Threats"), "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		if header { // the header row and the delimiter row
			if strings.HasPrefix(line, "|---") || strings.HasPrefix(line, "| ---") {
				header = false
			}
			continue
		}
		rows = append(rows, line)
	}
	return rows
}
