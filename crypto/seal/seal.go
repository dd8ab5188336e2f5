// Package seal encrypts Docket's per-ISP sections with age
// (https://age-encryption.org/v1) to X25519 recipients, and reads and writes
// identity files in the format the age command-line tool uses, so that
// `age -d -i identity.txt section.age` opens what Seal produced.
package seal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"filippo.io/age"
)

// ErrTooLarge is returned by Open when the plaintext exceeds the caller's
// limit; nothing beyond the limit is read.
var ErrTooLarge = errors.New("sealed section larger than the limit")

// ErrNotForUs is returned by Open when the ciphertext is not addressed to the
// identity (age's NoIdentityMatchError is wrapped too).
var ErrNotForUs = errors.New("sealed section is not addressed to this identity")

// GenerateIdentity returns a new X25519 identity.
func GenerateIdentity() (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("failed to generate age identity: %w", err)
	}
	return id, nil
}

// IdentityFile renders id as an age identity file, with the same comment
// lines age-keygen writes.
func IdentityFile(id *age.X25519Identity, created time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# created: %s\n", created.UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# public key: %s\n", id.Recipient())
	fmt.Fprintf(&b, "%s\n", id)
	return b.Bytes()
}

// ParseIdentityFile reads an identity file holding exactly one X25519
// identity.
func ParseIdentityFile(data []byte) (*age.X25519Identity, error) {
	ids, err := age.ParseIdentities(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("failed to parse age identity file: %w", err)
	}
	if len(ids) != 1 {
		return nil, fmt.Errorf("failed to parse age identity file: found %d identities, want 1", len(ids))
	}
	id, ok := ids[0].(*age.X25519Identity)
	if !ok {
		return nil, fmt.Errorf("failed to parse age identity file: identity of type %T is not X25519", ids[0])
	}
	return id, nil
}

// ParseRecipient parses an "age1..." X25519 recipient.
func ParseRecipient(s string) (*age.X25519Recipient, error) {
	if strings.TrimSpace(s) != s {
		return nil, fmt.Errorf("failed to parse age recipient %q: surrounding space", s)
	}
	r, err := age.ParseX25519Recipient(s)
	if err != nil {
		return nil, fmt.Errorf("failed to parse age recipient: %w", err)
	}
	return r, nil
}

// Seal encrypts plaintext to recipient in age's binary format.
func Seal(plaintext []byte, recipient *age.X25519Recipient) ([]byte, error) {
	var out bytes.Buffer
	w, err := age.Encrypt(&out, recipient)
	if err != nil {
		return nil, fmt.Errorf("failed to seal: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("failed to seal: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("failed to seal: %w", err)
	}
	return out.Bytes(), nil
}

// Open decrypts ciphertext with identity, reading at most maxSize plaintext
// bytes. It returns an error wrapping ErrNotForUs when the section is sealed
// to someone else, and ErrTooLarge when the plaintext exceeds maxSize.
func Open(ciphertext []byte, identity age.Identity, maxSize int) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(ciphertext), identity)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, fmt.Errorf("%w: %w", ErrNotForUs, err)
		}
		return nil, fmt.Errorf("failed to open sealed section: %w", err)
	}
	// The plaintext is shorter than the ciphertext: one allocation holds it.
	var out bytes.Buffer
	out.Grow(min(len(ciphertext), maxSize+1))
	if _, err := out.ReadFrom(io.LimitReader(r, int64(maxSize)+1)); err != nil {
		return nil, fmt.Errorf("failed to open sealed section: %w", err)
	}
	if out.Len() > maxSize {
		return nil, fmt.Errorf("%w: limit %d bytes", ErrTooLarge, maxSize)
	}
	return out.Bytes(), nil
}
