package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/peertape/peertape/event"
	"github.com/peertape/peertape/format"
	"github.com/peertape/peertape/sanitize"
)

// barFunc returns a progress callback that starts a bar on w (when it is
// a terminal) once the total is known, and a function that finishes it.
func barFunc(w io.Writer, label string) (func(done, total int64), func()) {
	var p *progress
	return func(done, total int64) {
			if p == nil {
				p = newProgress(w, label, total, true)
			}
			p.Set(done)
		}, func() {
			if p != nil {
				p.Done()
			}
		}
}

// sanitizeFlags are the options of `peertape sanitize`.
type sanitizeFlags struct {
	out, keyFile, timeShift, newKey string
	self, dropKinds, original       []string
	dropUnknownPayloads             bool
	dropUnknownFields               bool
	keepPublicData, scrubPorts      bool
	learnSelf, check, asJSON        bool
	level                           int
	frameSize                       byteSize
}

func (f *sanitizeFlags) options() (sanitize.ArchiveOptions, error) {
	o := sanitize.ArchiveOptions{
		Options: sanitize.Options{
			KeepUnknownPayloads: !f.dropUnknownPayloads,
			DropUnknownFields:   f.dropUnknownFields,
			DropPublicData:      !f.keepPublicData,
			ScrubPorts:          f.scrubPorts,
			Self:                f.self,
		},
		ToolVersion: "peertape " + version,
		NoLearnSelf: !f.learnSelf,
		Level:       f.level,
		FrameSize:   int64(f.frameSize),
	}
	if len(f.dropKinds) > 0 {
		dk, err := event.NewFilter(f.dropKinds, nil)
		if err != nil {
			return o, usagef("--drop-kinds: %v", err)
		}
		o.DropKinds = dk
	}
	switch ts := strings.TrimSpace(f.timeShift); ts {
	case "", "0":
	case "keyed":
		o.KeyedTimeShift = true
	default:
		d, err := time.ParseDuration(ts)
		if err != nil || d%time.Millisecond != 0 {
			return o, usagef("--time-shift %q: want keyed or a duration in whole milliseconds like -720h", ts)
		}
		o.TimeShift = d
	}
	return o, nil
}

func init() {
	var f sanitizeFlags
	cmd := &cobra.Command{
		Use:   "sanitize IN... -o OUT --key-file KEY",
		Short: "Replace every address with a keyed pseudonym, for sharing archives",
		Long: `sanitize makes archives safe to publish. Every IP address anywhere in an
event (P2P metadata, connections, version, addr and addrv2 entries and raw
payloads, getpeerinfo, getnetworkinfo, getrawaddrman, p2p-extractor
announcements, debug.log text) becomes a keyed, prefix-preserving pseudonym:
the same address gets the same pseudonym in every file and run with the same
key, and addresses sharing a /N prefix still share one. Tor, I2P and CJDNS
addresses get keyed pseudonyms of the same form. The node's own addresses
(--self, and every getnetworkinfo local address, learned in a first pass over
the input) become fixed placeholders (192.0.2.1, 2001:db8::1, aaaa….onion).

IN may be segments, directories, .partial files and peer-observer archives.
OUT is a directory; each input file becomes one complete segment named
NODE-TIME-SEQ.seg.zst from the sanitized node name and (shifted) creation
time — never the input name, which may carry host names and real times. The
metadata records that the archive is sanitized, the tool version, the
options and the key's fingerprint (never the key); 'peertape info' shows it.

Fields from newer extractors that this build does not know are copied
unchanged (a warning counts them); --drop-unknown-fields removes them and
drops events of unknown kind. Unknown P2P payloads are emptied unless
--drop-unknown-payloads=false.

Keys: 'sanitize --new-key KEYFILE' writes a fresh random key (mode 0600).
The key file must not be readable by group or others. Keep the key secret:
whoever holds it can pseudonymize a guessed address and compare.

Checking: 'sanitize --check OUT... --original IN...' scans every string and
bytes field, unknown field and raw payload of OUT (and its metadata, gaps and
file names) for any address that occurs in IN, prints each leak as
  FILE: event N FIELD.PATH: ADDRESS (text|binary)
(N counts events in FILE from 0; with --json one JSON object per leak) and
exits 1 when there is one, 0 when clean.`,
		Example: `  peertape sanitize --new-key ~/.peertape/sanitize.key
  peertape sanitize recordings/ -o shared/ --key-file ~/.peertape/sanitize.key --time-shift keyed --drop-kinds log
  peertape sanitize --check shared/ --original recordings/`,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case f.newKey != "":
				if len(args) > 0 || f.check {
					return usagef("--new-key takes only the key file")
				}
				k, err := sanitize.NewKey(f.newKey)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote a new key to %s (mode 0600), fingerprint %s\nkeep it secret: it undoes every pseudonym\n", f.newKey, k.Fingerprint())
				return nil
			case f.check:
				return runSanitizeCheck(cmd, args, &f)
			}
			if len(args) == 0 {
				return usagef("give the archives to sanitize")
			}
			if f.out == "" {
				return usagef("-o OUT (a directory) is required")
			}
			if f.keyFile == "" {
				return usagef("--key-file is required (create one with --new-key)")
			}
			o, err := f.options()
			if err != nil {
				return err
			}
			key, err := sanitize.LoadKey(f.keyFile)
			if err != nil {
				return err
			}
			bar, done := barFunc(cmd.ErrOrStderr(), "sanitize")
			o.Progress = bar
			rep, err := sanitize.Archive(cmd.Context(), key, args, f.out, o)
			done()
			if err != nil {
				return err
			}
			if f.asJSON {
				if err := json.NewEncoder(cmd.OutOrStdout()).Encode(rep); err != nil {
					return err
				}
			} else {
				printSanitizeReport(cmd.OutOrStdout(), rep, f.out)
			}
			if n := rep.Problems(); n > 0 {
				return exitCodeError{code: exitError, msg: fmt.Sprintf("%d problems in the input (every readable event was sanitized)", n)}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.out, "output", "o", "", "output directory (created if missing)")
	fl.StringVar(&f.keyFile, "key-file", "", "sanitization key (mode 0600; create with --new-key)")
	fl.StringSliceVar(&f.self, "self", nil, "the node's own addresses (any form, with or without port); they become placeholders")
	fl.StringSliceVar(&f.dropKinds, "drop-kinds", nil, "leave out these kinds or kind:type (e.g. log,netmsg:inv)")
	fl.BoolVar(&f.dropUnknownPayloads, "drop-unknown-payloads", true, "empty the raw payloads of P2P messages of unknown type (they may hide addresses)")
	fl.BoolVar(&f.dropUnknownFields, "drop-unknown-fields", false, "remove protobuf fields this build does not know, and events of unknown kind")
	fl.StringVar(&f.timeShift, "time-shift", "", "move every event time: keyed (1-260 weeks back, derived from the key) or a duration like -720h")
	fl.BoolVar(&f.keepPublicData, "keep-public-data", true, "keep raw transaction and block bytes (public anyway)")
	fl.BoolVar(&f.scrubPorts, "scrub-ports", false, "set every port to 0")
	fl.BoolVar(&f.learnSelf, "learn-self", true, "first read the input for the node's own addresses (getnetworkinfo)")
	fl.IntVar(&f.level, "level", format.DefaultLevel, "zstd compression level 1..22")
	fl.BoolVar(&f.asJSON, "json", false, "print a JSON report")
	fl.BoolVar(&f.check, "check", false, "check sanitized archives (the arguments) for addresses of --original")
	fl.StringSliceVar(&f.original, "original", nil, "with --check: the archives that were sanitized")
	fl.StringVar(&f.newKey, "new-key", "", "write a fresh random key to this file (mode 0600) and exit")
	addFrameSizeFlag(cmd, &f.frameSize)
	rootCmd.AddCommand(cmd)
}

func printSanitizeReport(w io.Writer, rep *sanitize.ArchiveReport, out string) {
	var in, written uint64
	for _, fr := range rep.Files {
		in += fr.EventsIn
		written += fr.EventsOut
	}
	fmt.Fprintf(w, "sanitized %d files, %s events -> %s events in %s (key %s)\n",
		len(rep.Files), formatCount(in), formatCount(written), out, rep.KeyFingerprint)
	for _, fr := range rep.Files {
		fmt.Fprintf(w, "  %s -> %s: %s events", fr.Input, fr.Output, formatCount(fr.EventsOut))
		if d := fr.EventsIn - fr.EventsOut - fr.Unreadable; d > 0 {
			fmt.Fprintf(w, " (%s dropped by options)", formatCount(d))
		}
		if fr.Unreadable > 0 {
			fmt.Fprintf(w, " (%s unreadable, left out)", formatCount(fr.Unreadable))
		}
		if fr.DroppedBytes > 0 {
			fmt.Fprintf(w, " (input torn: %d bytes)", fr.DroppedBytes)
		}
		fmt.Fprintln(w)
		for _, p := range fr.Problems {
			fmt.Fprintf(w, "    %s\n", p)
		}
	}
	st := rep.Stats
	fmt.Fprintf(w, "self addresses: %d given, %d learned from getnetworkinfo\n", rep.SelfGiven, rep.SelfLearned)
	fmt.Fprintf(w, "addresses replaced: %s; payloads rewritten: %s, emptied: %s",
		formatCount(st.Addresses), formatCount(st.PayloadsRewritten), formatCount(st.PayloadsDropped))
	if st.UnknownFieldEvents > 0 {
		fmt.Fprintf(w, "; events with unknown fields: %s", formatCount(st.UnknownFieldEvents))
	}
	if st.UnknownKindDropped > 0 {
		fmt.Fprintf(w, "; unknown-kind events dropped: %s", formatCount(st.UnknownKindDropped))
	}
	fmt.Fprintln(w)
}

func runSanitizeCheck(cmd *cobra.Command, args []string, f *sanitizeFlags) error {
	if len(args) == 0 || len(f.original) == 0 {
		return usagef("--check needs the sanitized archives as arguments and --original IN")
	}
	out := cmd.OutOrStdout()
	enc := json.NewEncoder(out)
	bar, done := barFunc(cmd.ErrOrStderr(), "check")
	rep, err := sanitize.CheckArchive(cmd.Context(), args, f.original, sanitize.CheckOptions{
		Progress: bar,
		OnLeak: func(l sanitize.FileLeak) {
			if f.asJSON {
				enc.Encode(l)
				return
			}
			fmt.Fprintln(out, l.String())
		},
	})
	done()
	if err != nil {
		return err
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(cmd.ErrOrStderr(), "peertape: %s\n", p)
	}
	if rep.MoreProblems > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "peertape: and %d more problems\n", rep.MoreProblems)
	}
	summary := fmt.Sprintf("checked %s events in %d files against %s addresses of the originals: %s leaks",
		formatCount(rep.Events), rep.Files, formatCount(uint64(rep.Addresses)), formatCount(rep.Leaks))
	if rep.Leaks > 0 {
		return exitCodeError{code: exitError, msg: summary}
	}
	fmt.Fprintln(cmd.ErrOrStderr(), summary)
	return nil
}
