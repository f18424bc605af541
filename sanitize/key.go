package sanitize

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the length of a sanitization key in bytes.
const KeySize = 32

// Key is the secret that determines every pseudonym. Whoever holds it can
// pseudonymize a guessed address and compare, so it must never be
// published; its Fingerprint may be. String and the fmt verbs print only
// the fingerprint, so a Key cannot leak into logs by accident.
type Key struct {
	b [KeySize]byte
}

// ErrKeyPermissions is returned (wrapped) by LoadKey for a key file that
// users other than its owner may read or write.
var ErrKeyPermissions = errors.New("key file is accessible by group or others")

// The key file format: optional comment lines starting with '#', then the
// 32-byte key as 64 hexadecimal digits; surrounding white space is ignored.
// A file of exactly 32 bytes that is not hex text is read as the raw key.
const keyFileHeader = "# peertape sanitize key: keep it secret, it undoes every pseudonym.\n" +
	"# Publish only its fingerprint.\n"

// GenerateKey returns a fresh random key.
func GenerateKey() (Key, error) {
	var k Key
	if _, err := rand.Read(k.b[:]); err != nil {
		return Key{}, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// NewKey generates a fresh random key and writes it to path with mode
// 0600. It refuses to overwrite an existing file, so an old key (and with
// it the consistency of earlier sanitized archives) cannot be lost by a
// mistyped command.
func NewKey(path string) (Key, error) {
	k, err := GenerateKey()
	if err != nil {
		return Key{}, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Key{}, fmt.Errorf("create key file: %w", err)
	}
	data := keyFileHeader + hex.EncodeToString(k.b[:]) + "\n"
	if _, err := f.WriteString(data); err != nil {
		f.Close()
		os.Remove(path)
		return Key{}, fmt.Errorf("write key file %s: %w", path, err)
	}
	// The umask can only narrow 0600, but a file system may ignore it.
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		os.Remove(path)
		return Key{}, fmt.Errorf("chmod key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return Key{}, fmt.Errorf("sync key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return Key{}, fmt.Errorf("close key file %s: %w", path, err)
	}
	return k, nil
}

// LoadKey reads a key file. It refuses a file that group or others may
// read or write (ErrKeyPermissions), so a shared key is noticed before it
// is used.
func LoadKey(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("open key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("stat key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return Key{}, fmt.Errorf("key file %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("%w: %s has mode %04o, want 0600 (run: chmod 600 %s)", ErrKeyPermissions, path, perm, path)
	}
	if st.Size() > 4096 {
		return Key{}, fmt.Errorf("key file %s: %d bytes is too large for a key", path, st.Size())
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return Key{}, fmt.Errorf("read key file %s: %w", path, err)
	}
	k, err := ParseKey(data)
	if err != nil {
		return Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// ParseKey parses the contents of a key file (see NewKey).
func ParseKey(data []byte) (Key, error) {
	var text strings.Builder
	for _, line := range bytes.Split(data, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		text.Write(line)
	}
	if s := text.String(); len(s) == 2*KeySize {
		var k Key
		if _, err := hex.Decode(k.b[:], []byte(s)); err == nil {
			return k, nil
		}
	}
	if len(data) == KeySize {
		var k Key
		copy(k.b[:], data)
		return k, nil
	}
	return Key{}, fmt.Errorf("want %d hex digits (or %d raw bytes), got %d bytes of other content", 2*KeySize, KeySize, len(data))
}

// KeyFromBytes makes a key from exactly KeySize bytes (for tests and for
// callers that keep keys elsewhere).
func KeyFromBytes(b []byte) (Key, error) {
	if len(b) != KeySize {
		return Key{}, fmt.Errorf("key: want %d bytes, got %d", KeySize, len(b))
	}
	var k Key
	copy(k.b[:], b)
	return k, nil
}

// Fingerprint identifies the key without revealing it: the first 8 bytes,
// in hex, of SHA-256 over a domain-separation label and the key. It is safe
// to publish; archives sanitized with the same key carry the same
// fingerprint, so a reader knows their pseudonyms are comparable.
func (k Key) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte("peertape/sanitize/v1/fingerprint\x00"))
	h.Write(k.b[:])
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// String returns "sanitize.Key(<fingerprint>)", never the key.
func (k Key) String() string { return "sanitize.Key(" + k.Fingerprint() + ")" }

// GoString is String, so %#v does not print the key either.
func (k Key) GoString() string { return k.String() }

// Format prints String for every verb.
func (k Key) Format(f fmt.State, _ rune) { f.Write([]byte(k.String())) }

// derive returns a subkey for one purpose, so that the pseudonyms of
// different address families and the time shift are independent.
func (k Key) derive(label string) []byte {
	m := hmac.New(sha256.New, k.b[:])
	m.Write([]byte("peertape/sanitize/v1/" + label))
	return m.Sum(nil)
}
