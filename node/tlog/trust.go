package tlog

import (
	"fmt"
	"path/filepath"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

// credentialsFile is the file, inside the log's directory, of the index of
// the credentials whose signatures the log verified. Like .dedup, it is not
// part of the tlog-tiles layout.
const credentialsFile = ".credentials"

// credentialsBucket maps a credential's id (64 lowercase hex digits) to
// its envelope, exactly as logged.
var credentialsBucket = []byte("credentials")

// credentialsLockWait bounds how long Open waits for another process to
// release the index file.
const credentialsLockWait = time.Second

// trust verifies the signatures of submissions to a log that trusts
// registrars (Config.Registrars), with protocol's own functions, and
// remembers the credentials it verified: a delegation, an assertion and a
// revocation are verified with the keys of credentials already in the log.
//
// The credentials are kept in a bbolt file, Dir/.credentials, written
// once the log has published the credential. It is a file rather than a
// map rebuilt at Open by reading the log because it costs nothing at Open
// however long the log is, and because it holds exactly what was verified:
// a credential logged while the log was open, or before a crash that came
// between publishing it and writing the file, is not in it until it is
// submitted again, when it is verified, answered with its first index, and
// written. A delegation or assertion under a credential the file lacks is
// refused with a message saying to submit the credential first.
type trust struct {
	verifier *protocol.Verifier
	isps     []*sign.PublicKey
	db       *bolt.DB
}

// openTrust opens the credential index in dir for a log trusting the
// registrars and ISP keys of cfg.
func openTrust(dir string, cfg Config) (*trust, error) {
	path := filepath.Join(dir, credentialsFile)
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: credentialsLockWait})
	if err != nil {
		return nil, fmt.Errorf("failed to open credential index %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(credentialsBucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("failed to open credential index %s: %w", path, err)
	}
	return &trust{verifier: protocol.NewVerifier(cfg.Registrars), isps: cfg.ISPs, db: db}, nil
}

func (t *trust) close() error {
	if err := t.db.Close(); err != nil {
		return fmt.Errorf("failed to close credential index: %w", err)
	}
	return nil
}

// verify checks the signature of a decoded submission, and who signed it,
// as the package documentation says. A refusal is a *protocol.Error; any
// other error is a failure to read the index. It judges no time, scope,
// revocation or replay.
func (t *trust) verify(d *decoded) error {
	switch d.kind {
	case KindCredential:
		chain := [][]byte{d.data}
		if parent := d.credential.Credential.Parent; parent != "" {
			raw, err := t.credential(parent, "parent credential")
			if err != nil {
				return err
			}
			chain = [][]byte{raw, d.data}
		}
		_, err := t.verifier.VerifyChainSignatures(chain)
		return err
	case KindAssertion:
		raw, err := t.credential(d.assertion.Assertion.Credential, "credential")
		if err != nil {
			return err
		}
		cred, err := protocol.DecodeCredential(raw)
		if err != nil {
			return fmt.Errorf("failed to read credential index: %w", err)
		}
		return protocol.VerifyAssertionSignature(d.assertion, cred)
	case KindRevocation:
		chain, err := t.chain(d.revocation.Revocation.Credential)
		if err != nil {
			return err
		}
		_, err = t.verifier.VerifyRevocation(d.data, chain)
		return err
	case KindAnnouncement:
		_, err := protocol.VerifyAnnouncementSignature(d.data, t.isps)
		return err
	case KindReceipt:
		r := &d.receipt.Receipt
		i := slices.IndexFunc(t.isps, func(k *sign.PublicKey) bool { return k.ID() == r.Issuer })
		if i < 0 {
			return &protocol.Error{Code: protocol.CodeUntrustedISP,
				Msg: fmt.Sprintf("receipt of %s is signed by %s, not a trusted ISP key", r.ISP, r.Issuer)}
		}
		_, err := protocol.VerifyReceipt(d.data, t.isps[i])
		return err
	}
	return fmt.Errorf("no signature check for kind %q", d.kind)
}

// chain returns the verified chain that ends in the logged credential id:
// the credential alone, or its parent and itself.
func (t *trust) chain(id protocol.ID) (*protocol.Chain, error) {
	raw, err := t.credential(id, "credential")
	if err != nil {
		return nil, err
	}
	envelopes := [][]byte{raw}
	sc, err := protocol.DecodeCredential(raw)
	if err != nil {
		return nil, fmt.Errorf("failed to read credential index: %w", err)
	}
	if parent := sc.Credential.Parent; parent != "" {
		praw, err := t.credential(parent, "parent credential")
		if err != nil {
			return nil, err
		}
		envelopes = [][]byte{praw, raw}
	}
	return t.verifier.VerifyChainSignatures(envelopes)
}

// credential returns the envelope of the logged credential id, or a
// CHAIN_BROKEN refusal naming it as what.
func (t *trust) credential(id protocol.ID, what string) ([]byte, error) {
	var raw []byte
	err := t.db.View(func(tx *bolt.Tx) error {
		raw = slices.Clone(tx.Bucket(credentialsBucket).Get([]byte(id)))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read credential index: %w", err)
	}
	if raw == nil {
		return nil, &protocol.Error{Code: protocol.CodeChainBroken,
			Msg: fmt.Sprintf("%s %s is not in the log; submit it first", what, id)}
	}
	return raw, nil
}

// record notes a credential the log has published; other kinds need
// nothing. Concurrent calls share one transaction (bbolt's Batch), and the
// file is synced before record returns.
func (t *trust) record(d *decoded) error {
	if d.kind != KindCredential {
		return nil
	}
	err := t.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(credentialsBucket).Put([]byte(d.credential.ID), d.data)
	})
	if err != nil {
		return fmt.Errorf("failed to index credential %s: %w", d.credential.ID, err)
	}
	return nil
}
