package bpf

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// bpf2goArgs returns the arguments of gen.go's bpf2go directive, so the
// test regenerates exactly what `make generate` does.
func bpf2goArgs(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	const prefix = "//go:generate go run github.com/cilium/ebpf/cmd/bpf2go "
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			return strings.Fields(rest)
		}
	}
	t.Fatal("no bpf2go directive in gen.go")
	return nil
}

// TestGeneratedCurrent rebuilds the BPF object and its Go bindings into a
// temporary directory and fails when they differ from the committed ones:
// someone changed tracing.bpf.c (or a header) without `make generate`.
func TestGeneratedCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("rebuilds the BPF object with clang; skipped in -short mode")
	}
	clang, err := exec.LookPath("clang")
	if err != nil {
		t.Skip("clang not installed (Debian: clang llvm): cannot rebuild the BPF object to compare")
	}
	if _, err := exec.LookPath("llvm-strip"); err != nil {
		t.Skip("llvm-strip not installed (Debian: llvm): cannot rebuild the BPF object to compare")
	}
	out, err := exec.Command(clang, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	version := strings.SplitN(string(out), "\n", 2)[0]
	committed, err := os.ReadFile("tracing_bpfel.clang")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(committed)) != version {
		t.Skipf("committed object was built by %q, this machine has %q: objects from different compilers differ byte for byte",
			strings.TrimSpace(string(committed)), version)
	}
	dir := t.TempDir()
	args := append([]string{"run", "github.com/cilium/ebpf/cmd/bpf2go", "-output-dir", dir}, bpf2goArgs(t)...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=bpf", "GOFILE=gen.go")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	for _, name := range []string{"tracing_bpfel.o", "tracing_bpfel.go"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("bpf/%s is stale: run `make generate` (go generate ./bpf) and commit the result", name)
		}
	}
}
