package edit

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/peertape/peertape/sanitize/sanitizetest"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpora under testdata/fuzz")

// TestFuzzSeeds writes the seed corpus of FuzzPeersMatch with -update (one
// event of every place of the synthetic stream) and otherwise checks that
// it exists.
func TestFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzPeersMatch")
	evs := sanitizetest.Events(40, 3, t0, sanitizetest.Options{})
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, ev := range evs {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte(fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", ev.Raw)), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
	if len(files) < len(evs) {
		t.Fatalf("%s: %d seed files, want %d (run with -update)", dir, len(files), len(evs))
	}
}
