package seal_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/docket-project/docket/crypto/seal"
)

func newIdentity(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := seal.GenerateIdentity()
	if err != nil {
		t.Fatalf("GenerateIdentity: %v", err)
	}
	return id
}

func sealTo(t testing.TB, plaintext []byte, id *age.X25519Identity) []byte {
	t.Helper()
	ct, err := seal.Seal(plaintext, id.Recipient())
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	return ct
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	const chunk = 64 << 10 // age's payload chunk size
	for _, size := range []int{0, 1, 100, chunk - 1, chunk, chunk + 1, 3*chunk + 17} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			t.Parallel()
			id := newIdentity(t)
			plaintext := randomBytes(t, size)
			ct := sealTo(t, plaintext, id)
			if !bytes.HasPrefix(ct, []byte("age-encryption.org/v1\n-> X25519 ")) {
				t.Errorf("ciphertext does not start with an age v1 header and an X25519 stanza: %q", ct[:min(len(ct), 40)])
			}
			got, err := seal.Open(ct, id, size)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if !bytes.Equal(got, plaintext) {
				t.Errorf("Open returned %d bytes, want the %d sealed", len(got), size)
			}
		})
	}
}

func TestSealIsRandomized(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	msg := []byte("same plaintext")
	if bytes.Equal(sealTo(t, msg, id), sealTo(t, msg, id)) {
		t.Error("sealing the same plaintext twice gave the same ciphertext")
	}
}

func TestOpenNotForUs(t *testing.T) {
	t.Parallel()
	ct := sealTo(t, []byte("for someone else"), newIdentity(t))
	hybrid, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		id   age.Identity
	}{
		{"another X25519 identity", newIdentity(t)},
		{"a hybrid identity", hybrid},
	} {
		_, err := seal.Open(ct, tt.id, 1<<20)
		if !errors.Is(err, seal.ErrNotForUs) {
			t.Errorf("%s: got error %v, want ErrNotForUs", tt.name, err)
		}
		var noMatch *age.NoIdentityMatchError
		if !errors.As(err, &noMatch) {
			t.Errorf("%s: error %v does not wrap *age.NoIdentityMatchError", tt.name, err)
		}
	}
}

func TestOpenTooLarge(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	tests := []struct {
		size, maxSize int
		ok            bool
	}{
		{100, 100, true},
		{100, 101, true},
		{100, 99, false},
		{1, 0, false},
		{0, 0, true},
		{300 << 10, 1000, false},
	}
	for _, tt := range tests {
		plaintext := randomBytes(t, tt.size)
		got, err := seal.Open(sealTo(t, plaintext, id), id, tt.maxSize)
		switch {
		case tt.ok && err != nil:
			t.Errorf("%d bytes, limit %d: %v", tt.size, tt.maxSize, err)
		case tt.ok && !bytes.Equal(got, plaintext):
			t.Errorf("%d bytes, limit %d: wrong plaintext", tt.size, tt.maxSize)
		case !tt.ok && !errors.Is(err, seal.ErrTooLarge):
			t.Errorf("%d bytes, limit %d: got error %v, want ErrTooLarge", tt.size, tt.maxSize, err)
		case !tt.ok && got != nil:
			t.Errorf("%d bytes, limit %d: returned %d bytes with the error", tt.size, tt.maxSize, len(got))
		}
	}
}

// TestOpenTampered checks that every truncation, every single-byte change and
// an appended byte of a sealed section are rejected.
func TestOpenTampered(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	plaintext := []byte("peer salts and addresses")
	ct := sealTo(t, plaintext, id)
	open := func(what string, data []byte) {
		t.Helper()
		if got, err := seal.Open(data, id, 1<<20); err == nil {
			t.Errorf("%s opened to %q", what, got)
		}
	}
	for i := range ct {
		open(fmt.Sprintf("truncation to %d bytes", i), ct[:i])
	}
	m := bytes.Clone(ct)
	for i, orig := range ct {
		for _, b := range []byte{orig ^ 0x01, orig ^ 0x80, 0x00, '\n', ' '} {
			if b == orig {
				continue
			}
			m[i] = b
			open(fmt.Sprintf("byte %d changed from %q to %q", i, orig, b), m)
		}
		m[i] = orig
	}
	open("ciphertext with a byte appended", append(bytes.Clone(ct), 0))
	open("ciphertext sealed twice", append(bytes.Clone(ct), ct...))
}

func TestIdentityFile(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	created := time.Date(2025, 3, 4, 5, 6, 7, 0, time.FixedZone("UTC+2", 2*60*60))
	file := seal.IdentityFile(id, created)
	want := "# created: 2025-03-04T03:06:07Z\n" +
		"# public key: " + id.Recipient().String() + "\n" +
		id.String() + "\n"
	if string(file) != want {
		t.Errorf("IdentityFile =\n%s\nwant\n%s", file, want)
	}
	parsed, err := seal.ParseIdentityFile(file)
	if err != nil {
		t.Fatalf("ParseIdentityFile: %v", err)
	}
	if parsed.String() != id.String() || parsed.Recipient().String() != id.Recipient().String() {
		t.Error("ParseIdentityFile(IdentityFile(id)) is another identity")
	}
	msg := []byte("round trip through an identity file")
	if got, err := seal.Open(sealTo(t, msg, id), parsed, len(msg)); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("the parsed identity does not open what was sealed to the original: %q, %v", got, err)
	}
}

func TestParseIdentityFileRejects(t *testing.T) {
	t.Parallel()
	a, b := newIdentity(t), newIdentity(t)
	hybrid, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	created := time.Unix(0, 0)
	tests := []struct {
		name string
		file string
	}{
		{"empty", ""},
		{"comments only", "# created: 1970-01-01T00:00:00Z\n# public key: " + a.Recipient().String() + "\n"},
		{"two identities", string(seal.IdentityFile(a, created)) + string(seal.IdentityFile(b, created))},
		{"the same identity twice", a.String() + "\n" + a.String() + "\n"},
		{"garbage", "not an identity\n"},
		{"identity and garbage", a.String() + "\ngarbage\n"},
		{"recipient instead of identity", a.Recipient().String() + "\n"},
		{"hybrid identity", hybrid.String() + "\n"},
		{"truncated identity", a.String()[:len(a.String())-1] + "\n"},
		{"invalid UTF-8", a.String() + "\n\xff\n"},
	}
	for _, tt := range tests {
		if id, err := seal.ParseIdentityFile([]byte(tt.file)); err == nil {
			t.Errorf("%s: accepted, identity for %s", tt.name, id.Recipient())
		}
	}
}

func TestParseRecipient(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	rcpt := id.Recipient().String()
	r, err := seal.ParseRecipient(rcpt)
	if err != nil {
		t.Fatalf("ParseRecipient(%q): %v", rcpt, err)
	}
	if r.String() != rcpt {
		t.Errorf("ParseRecipient(%q).String() = %q", rcpt, r.String())
	}
	msg := []byte("to a parsed recipient")
	ct, err := seal.Seal(msg, r)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	if got, err := seal.Open(ct, id, len(msg)); err != nil || !bytes.Equal(got, msg) {
		t.Errorf("Open: %q, %v", got, err)
	}

	hybrid, err := age.GenerateHybridIdentity()
	if err != nil {
		t.Fatal(err)
	}
	flipped := []byte(rcpt)
	flipped[10] ^= 0x01
	for _, bad := range []string{
		"",
		"garbage",
		"age1",
		" " + rcpt,
		rcpt + " ",
		"\t" + rcpt,
		rcpt + "\n",
		"\n" + rcpt,
		rcpt[:len(rcpt)-1],
		rcpt + "q",
		string(flipped),
		"age2" + rcpt[4:],
		strings.ToUpper(rcpt),
		id.String(),
		hybrid.Recipient().String(),
	} {
		if r, err := seal.ParseRecipient(bad); err == nil {
			t.Errorf("ParseRecipient(%q) accepted: %s", bad, r)
		}
	}
}

// TestAgeCLI checks interoperability with the age command: it decrypts what
// Seal wrote with an identity file from IdentityFile, and Open reads what it
// encrypts.
func TestAgeCLI(t *testing.T) {
	t.Parallel()
	agePath, err := exec.LookPath("age")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the age command is required in CI: %v", err)
		}
		t.Skipf("the age command is not installed, so interoperability is not tested: %v", err)
	}
	dir := t.TempDir()
	id := newIdentity(t)
	idFile := filepath.Join(dir, "identity.txt")
	if err := os.WriteFile(idFile, seal.IdentityFile(id, time.Now()), 0o600); err != nil {
		t.Fatal(err)
	}
	plaintext := append([]byte("sealed by docket\n"), randomBytes(t, 100<<10)...)

	t.Run("decrypt", func(t *testing.T) {
		t.Parallel()
		sealed := filepath.Join(dir, "section.age")
		if err := os.WriteFile(sealed, sealTo(t, plaintext, id), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), agePath, "-d", "-i", idFile, sealed)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("age -d: %v\n%s", err, stderr.Bytes())
		}
		if !bytes.Equal(out, plaintext) {
			t.Errorf("age -d output %d bytes, want the %d sealed", len(out), len(plaintext))
		}
	})

	t.Run("encrypt", func(t *testing.T) {
		t.Parallel()
		cmd := exec.CommandContext(t.Context(), agePath, "-r", id.Recipient().String())
		cmd.Stdin = bytes.NewReader(plaintext)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		ct, err := cmd.Output()
		if err != nil {
			t.Fatalf("age -r: %v\n%s", err, stderr.Bytes())
		}
		parsed, err := seal.ParseIdentityFile(seal.IdentityFile(id, time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := seal.Open(ct, parsed, len(plaintext))
		if err != nil {
			t.Fatalf("Open of age's output: %v", err)
		}
		if !bytes.Equal(got, plaintext) {
			t.Errorf("Open of age's output gave %d bytes, want %d", len(got), len(plaintext))
		}
	})

	t.Run("keygen", func(t *testing.T) {
		t.Parallel()
		keygen, err := exec.LookPath("age-keygen")
		if err != nil {
			t.Skipf("age-keygen is not installed: %v", err)
		}
		out, err := exec.CommandContext(t.Context(), keygen).Output()
		if err != nil {
			t.Fatalf("age-keygen: %v", err)
		}
		parsed, err := seal.ParseIdentityFile(out)
		if err != nil {
			t.Fatalf("ParseIdentityFile of age-keygen's output: %v\n%s", err, out)
		}
		// age-keygen writes the same lines as IdentityFile; the creation
		// time may be in another zone.
		created, rest, _ := strings.Cut(string(out), "\n")
		if _, err := time.Parse(time.RFC3339, strings.TrimPrefix(created, "# created: ")); err != nil {
			t.Errorf("age-keygen's first line %q is not a creation time: %v", created, err)
		}
		_, mine, _ := strings.Cut(string(seal.IdentityFile(parsed, time.Now())), "\n")
		if mine != rest {
			t.Errorf("IdentityFile writes\n%s\nafter the creation time, age-keygen\n%s", mine, rest)
		}
	})
}
