package bpf

import (
	"fmt"

	"github.com/peertape/peertape/bpf/usdt"
)

// Limits shared with tracing.bpf.c.
const (
	// MaxArgs is the number of arguments a usdt_specs entry can describe.
	MaxArgs = len(TracingUsdtSpec{}.Args)
	// MaxSpecs is the number of usdt_specs entries, and so the number of
	// probe sites one loaded collection can serve at a time. Attach
	// cookies index this map.
	MaxSpecs = 256
	// MaxMessageSize is the largest P2P message payload the BPF programs
	// copy whole (the largest size class). Larger messages arrive flagged
	// FLAG_OVERSIZED, without payload.
	MaxMessageSize = 4 << 20
	// BigMessageSize is the smallest payload that travels on the "big"
	// ring buffer; smaller ones share the "events" ring.
	BigMessageSize = 65536 + 1
)

// noReg marks a memory operand without base register (USDT_NO_REG).
const noReg = 0xffff

// ArgSpec converts a probe site's parsed arguments into the usdt_specs map
// value that the BPF programs evaluate. id is stored for diagnostics. It
// fails when the probe's argument string could not be parsed or has more
// arguments than a spec holds.
func ArgSpec(p usdt.Probe, id uint32) (TracingUsdtSpec, error) {
	var s TracingUsdtSpec
	if p.ArgsErr != nil {
		return s, fmt.Errorf("probe %s at %#x: arguments %q: %w", p, p.PC, p.ArgSpec, p.ArgsErr)
	}
	if len(p.Args) > MaxArgs {
		return s, fmt.Errorf("probe %s at %#x: %d arguments, at most %d supported", p, p.PC, len(p.Args), MaxArgs)
	}
	s.Nargs = uint32(len(p.Args))
	s.ProbeId = id
	for i, a := range p.Args {
		out := &s.Args[i]
		out.Size = uint8(a.Size)
		if a.Signed {
			out.IsSigned = 1
		}
		out.Value = a.Value
		switch a.Kind {
		case usdt.ArgConst:
			out.Kind = uint8(TracingUsdtArgKindUSDT_ARG_CONST)
		case usdt.ArgReg:
			out.Kind = uint8(TracingUsdtArgKindUSDT_ARG_REG)
			out.BaseOff = a.Base.Offset
		case usdt.ArgMem:
			out.Kind = uint8(TracingUsdtArgKindUSDT_ARG_MEM)
			out.BaseOff = noReg
			if a.HasBase {
				out.BaseOff = a.Base.Offset
			}
			if a.Scale != 0 {
				out.IndexOff = a.Index.Offset
				out.Scale = a.Scale
			}
		default:
			return s, fmt.Errorf("probe %s: argument %d %q: unknown kind %v", p, i+1, a.Spec, a.Kind)
		}
	}
	return s, nil
}
