package log

import (
	"strings"
	"time"

	"github.com/peertape/peertape/proto/pb"
)

// Line is a debug.log line split by Bitcoin Core's line grammar
// (BCLog::Logger::LogPrintStr in Core's logging.cpp):
//
//	TIMESTAMP [ (mocktime: TIMESTAMP)] [THREAD] [FILE:LINE] [FUNCTION] [CATEGORY[:LEVEL]] MESSAGE
//
// TIMESTAMP is ISO 8601 UTC, with microseconds under -logtimemicros. The
// thread bracket appears with -logthreadnames, source location and function
// with -logsourcelocations, and the category/level bracket for categorised
// (debug) messages and for warnings and errors ("[warning]", "[error]",
// "[net:warning]", with -loglevelalways also "[all:info]"). Every bracket
// is optional.
type Line struct {
	// Parsed is false when the line does not start with a timestamp (a
	// continuation line, another program's output, garbage): the whole
	// line is then in Message.
	Parsed bool
	// Micros is the line's timestamp in µs since the epoch; 0 when the
	// timestamp is malformed (for example month 13), as peer-observer does.
	Micros uint64
	// Thread is the first bracket item that is neither a source location
	// nor a category or level (Core prints the thread name first).
	Thread string
	// SourceFile and Function come from -logsourcelocations.
	SourceFile, Function string
	// CategoryName is the category as printed ("net", "validation", ...),
	// Category its peer-observer enum value (UNKNOWN for categories the
	// schema lacks, such as "lock" or "kernel"), Level the level as printed
	// ("debug" when a category is printed alone, as Core implies).
	CategoryName string
	Category     pb.LogDebugCategory
	Level        string
	// Message is the text after the brackets.
	Message string
}

// coreCategories are the names BCLog prints (LOG_CATEGORIES_BY_STR),
// including those peer-observer's enum does not have.
var coreCategories = map[string]bool{
	"net": true, "tor": true, "mempool": true, "http": true, "bench": true, "zmq": true, "walletdb": true,
	"rpc": true, "estimatefee": true, "addrman": true, "selectcoins": true, "reindex": true, "cmpctblock": true,
	"rand": true, "prune": true, "proxy": true, "mempoolrej": true, "libevent": true, "coindb": true, "qt": true,
	"leveldb": true, "validation": true, "i2p": true, "ipc": true, "lock": true, "blockstorage": true,
	"txreconciliation": true, "scan": true, "txpackages": true, "kernel": true, "privatebroadcast": true, "all": true,
}

var levels = map[string]bool{"trace": true, "debug": true, "info": true, "warning": true, "error": true}

// ParseLine splits a line (without its newline) by the grammar above. It
// never fails: what does not fit stays in Message.
func ParseLine(s string) Line {
	s = strings.TrimRight(s, "\r\n")
	ts, rest, ok := cutTimestamp(s)
	if !ok {
		return Line{Message: s}
	}
	l := Line{Parsed: true}
	if t, err := time.Parse(time.RFC3339Nano, ts); err == nil && t.Unix() >= 0 {
		l.Micros = uint64(t.UnixMicro())
	}
	rest = strings.TrimLeft(rest, " \t")
	// Core appends " (mocktime: ...)" to the timestamp under setmocktime.
	if strings.HasPrefix(rest, "(mocktime: ") {
		if end := strings.IndexByte(rest, ')'); end >= 0 {
			rest = strings.TrimLeft(rest[end+1:], " \t")
		}
	}
	var items []string
	for strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			break
		}
		item := rest[1:end]
		// A bracket with spaces is message text (for example a wallet
		// name: "[default wallet] Releasing wallet"), and so is one not
		// followed by a space.
		if item == "" || strings.ContainsAny(item, " \t") || (end+1 < len(rest) && rest[end+1] != ' ' && rest[end+1] != '\t') {
			break
		}
		items = append(items, item)
		rest = strings.TrimLeft(rest[end+1:], " \t")
	}
	l.Message = rest
	// The category/level bracket is the last one (GetLogPrefix is inserted
	// first, so it ends up right before the message).
	if n := len(items); n > 0 {
		if cat, lvl, ok := categoryLevel(items[n-1]); ok {
			l.CategoryName, l.Level = cat, lvl
			l.Category = categoryEnum(cat)
			items = items[:n-1]
		}
	}
	for i := 0; i < len(items); i++ {
		if isSourceLocation(items[i]) {
			l.SourceFile = items[i]
			if i+1 < len(items) {
				l.Function = items[i+1]
				i++
			}
			continue
		}
		if l.Thread == "" {
			l.Thread = items[i]
		}
	}
	return l
}

// cutTimestamp takes "YYYY-MM-DDTHH:MM:SS[.fraction]Z" followed by a space
// off the start of s.
func cutTimestamp(s string) (ts, rest string, ok bool) {
	const base = len("2006-01-02T15:04:05")
	if len(s) < base+2 {
		return "", "", false
	}
	for i := 0; i < base; i++ {
		c := s[i]
		switch i {
		case 4, 7:
			if c != '-' {
				return "", "", false
			}
		case 10:
			if c != 'T' {
				return "", "", false
			}
		case 13, 16:
			if c != ':' {
				return "", "", false
			}
		default:
			if c < '0' || c > '9' {
				return "", "", false
			}
		}
	}
	i := base
	if s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i+1 || j-i-1 > 9 {
			return "", "", false
		}
		i = j
	}
	if i >= len(s) || s[i] != 'Z' {
		return "", "", false
	}
	i++
	if i < len(s) && s[i] != ' ' && s[i] != '\t' {
		return "", "", false
	}
	return s[:i], s[i:], true
}

// categoryLevel recognises "category", "category:level" and a level alone.
func categoryLevel(item string) (cat, level string, ok bool) {
	c, l, hasLevel := strings.Cut(item, ":")
	c, l = strings.ToLower(c), strings.ToLower(l)
	switch {
	case hasLevel && levels[l] && (coreCategories[c] || knownEnum(c)):
		return c, l, true
	case !hasLevel && (coreCategories[c] || knownEnum(c)):
		return c, "debug", true // with a category, Debug is implied
	case !hasLevel && levels[c]:
		return "", c, true // "[warning]", "[error]": no category
	}
	return "", "", false
}

func knownEnum(name string) bool {
	_, ok := pb.LogDebugCategory_value[strings.ToUpper(name)]
	return ok && name != "unknown"
}

func categoryEnum(name string) pb.LogDebugCategory {
	if v, ok := pb.LogDebugCategory_value[strings.ToUpper(name)]; ok {
		return pb.LogDebugCategory(v)
	}
	return pb.LogDebugCategory_UNKNOWN
}

// isSourceLocation recognises -logsourcelocations' "file.cpp:123".
func isSourceLocation(item string) bool {
	file, line, ok := strings.Cut(item, ":")
	if !ok || line == "" || file == "" {
		return false
	}
	for _, c := range line {
		if c < '0' || c > '9' {
			return false
		}
	}
	return strings.HasSuffix(file, ".cpp") || strings.HasSuffix(file, ".h") || strings.HasSuffix(file, ".c")
}
