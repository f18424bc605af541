package format

import (
	"fmt"
	"strings"
)

// CorruptError reports damage found in a file: where it is and why. Every
// other frame of the file stays readable; Recover consumes these errors to
// decide what to keep.
type CorruptError struct {
	Path string
	// Frame is the ordinal of the data frame (0-based), or -1 when the
	// damage is outside data frames (metadata, index, trailer, garbage).
	Frame int
	// Offset is the file offset of the damaged frame or bytes.
	Offset int64
	// RawOffset is the offset in the frame's decompressed bytes where
	// decoding failed, or -1.
	RawOffset int64
	Err       error
}

func (e *CorruptError) Error() string {
	var b strings.Builder
	b.WriteString(e.Path)
	if e.Frame >= 0 {
		fmt.Fprintf(&b, ": frame %d at offset %d", e.Frame, e.Offset)
	} else {
		fmt.Fprintf(&b, ": offset %d", e.Offset)
	}
	if e.RawOffset >= 0 {
		fmt.Fprintf(&b, " (decompressed byte %d)", e.RawOffset)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

// Unwrap returns the cause.
func (e *CorruptError) Unwrap() error { return e.Err }
