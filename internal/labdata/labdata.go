// Package labdata holds the example observation that the walkthrough, the
// CLI tests and the interop tests share (observation.json.tmpl, described in
// README.md here).
package labdata

import (
	_ "embed"
	"strings"
)

//go:embed observation.json.tmpl
var observationTemplate string

// fixedTimes fill the template's placeholders for an observation from
// 09:40 to 09:59 on 2030-06-01.
var fixedTimes = strings.NewReplacer(
	"@START@", "2030-06-01T09:40:00Z",
	"@FIRST@", "2030-06-01T09:42:00Z",
	"@PIECE@", "2030-06-01T09:45:00Z",
	"@LAST@", "2030-06-01T09:57:00Z",
	"@END@", "2030-06-01T09:59:00Z",
)

// Observation returns the example observation, observed from 09:40 to
// 09:59 UTC on 2030-06-01, as JSON.
func Observation() string { return fixedTimes.Replace(observationTemplate) }
