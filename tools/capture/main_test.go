package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/peertape/peertape/format"
)

// TestCaptureShort runs the whole capture for a few seconds: three btcd
// nodes, the all-in-one recorder, traffic, and the installed archive with
// its README. The segments must be complete, carry rpc and p2p events and
// name btcd in their metadata.
func TestCaptureShort(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three btcd nodes and mines 110 blocks (~30 s)")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	// run builds ./cmd/peertape relative to the repository root.
	if err := os.Chdir(filepath.Join(wd, "..", "..")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chdir(wd) })
	out := t.TempDir()
	// runTB exits the process on a fatal error, which fails this test too.
	rt := newRunTB()
	defer rt.cleanup()
	if err := run(rt, out, 8*time.Second, 7, ""); err != nil {
		t.Fatal(err)
	}
	files, err := format.Expand([]string{filepath.Join(out, "archive")})
	if err != nil || len(files) == 0 {
		t.Fatalf("archive: %v, %d files", err, len(files))
	}
	kinds := map[string]uint64{}
	for _, f := range files {
		s, err := format.Summarize(f)
		if err != nil {
			t.Fatal(err)
		}
		if !s.Complete || s.Implementation != "btcd" || s.Network != "regtest" || s.Node != "btcd-regtest-a" {
			t.Errorf("%s: complete %v, node %q, %q on %q", f, s.Complete, s.Node, s.Implementation, s.Network)
		}
		for k, n := range s.Kinds {
			kinds[k] += n
		}
	}
	if kinds["rpc"] == 0 || kinds["p2p"] == 0 || len(kinds) != 2 {
		t.Errorf("kinds %v: want rpc and p2p only", kinds)
	}
	readme, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"go run ./tools/capture -o fixtures/btcd-regtest -duration 8s", "--rpc-password PASSWORD", "127.0.0.1:P2PPORT"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README lacks %q", want)
		}
	}
	if strings.Contains(string(readme), os.TempDir()+"/") {
		t.Error("README names a temporary path")
	}
}
