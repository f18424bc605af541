package event

import (
	"fmt"
	"strings"
)

// Filter selects events by kind and type. A selector is a kind name
// ("netmsg", "rpc") or a kind and a type ("netmsg:inv", "netconn:inbound",
// "mempool:rejected"). An event passes when Only is empty or any Only
// selector matches, and no Exclude selector matches.
type Filter struct {
	only, exclude []selector
	onlySpec      []string
	excludeSpec   []string
}

type selector struct {
	kind Kind
	typ  string // "" matches every type
}

func (s selector) match(ev Event) bool {
	return s.kind == ev.Kind && (s.typ == "" || s.typ == ev.Type)
}

// NewFilter parses only and exclude selectors. Each element may itself be
// a comma-separated list, as flags deliver them.
func NewFilter(only, exclude []string) (*Filter, error) {
	f := &Filter{}
	var err error
	if f.only, f.onlySpec, err = parseSelectors(only); err != nil {
		return nil, err
	}
	if f.exclude, f.excludeSpec, err = parseSelectors(exclude); err != nil {
		return nil, err
	}
	return f, nil
}

func parseSelectors(specs []string) ([]selector, []string, error) {
	var sels []selector
	var norm []string
	for _, spec := range specs {
		for _, s := range strings.Split(spec, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			k, t, _ := strings.Cut(s, ":")
			kind, err := ParseKind(k)
			if err != nil {
				return nil, nil, fmt.Errorf("filter %q: %w", s, err)
			}
			sels = append(sels, selector{kind: kind, typ: t})
			norm = append(norm, selector{kind: kind, typ: t}.String())
		}
	}
	return sels, norm, nil
}

func (s selector) String() string {
	if s.typ == "" {
		return s.kind.String()
	}
	return s.kind.String() + ":" + s.typ
}

// Empty reports whether the filter passes every event. A nil Filter is empty.
func (f *Filter) Empty() bool {
	return f == nil || (len(f.only) == 0 && len(f.exclude) == 0)
}

// Match reports whether ev passes the filter.
func (f *Filter) Match(ev Event) bool {
	if f == nil {
		return true
	}
	if len(f.only) > 0 {
		ok := false
		for _, s := range f.only {
			if s.match(ev) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, s := range f.exclude {
		if s.match(ev) {
			return false
		}
	}
	return true
}

// MatchKind reports whether some event of kind k could pass the filter, so
// that readers can skip whole frames whose kinds all fail it.
func (f *Filter) MatchKind(k Kind) bool {
	if f == nil {
		return true
	}
	if len(f.only) > 0 {
		ok := false
		for _, s := range f.only {
			if s.kind == k {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	for _, s := range f.exclude {
		if s.kind == k && s.typ == "" {
			return false
		}
	}
	return true
}

// PassesAll reports whether every event of kind k passes the filter,
// given the types those events may have (nil when unknown). It is
// conservative: false unless it can be sure, so a reader may copy a whole
// frame of such events without looking at each.
func (f *Filter) PassesAll(k Kind, types map[string]uint64) bool {
	if f.Empty() {
		return true
	}
	if types == nil {
		for _, s := range append(f.only, f.exclude...) {
			if s.kind == k && s.typ != "" {
				return false // a type selector on k: cannot tell without types
			}
		}
		return f.Match(Event{Kind: k})
	}
	for t := range types {
		if !f.Match(Event{Kind: k, Type: t}) {
			return false
		}
	}
	return true
}

// Only returns the normalized only selectors.
func (f *Filter) Only() []string {
	if f == nil {
		return nil
	}
	return f.onlySpec
}

// Exclude returns the normalized exclude selectors.
func (f *Filter) Exclude() []string {
	if f == nil {
		return nil
	}
	return f.excludeSpec
}

// String describes the filter, e.g. "only netmsg:inv,rpc exclude log".
func (f *Filter) String() string {
	if f.Empty() {
		return "all events"
	}
	var parts []string
	if len(f.onlySpec) > 0 {
		parts = append(parts, "only "+strings.Join(f.onlySpec, ","))
	}
	if len(f.excludeSpec) > 0 {
		parts = append(parts, "exclude "+strings.Join(f.excludeSpec, ","))
	}
	return strings.Join(parts, " ")
}
