package sanitize

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
)

// TestFuzzSeeds writes the seed corpora under testdata/fuzz with -update
// (the events come from the place table and the realistic mix, so they
// track the schemas) and otherwise checks that they exist.
func TestFuzzSeeds(t *testing.T) {
	seeds := map[string][]string{}
	for _, p := range places() {
		if p.orig == "" {
			continue
		}
		raw, err := proto.MarshalOptions{AllowPartial: true, Deterministic: true}.Marshal(p.mk(p.orig))
		if err != nil {
			t.Fatal(err)
		}
		seeds["FuzzSanitizeEvent"] = append(seeds["FuzzSanitizeEvent"], fmt.Sprintf("[]byte(%q)\n", raw))
		seeds["FuzzScanText"] = append(seeds["FuzzScanText"], fmt.Sprintf("string(%q)\n", p.orig))
	}
	for _, ev := range realisticMix(t, 12) {
		seeds["FuzzSanitizeEvent"] = append(seeds["FuzzSanitizeEvent"], fmt.Sprintf("[]byte(%q)\n", ev.Raw))
	}
	for i, ev := range fastCorpus(t) {
		if i%150 == 0 {
			seeds["FuzzFastPath"] = append(seeds["FuzzFastPath"], fmt.Sprintf("[]byte(%q)\n", ev.Raw))
		}
	}
	seeds["FuzzWalkPayload"] = []string{
		fmt.Sprintf("byte('\\x00')\n[]byte(%q)\n", btcdAddrPayload(t, v4a, v6a, cjdnsA)),
		fmt.Sprintf("byte('\\x01')\n[]byte(%q)\n", append([]byte{2}, append(addrV2Entry(1, 4, make([]byte, 32), 8333), addrV2Entry(2, 6, make([]byte, 16), 1)...)...)),
		fmt.Sprintf("byte('\\x02')\n[]byte(%q)\n", make([]byte, 86)),
	}
	for name, list := range seeds {
		dir := filepath.Join("testdata", "fuzz", name)
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i, s := range list {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%02d", i)), []byte("go test fuzz v1\n"+s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		files, _ := filepath.Glob(filepath.Join(dir, "seed-*"))
		if len(files) < len(list) {
			t.Errorf("%s: %d seed files, want %d (run with -update)", dir, len(files), len(list))
		}
	}
}
