package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"filippo.io/age"
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/docket-project/docket/crypto/seal"
	"github.com/docket-project/docket/crypto/sign"
	"github.com/docket-project/docket/protocol"
)

// Input limits for files that are not envelopes.
const (
	maxKeyFile  = 64 << 10 // PEM keys and age identity files
	maxJSONFile = 16 << 20 // observations, directories, work lists
)

// readFile reads a file of at most limit bytes.
func readFile(path string, limit int) ([]byte, error) {
	data, err := readPrefix(path, limit)
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("failed to read %s: larger than %d bytes", path, limit)
	}
	return data, nil
}

// readEnvelope reads a signed object, or enough of one (limit+1 bytes) for
// a decoder with that limit to reject it as too large without docket
// reading all of it.
func readEnvelope(path string, limit int) ([]byte, error) {
	return readPrefix(path, limit)
}

// readPrefix reads at most limit+1 bytes of a file.
func readPrefix(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read: %w", err)
	}
	return data, nil
}

// readPrivateKey reads a PKCS#8 PEM signing key.
func readPrivateKey(path string) (*sign.PrivateKey, error) {
	data, err := readFile(path, maxKeyFile)
	if err != nil {
		return nil, err
	}
	key, err := sign.ParsePrivateKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("failed to load key %s: %w", path, err)
	}
	return key, nil
}

// readPublicKey reads a PEM public key.
func readPublicKey(path string) (*sign.PublicKey, error) {
	data, err := readFile(path, maxKeyFile)
	if err != nil {
		return nil, err
	}
	key, err := sign.ParsePublicKeyPEM(data)
	if err != nil {
		return nil, fmt.Errorf("failed to load public key %s: %w", path, err)
	}
	return key, nil
}

// readPublicKeys reads PEM public key files.
func readPublicKeys(paths []string) ([]*sign.PublicKey, error) {
	var keys []*sign.PublicKey
	for _, path := range paths {
		k, err := readPublicKey(path)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// readIdentity reads an age identity file.
func readIdentity(path string) (*age.X25519Identity, error) {
	data, err := readFile(path, maxKeyFile)
	if err != nil {
		return nil, err
	}
	id, err := seal.ParseIdentityFile(data)
	if err != nil {
		return nil, fmt.Errorf("failed to load identity %s: %w", path, err)
	}
	return id, nil
}

// readCredential reads and decodes a credential envelope without verifying
// its signature.
func readCredential(path string) (*protocol.SignedCredential, error) {
	data, err := readEnvelope(path, protocol.MaxCredentialEnvelope)
	if err != nil {
		return nil, err
	}
	sc, err := protocol.DecodeCredential(data)
	if err != nil {
		return nil, annotate(path, err)
	}
	return sc, nil
}

// readJSON decodes a JSON file strictly into v: unknown and duplicate
// members are errors.
func readJSON(path string, v any) error {
	data, err := readFile(path, maxJSONFile)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v, json.RejectUnknownMembers(true)); err != nil {
		return fmt.Errorf("failed to parse %s: %w", path, err)
	}
	return nil
}

// annotate prefixes a protocol error's message with what it concerns, such
// as a file name, keeping its code so that it still prints as
// "CODE: message".
func annotate(what string, err error) error {
	var perr *protocol.Error
	if !errors.As(err, &perr) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return &protocol.Error{Code: perr.Code, Msg: what + ": " + perr.Msg, Err: perr.Err}
}

// writeJSON writes v to w as indented JSON.
func writeJSON(w io.Writer, v any) error {
	out, err := json.Marshal(v, json.Deterministic(true), jsontext.Multiline(true), jsontext.WithIndent("  "))
	if err != nil {
		return fmt.Errorf("failed to encode output: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", out)
	return err
}

// outFile is a file a verb writes.
type outFile struct {
	path string
	data []byte
	perm fs.FileMode
}

// writeFiles writes all files or none. Each is written to a temporary file
// in its directory first; only when all are written are they moved into
// place. Unless force is set, an existing file is never replaced.
func writeFiles(force bool, files ...outFile) error {
	if !force {
		for _, f := range files {
			if _, err := os.Lstat(f.path); err == nil {
				return fmt.Errorf("failed to write %s: file exists (use --force to replace it)", f.path)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("failed to write %s: %w", f.path, err)
			}
		}
	}
	var temps []string
	defer func() {
		for _, t := range temps {
			os.Remove(t)
		}
	}()
	for _, f := range files {
		tmp, err := writeTemp(f)
		if err != nil {
			return err
		}
		temps = append(temps, tmp)
	}
	for i, f := range files {
		// A hard link fails if the target exists, so that a file created
		// since the check above is not replaced either.
		place := os.Link
		if force {
			place = os.Rename
		}
		if err := place(temps[i], f.path); err != nil {
			for _, done := range files[:i] {
				os.Remove(done.path)
			}
			return fmt.Errorf("failed to write %s: %w", f.path, err)
		}
	}
	return nil
}

// writeTemp writes f's data to a new temporary file next to f.path and
// returns its name.
func writeTemp(f outFile) (string, error) {
	tmp, err := os.CreateTemp(filepath.Dir(f.path), "."+filepath.Base(f.path)+".tmp*")
	if err != nil {
		return "", fmt.Errorf("failed to write %s: %w", f.path, err)
	}
	_, err = tmp.Write(f.data)
	if err == nil {
		err = tmp.Chmod(f.perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("failed to write %s: %w", f.path, err)
	}
	return tmp.Name(), nil
}
