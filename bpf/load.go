package bpf

import (
	"errors"
	"fmt"
	"math/bits"
	"os"

	"github.com/cilium/ebpf"
)

// Default ring buffer sizes. The events ring carries every record up to
// 64 KiB of payload (about 35,000 small P2P messages of backlog); the big
// ring holds at least 15 whole 4 MB blocks.
const (
	DefaultEventsRingSize = 16 << 20
	DefaultBigRingSize    = 64 << 20

	minEventsRingSize = 256 << 10
	minBigRingSize    = 8 << 20
)

// LoadOptions sizes the ring buffers. Sizes are rounded up to a power of
// two (a kernel requirement); zero picks the default.
type LoadOptions struct {
	EventsRingSize int
	BigRingSize    int
	// WakeupBytes is how much data must wait in a ring before the BPF
	// programs wake the reader; 0 wakes it whenever it has caught up (the
	// kernel's adaptive default: lowest latency, one wakeup per record
	// under steady load). With a threshold the reader must also poll on a
	// timer, or a quiet ring's records wait until the threshold is met.
	WakeupBytes uint64
}

// RingSizes returns the sizes Load will use for o: defaults filled in,
// rounded up to powers of two, and checked against the minimum that holds
// the largest record of each ring.
func (o LoadOptions) RingSizes() (events, big int, err error) {
	events, big = o.EventsRingSize, o.BigRingSize
	if events == 0 {
		events = DefaultEventsRingSize
	}
	if big == 0 {
		big = DefaultBigRingSize
	}
	events, big = roundPow2(events), roundPow2(big)
	if events < minEventsRingSize {
		return 0, 0, fmt.Errorf("events ring buffer of %d bytes: at least %d needed for 64 KiB messages", events, minEventsRingSize)
	}
	if big < minBigRingSize {
		return 0, 0, fmt.Errorf("big ring buffer of %d bytes: at least %d needed for 4 MB messages", big, minBigRingSize)
	}
	if page := os.Getpagesize(); events < page || big < page {
		return 0, 0, fmt.Errorf("ring buffers must be at least one page (%d bytes)", page)
	}
	return events, big, nil
}

func roundPow2(n int) int {
	if n <= 1 {
		return 1
	}
	return 1 << bits.Len(uint(n-1))
}

// Load loads the programs and maps into the kernel. The caller closes the
// returned objects. A verifier rejection comes back with the verifier log.
func Load(o LoadOptions) (*TracingObjects, error) {
	events, big, err := o.RingSizes()
	if err != nil {
		return nil, err
	}
	spec, err := LoadTracing()
	if err != nil {
		return nil, fmt.Errorf("read embedded BPF object: %w", err)
	}
	spec.Maps[TracingMapEvents].MaxEntries = uint32(events)
	spec.Maps[TracingMapBig].MaxEntries = uint32(big)
	if err := spec.Variables[TracingVarWakeupBytes].Set(o.WakeupBytes); err != nil {
		return nil, fmt.Errorf("set wakeup threshold: %w", err)
	}
	objs := new(TracingObjects)
	if err := spec.LoadAndAssign(objs, nil); err != nil {
		var ve *ebpf.VerifierError
		if errors.As(err, &ve) {
			return nil, fmt.Errorf("load BPF programs: %+v", ve)
		}
		return nil, fmt.Errorf("load BPF programs: %w", err)
	}
	return objs, nil
}
