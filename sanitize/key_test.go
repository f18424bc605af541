package sanitize

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sanitize.key")
	k, err := NewKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := st.Mode().Perm(); perm != 0o600 {
		t.Fatalf("key file mode %04o, want 0600", perm)
	}
	loaded, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	if loaded != k {
		t.Fatal("loaded key differs from the written one")
	}
	if _, err := NewKey(path); err == nil {
		t.Fatal("NewKey overwrote an existing key file")
	}
	other, _ := NewKey(filepath.Join(t.TempDir(), "other.key"))
	if other == k {
		t.Fatal("two fresh keys are equal")
	}
}

func TestLoadKeyRefusesSharedFile(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o602} {
		path := filepath.Join(t.TempDir(), "k")
		if err := os.WriteFile(path, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadKey(path)
		if !errors.Is(err, ErrKeyPermissions) || !strings.Contains(err.Error(), fmt.Sprintf("%04o", mode)) {
			t.Errorf("mode %04o: err = %v", mode, err)
		}
	}
}

func TestParseKey(t *testing.T) {
	hexKey := strings.Repeat("0123456789abcdef", 4)
	raw := make([]byte, 32)
	for i := range raw {
		raw[i] = byte(200 + i)
	}
	for _, tc := range []struct {
		name string
		data string
		want string // hex, "" for an error
	}{
		{"hex", hexKey, hexKey},
		{"hex with newline and comments", "# comment\n\n  " + hexKey + "  \n# end\n", hexKey},
		{"upper hex", strings.ToUpper(hexKey), hexKey},
		{"raw bytes", string(raw), hex.EncodeToString(raw)},
		{"short hex", hexKey[:62], ""},
		{"not hex", strings.Repeat("zz", 32), ""},
		{"empty", "", ""},
	} {
		k, err := ParseKey([]byte(tc.data))
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.want != "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && hex.EncodeToString(k.b[:]) != tc.want:
			t.Errorf("%s: key %x", tc.name, k.b)
		}
	}
}

func TestFingerprintAndPrinting(t *testing.T) {
	k1, k2 := testKey(t, 1), testKey(t, 2)
	fp := k1.Fingerprint()
	if len(fp) != 16 || fp != testKey(t, 1).Fingerprint() || fp == k2.Fingerprint() {
		t.Fatalf("fingerprints %s %s", fp, k2.Fingerprint())
	}
	secret := hex.EncodeToString(k1.b[:])
	for _, s := range []string{fmt.Sprint(k1), fmt.Sprintf("%v %+v %#v %s %x %q", k1, k1, k1, k1, k1, k1), k1.String()} {
		if strings.Contains(s, secret) || strings.Contains(s, secret[:16]) || !strings.Contains(s, fp) {
			t.Fatalf("printing a key gave %q", s)
		}
	}
}
