package sanitize

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/peertape/peertape/format"
)

// FileLeak is one address of the original archive found in a sanitized
// file.
type FileLeak struct {
	File string `json:"file"`
	// Record is the ordinal of the event in File (0 is the first event),
	// or -1 for the file name, metadata and gaps.
	Record  int64  `json:"record"`
	Path    string `json:"path"` // field path, e.g. ebpf_extractor.message.meta.addr, meta.source, gaps[0].reason
	Address string `json:"address"`
	Form    string `json:"form"` // "text" or "binary"
}

// String formats the leak as "FILE: event N PATH: ADDRESS (FORM)", or
// "FILE: PATH: ADDRESS (FORM)" outside events.
func (l FileLeak) String() string {
	where := l.Path
	if l.Record >= 0 {
		where = "event " + strconv.FormatInt(l.Record, 10) + " " + l.Path
	}
	return fmt.Sprintf("%s: %s: %s (%s)", l.File, where, l.Address, l.Form)
}

// CheckOptions configure CheckArchive.
type CheckOptions struct {
	// OnLeak receives each leak as it is found (the report only counts
	// them, so that a badly leaking archive does not fill memory).
	OnLeak func(FileLeak)
	// Progress is called now and then with the bytes read so far and in
	// total (originals and sanitized files).
	Progress func(done, total int64)
}

// CheckReport summarizes CheckArchive.
type CheckReport struct {
	Addresses int    `json:"addresses"` // distinct addresses collected from the originals
	Files     int    `json:"files"`     // sanitized files scanned
	Events    uint64 `json:"events"`    // sanitized events scanned
	Leaks     uint64 `json:"leaks"`
	// Problems lists records that did not decode (originals: their bytes
	// were scanned as text instead; sanitized files: scanned as text and
	// reported, since a sanitizer never writes them) and damage.
	Problems []string `json:"problems,omitempty"`
	// MoreProblems counts problems beyond the first maxProblems.
	MoreProblems int `json:"more_problems,omitempty"`
}

// maxProblems bounds CheckReport.Problems: a file of garbage must not
// fill memory with messages.
const maxProblems = 100

func (r *CheckReport) problem(msg string) {
	if len(r.Problems) >= maxProblems {
		r.MoreProblems++
		return
	}
	r.Problems = append(r.Problems, msg)
}

// CheckArchive looks for every address that occurs in the originals
// (events, metadata and gaps; see AddressSet.Add for how thoroughly) in
// the sanitized files: in every string and bytes field, unknown field and
// raw payload of every event, in the metadata, the gaps and the file
// names. It streams both; memory grows with the number of distinct
// addresses in the originals, not with their size.
func CheckArchive(ctx context.Context, sanitized, originals []string, o CheckOptions) (*CheckReport, error) {
	orig, err := format.Expand(originals)
	if err != nil {
		return nil, err
	}
	san, err := format.Expand(sanitized)
	if err != nil {
		return nil, err
	}
	var total int64
	for _, f := range append(append([]string(nil), orig...), san...) {
		if st, err := os.Stat(f); err == nil {
			total += st.Size()
		}
	}
	prog := &progressCounter{fn: o.Progress, total: total}
	rep := &CheckReport{}
	set := NewAddressSet()
	for _, f := range orig {
		if err := collectFile(ctx, set, f, rep, prog); err != nil {
			return rep, err
		}
	}
	rep.Addresses = set.Len()
	leak := func(l FileLeak) {
		rep.Leaks++
		if o.OnLeak != nil {
			o.OnLeak(l)
		}
	}
	for _, f := range san {
		if err := checkFile(ctx, set, f, rep, leak, prog); err != nil {
			return rep, err
		}
		rep.Files++
	}
	return rep, nil
}

func collectFile(ctx context.Context, set *AddressSet, path string, rep *CheckReport, prog *progressCounter) error {
	r, err := format.Open(path)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer r.Close()
	set.AddMessage(r.Meta())
	var ordinal int64
	for r.Next() {
		if ordinal%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			prog.at(r.Offset())
		}
		ev := r.RawEvent()
		if err := set.Add(ev); err != nil {
			set.AddText(string(ev.Raw))
			rep.problem(fmt.Sprintf("%s: event %d does not decode; its bytes were scanned as text", path, ordinal))
		}
		ordinal++
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("check: read %s: %w", path, err)
	}
	for _, g := range r.Gaps() {
		set.AddMessage(g)
	}
	for _, p := range r.Problems() {
		rep.problem(p.Error())
	}
	prog.fileDone(path)
	return nil
}

func checkFile(ctx context.Context, set *AddressSet, path string, rep *CheckReport, leak func(FileLeak), prog *progressCounter) error {
	for _, a := range set.TextHits(filepath.Base(path)) {
		leak(FileLeak{File: path, Record: -1, Path: "file name", Address: a, Form: "text"})
	}
	r, err := format.Open(path)
	if err != nil {
		return fmt.Errorf("check: %w", err)
	}
	defer r.Close()
	for _, l := range set.CheckMessage("meta", r.Meta()) {
		leak(FileLeak{File: path, Record: -1, Path: l.Path, Address: l.Address, Form: l.Form})
	}
	var ordinal int64
	for r.Next() {
		if ordinal%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			prog.at(r.Offset())
		}
		ev := r.RawEvent()
		leaks, err := set.Check(uint64(ordinal), ev)
		if err != nil {
			rep.problem(fmt.Sprintf("%s: event %d does not decode (a sanitizer never writes that); its bytes were scanned as text", path, ordinal))
			for _, a := range set.TextHits(string(ev.Raw)) {
				leak(FileLeak{File: path, Record: ordinal, Path: "<undecodable record>", Address: a, Form: "text"})
			}
		}
		for _, l := range leaks {
			leak(FileLeak{File: path, Record: ordinal, Path: l.Path, Address: l.Address, Form: l.Form})
		}
		rep.Events++
		ordinal++
	}
	if err := r.Err(); err != nil {
		return fmt.Errorf("check: read %s: %w", path, err)
	}
	for i, g := range r.Gaps() {
		for _, l := range set.CheckMessage(fmt.Sprintf("gaps[%d]", i), g) {
			leak(FileLeak{File: path, Record: -1, Path: l.Path, Address: l.Address, Form: l.Form})
		}
	}
	for _, p := range r.Problems() {
		rep.problem(p.Error())
	}
	prog.fileDone(path)
	return nil
}
