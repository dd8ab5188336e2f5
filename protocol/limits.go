package protocol

import "time"

// Size limits from spec/SPEC.md §3. A decoder rejects anything larger with
// CodeOversize before doing further work.
const (
	MaxCredentialEnvelope = 256 << 10                    // bytes of a credential envelope
	MaxRevocationEnvelope = 16 << 10                     // bytes of a revocation envelope
	MaxAssertionEnvelope  = 256 << 10                    // bytes of an assertion envelope
	MaxAssertionBundle    = 8 << 20                      // bytes of an assertion bundle: envelope plus sealed sections
	MaxSectionSealed      = MaxSectionPlaintext + 64<<10 // bytes of one sealed section
	MaxSectionPlaintext   = 2 << 20                      // bytes of one opened sealed section
	MaxWorks              = 1000                         // works per credential
	MaxContentIDsPerWork  = 64                           // content ids per work
	MaxScopeEntries       = 256                          // ISPs plus regions in a scope
	MaxSections           = 256                          // sealed sections per assertion
	MaxPeers              = 5000                         // peers per assertion
	MaxPiecesPerPeer      = 16                           // piece proofs per peer's evidence
	MaxNameLength         = 128                          // bytes of ISP names, work ids, client names, recipients
	MaxTitleLength        = 256                          // bytes of titles, subject names and reasons
	MaxChainLength        = 2                            // credentials in a chain: registrar grant plus one delegation
)

// Time rules from spec/SPEC.md §6.
const (
	// DefaultAssertionLife is the life a claimant gives an assertion unless
	// told otherwise.
	DefaultAssertionLife = 10 * time.Minute
	// DefaultMaxAssertionLife is the longest life a verifier accepts unless
	// configured otherwise.
	DefaultMaxAssertionLife = 30 * time.Minute
	// DefaultClockSkew is the tolerance applied to not_before and not_after.
	DefaultClockSkew = 60 * time.Second
)
