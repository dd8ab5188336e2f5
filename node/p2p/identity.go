package p2p

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// maxIdentityFile bounds the bytes read from an identity file; a marshalled
// Ed25519 key is 68 bytes.
const maxIdentityFile = 4 << 10

// LoadIdentity returns the node's libp2p identity stored in path, creating
// the file with a new Ed25519 key if it does not exist.
//
// The file holds the key as libp2p marshals private keys (the protobuf
// PrivateKey message of the libp2p peer-id specification). A new file is
// created with mode 0600 and appears complete or not at all: the key is
// written to a temporary file in the same directory which is then linked
// into place, so a concurrent caller either loses the race and loads the
// winner's key or never sees a partial file. An existing file must be an
// Ed25519 key, a regular file and readable by its owner only (mode 0600
// or stricter), as ssh demands of its private keys.
func LoadIdentity(path string) (crypto.PrivKey, error) {
	if path == "" {
		return nil, errors.New("failed to load identity: the path is empty")
	}
	key, err := readIdentity(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key, _, err = crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("failed to generate identity: %w", err)
	}
	if err := writeIdentity(path, key); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readIdentity(path)
		}
		return nil, err
	}
	return key, nil
}

func readIdentity(path string) (crypto.PrivKey, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open identity: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("failed to stat identity: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("failed to load identity: %s is not a regular file", path)
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("failed to load identity: %s has mode %04o; a private key must be readable by its owner only (chmod 600)", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxIdentityFile+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read identity: %w", err)
	}
	if len(data) > maxIdentityFile {
		return nil, fmt.Errorf("failed to load identity: %s is larger than %d bytes, so it is not a libp2p key", path, maxIdentityFile)
	}
	key, err := crypto.UnmarshalPrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("failed to load identity: %s does not hold a libp2p private key: %w", path, err)
	}
	if key.Type() != crypto.Ed25519 {
		return nil, fmt.Errorf("failed to load identity: %s holds a %s key; Docket nodes use Ed25519", path, key.Type())
	}
	return key, nil
}

func writeIdentity(path string, key crypto.PrivKey) error {
	data, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return fmt.Errorf("failed to marshal identity: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, ".identity-*")
	if err != nil {
		return fmt.Errorf("failed to create identity: %w", err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 already; Chmod keeps that true under
	// any umask or filesystem default.
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to create identity: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to write identity: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("failed to write identity: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("failed to write identity: %w", err)
	}
	// Link fails if path exists, so an identity is never overwritten.
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("failed to create identity: %w", err)
	}
	return nil
}
