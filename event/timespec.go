package event

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// TimeSpec is a point in event time as a user writes it on the command
// line: an RFC 3339 time ("2026-04-07T09:07:13Z"), milliseconds since the
// epoch ("1775552833133"), or an offset from the start of the archive
// ("+10m", "+1h30m"). Offsets are resolved once the archive's first event
// time is known. The zero TimeSpec is unset.
type TimeSpec struct {
	set    bool
	rel    bool
	abs    int64 // ms since the epoch
	offset time.Duration
}

// ParseTimeSpec parses s; the empty string gives the unset TimeSpec.
func ParseTimeSpec(s string) (TimeSpec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return TimeSpec{}, nil
	}
	if strings.HasPrefix(s, "+") {
		d, err := time.ParseDuration(s[1:])
		if err != nil || d < 0 {
			return TimeSpec{}, fmt.Errorf("time %q: want RFC 3339, epoch milliseconds or an offset like +10m", s)
		}
		return TimeSpec{set: true, rel: true, offset: d}, nil
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return TimeSpec{set: true, abs: ms}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return TimeSpec{set: true, abs: t.UnixMilli()}, nil
		}
	}
	return TimeSpec{}, fmt.Errorf("time %q: want RFC 3339, epoch milliseconds or an offset like +10m", s)
}

// AbsTime returns the TimeSpec for an absolute event time in ms.
func AbsTime(ms int64) TimeSpec { return TimeSpec{set: true, abs: ms} }

// IsSet reports whether the TimeSpec was given.
func (t TimeSpec) IsSet() bool { return t.set }

// Relative reports whether the TimeSpec is an offset from the archive start.
func (t TimeSpec) Relative() bool { return t.rel }

// Resolve returns the time in ms since the epoch; start is the first event
// time of the archive, used for offsets.
func (t TimeSpec) Resolve(start int64) int64 {
	if t.rel {
		return start + t.offset.Milliseconds()
	}
	return t.abs
}

// String returns the spec in the form ParseTimeSpec accepts.
func (t TimeSpec) String() string {
	switch {
	case !t.set:
		return ""
	case t.rel:
		return "+" + t.offset.String()
	default:
		return FormatTime(t.abs)
	}
}

// FormatTime renders an event time (ms) as RFC 3339 in UTC with
// millisecond precision.
func FormatTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}
