package event

import (
	"testing"
)

// Classifying and rendering arbitrary bytes never panics; what Parse
// accepts, Decode and the renderers handle.
func FuzzParse(f *testing.F) {
	for _, c := range goldenCases() {
		f.Add([]byte(c.raw))
	}
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, raw []byte) {
		ev, err := Parse(raw)
		if err != nil {
			return
		}
		m, err := ev.Decode()
		if err != nil {
			return
		}
		if _, err := AppendJSONLine(nil, ev, m); err != nil {
			t.Fatal(err)
		}
		if _, err := AppendTextLine(nil, ev, m); err != nil {
			t.Fatal(err)
		}
	})
}
