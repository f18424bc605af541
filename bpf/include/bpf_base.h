/* SPDX-License-Identifier: (MIT OR GPL-2.0) */
/*
 * The few kernel ABI facts peertape's BPF programs need, written out here so
 * the build depends on nothing but clang: fixed-width types, the helper
 * numbers from the kernel's bpf.h helper list, map type numbers and the
 * BTF-style map definition macros cilium/ebpf understands.
 *
 * No CO-RE and no vmlinux.h: USDT programs only read struct pt_regs through
 * byte offsets that the Go loader computes per architecture, so the object
 * loads on kernels without BTF.
 */
#ifndef PEERTAPE_BPF_BASE_H
#define PEERTAPE_BPF_BASE_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name

/* enum bpf_map_type */
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_RINGBUF 27

/* Helper numbers (enum bpf_func_id). */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static __u64 (*bpf_get_current_pid_tgid)(void) = (void *)14;
static long (*bpf_probe_read_user)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)112;
static long (*bpf_probe_read_kernel)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)113;
static long (*bpf_probe_read_user_str)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)114;
static __u64 (*bpf_ktime_get_boot_ns)(void) = (void *)125;
static void *(*bpf_ringbuf_reserve)(void *ringbuf, __u64 size, __u64 flags) = (void *)131;
static void (*bpf_ringbuf_submit)(void *data, __u64 flags) = (void *)132;
static __u64 (*bpf_ringbuf_query)(void *ringbuf, __u64 flags) = (void *)134;
static __u64 (*bpf_get_attach_cookie)(void *ctx) = (void *)174;

/* bpf_ringbuf_submit flags and bpf_ringbuf_query selectors. */
#define BPF_RB_NO_WAKEUP (1ULL << 0)
#define BPF_RB_FORCE_WAKEUP (1ULL << 1)
#define BPF_RB_AVAIL_DATA 0

/* Opaque: the programs never dereference it, they read registers at byte
 * offsets supplied by the loader. */
struct pt_regs;

#endif
