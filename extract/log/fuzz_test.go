package log

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/proto/pb"
)

// FuzzParseLine: any line parses without panicking into an event that
// encodes, and nothing of it is lost: an unparsed line keeps its whole
// text, a parsed one keeps its message as a suffix of the line.
func FuzzParseLine(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "fixtures", "core", "log", "*.log"))
	for _, file := range files {
		b, _ := os.ReadFile(file)
		for _, l := range strings.Split(string(b), "\n") {
			f.Add(l)
		}
	}
	for _, m := range Matchers {
		for _, ex := range m.Examples {
			f.Add(ex)
		}
	}
	f.Fuzz(func(t *testing.T, line string) {
		l := ParseLine(line)
		trimmed := strings.TrimRight(line, "\r\n")
		if !l.Parsed && l.Message != trimmed {
			t.Fatalf("unparsed line lost text: %q -> %q", line, l.Message)
		}
		if l.Parsed && !strings.HasSuffix(trimmed, l.Message) {
			t.Fatalf("message %q is not the end of %q", l.Message, line)
		}
		if _, ok := pb.LogDebugCategory_name[int32(l.Category)]; !ok {
			t.Fatalf("category %d outside the enum", l.Category)
		}
		msg, _ := ToLog(l)
		if _, err := event.New(&pb.Event{Timestamp: proto.Uint64(1), PeerObserverEvent: &pb.Event_LogExtractor{LogExtractor: msg}}); err != nil {
			t.Fatalf("%q: event does not encode: %v", line, err)
		}
		if cb, ok := ParseCompactBlock(l.Message); ok && cb.Kind == "" {
			t.Fatal("compact block line without a kind")
		}
	})
}
