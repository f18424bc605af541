package pb

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The generated code is committed; this test fails when it no longer
// matches what `make generate` produces from the .proto files.
func TestGeneratedCodeIsCurrent(t *testing.T) {
	if _, err := exec.LookPath("protoc"); err != nil {
		t.Skip("protoc not installed (Debian protobuf-compiler; `make deps` installs it)")
	}
	gopath, err := exec.Command("go", "env", "GOPATH").Output()
	if err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(string(bytes.TrimSpace(gopath)), "bin", "protoc-gen-go")
	if _, err := os.Stat(plugin); err != nil {
		t.Skipf("protoc-gen-go not installed at %s (`make deps` installs the pinned version)", plugin)
	}
	out := t.TempDir()
	cmd := exec.Command("../generate.sh", out)
	cmd.Env = append(os.Environ(), "PROTOC_GEN_GO="+plugin)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate: %v\n%s", err, b)
	}
	fresh, _ := filepath.Glob(filepath.Join(out, "*.pb.go"))
	committed, _ := filepath.Glob("*.pb.go")
	if len(fresh) != len(committed) {
		t.Fatalf("generation gives %d files, %d are committed; run make generate", len(fresh), len(committed))
	}
	for _, f := range fresh {
		want, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Base(f))
		if err != nil {
			t.Fatalf("%s is not committed; run make generate", filepath.Base(f))
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generated code; run make generate and commit", filepath.Base(f))
		}
	}
}
