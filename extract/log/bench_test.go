package log

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkEvent: the whole per-line path (grammar, matchers, event
// encoding) over the mix of the Core fixtures.
func BenchmarkEvent(b *testing.B) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "fixtures", "core", "log", "*.log"))
	var lines [][]byte
	var size int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
			lines = append(lines, []byte(l))
			size += len(l) + 1
		}
	}
	x, err := New(Options{Reader: strings.NewReader("")})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for _, l := range lines {
			if _, err := x.Event(l); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(lines))/b.Elapsed().Seconds(), "lines/s")
}
