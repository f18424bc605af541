// Package bpf holds peertape's BPF programs for Bitcoin Core's USDT
// tracepoints, compiled ahead of time: tracing.bpf.c is built by bpf2go into
// tracing_bpfel.o (embedded) and tracing_bpfel.go (loader and the Go
// mirrors of the C record types), both committed so that `go build` needs
// no clang. `make generate` (go generate ./bpf) rebuilds them, and
// TestGeneratedCurrent fails when the committed files are stale.
//
// The USDT side (finding probes in an ELF file, turning their argument
// specs into what the BPF programs read) is in the usdt subpackage; this
// package converts those specs into the usdt_specs map entries.
package bpf

//go:generate go run github.com/cilium/ebpf/cmd/bpf2go -target bpfel -type rec_hdr -type net_msg -type net_conn -type net_misbehaving -type mempool_added -type mempool_removed -type mempool_replaced -type mempool_rejected -type block_connected -type usdt_args -type usdt_spec -type usdt_arg -type rec_type -type rec_flag -type drop_reason -type usdt_arg_kind Tracing tracing.bpf.c -- -I./include -Wall -Werror
//go:generate sh -c "clang --version | head -n 1 > tracing_bpfel.clang"
