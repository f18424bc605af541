//go:build ignore

// SPDX-License-Identifier: (MIT OR GPL-2.0)
//
// BPF side of peertape's eBPF extractor: one uprobe program per Bitcoin Core
// USDT tracepoint. Each program fetches the tracepoint's arguments with the
// generic USDT argument reader below (driven by the per-probe argument specs
// the Go loader writes into usdt_specs, keyed by the attach cookie), copies
// strings, hashes and message payloads out of the traced process, and hands
// one record per event to user space through a ring buffer.
//
// Records start with struct rec_hdr. P2P messages are reserved in payload
// size classes so that every message Core can send (up to 4,000,000 bytes)
// arrives whole: classes up to 64 KiB share the "events" ring with every
// other event, larger ones use the "big" ring so that a burst of blocks
// cannot crowd out small events.
//
// String buffers are sized for the longest real values (see the *_LEN
// constants); a string that still does not fit is cut and flagged, never
// silently shortened.

#include "include/bpf_base.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

// ---------------------------------------------------------------------------
// Generic USDT argument fetching.

#define USDT_MAX_ARGS 12
#define USDT_MAX_SPECS 256
// No base register: the memory operand is an absolute address.
#define USDT_NO_REG 0xffff
// Largest register offset the loader may ask for: the end of arm64's
// user_pt_regs (x86-64's pt_regs is smaller). Bounds the kernel read.
#define PT_REGS_MAX_OFF 264

enum usdt_arg_kind {
	USDT_ARG_NONE = 0,
	USDT_ARG_CONST = 1, // value is the argument
	USDT_ARG_REG = 2,   // the argument is in a register
	USDT_ARG_MEM = 3,   // the argument is in memory at base + index*scale + value
};

struct usdt_arg {
	__s64 value;     // constant, or displacement of a memory operand
	__u16 base_off;  // pt_regs byte offset of the (base) register
	__u16 index_off; // pt_regs byte offset of the index register (scale != 0)
	__u8 kind;       // enum usdt_arg_kind
	__u8 size;       // 1, 2, 4 or 8 bytes
	__u8 is_signed;  // sign-extend (negative size in the note)
	__u8 scale;      // 0: no index register; else 1, 2, 4 or 8
};

struct usdt_spec {
	__u32 nargs;
	__u32 probe_id; // loader's index of the probe site, for diagnostics
	struct usdt_arg args[USDT_MAX_ARGS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, USDT_MAX_SPECS);
	__type(key, __u32);
	__type(value, struct usdt_spec);
} usdt_specs SEC(".maps");

static __always_inline int read_reg(struct pt_regs *ctx, __u16 off, __u64 *v)
{
	if (off > PT_REGS_MAX_OFF || (off & 7))
		return -1;
	return bpf_probe_read_kernel(v, sizeof(*v), (char *)ctx + off);
}

// usdt_arg stores argument i of the probe described by s in *out, sign- or
// zero-extended to 64 bits as the note's size says. Returns 0 on success.
static __always_inline int usdt_arg(struct pt_regs *ctx, const struct usdt_spec *s, __u32 i, __u64 *out)
{
	const struct usdt_arg *a;
	__u64 v = 0;

	if (i >= USDT_MAX_ARGS || i >= s->nargs)
		return -1;
	a = &s->args[i];
	switch (a->kind) {
	case USDT_ARG_CONST:
		v = a->value;
		break;
	case USDT_ARG_REG:
		if (read_reg(ctx, a->base_off, &v))
			return -1;
		break;
	case USDT_ARG_MEM: {
		__u64 addr = 0, idx = 0;
		long err;

		if (a->base_off != USDT_NO_REG && read_reg(ctx, a->base_off, &addr))
			return -1;
		if (a->scale) {
			if (read_reg(ctx, a->index_off, &idx))
				return -1;
			addr += idx * a->scale;
		}
		addr += a->value;
		switch (a->size) {
		case 1:
			err = bpf_probe_read_user(&v, 1, (void *)addr);
			break;
		case 2:
			err = bpf_probe_read_user(&v, 2, (void *)addr);
			break;
		case 4:
			err = bpf_probe_read_user(&v, 4, (void *)addr);
			break;
		case 8:
			err = bpf_probe_read_user(&v, 8, (void *)addr);
			break;
		default:
			return -1;
		}
		if (err)
			return -1;
		break;
	}
	default:
		return -1;
	}
	switch (a->size) {
	case 1:
		v = a->is_signed ? (__u64)(__s64)(__s8)v : (__u64)(__u8)v;
		break;
	case 2:
		v = a->is_signed ? (__u64)(__s64)(__s16)v : (__u64)(__u16)v;
		break;
	case 4:
		v = a->is_signed ? (__u64)(__s64)(__s32)v : (__u64)(__u32)v;
		break;
	case 8:
		break;
	default:
		return -1;
	}
	*out = v;
	return 0;
}

// ---------------------------------------------------------------------------
// Records.

// String buffer sizes, each including the terminating NUL. peer-observer
// uses 68/20/12/128/9/113; these hold the longest values Core produces
// (a TorV3 host with a 5-digit port is 68 characters, "getcfcheckpt" 12,
// "sizelimit" 9, reject reasons up to 118) with room to spare.
#define ADDR_LEN 128
#define CONN_TYPE_LEN 32
#define MSG_TYPE_LEN 16
#define MISBEHAVING_LEN 256
#define REMOVAL_REASON_LEN 32
#define REJECT_REASON_LEN 256

// Payload size classes of P2P message records.
#define MSG_CLASS_0 256
#define MSG_CLASS_1 4096
#define MSG_CLASS_2 65536
#define MSG_CLASS_3 (1 << 20)
#define MSG_CLASS_4 (4 << 20)

enum rec_type {
	REC_NONE = 0,
	REC_NET_INBOUND_MESSAGE = 1,
	REC_NET_OUTBOUND_MESSAGE = 2,
	REC_NET_INBOUND_CONNECTION = 3,
	REC_NET_OUTBOUND_CONNECTION = 4,
	REC_NET_CLOSED_CONNECTION = 5,
	REC_NET_EVICTED_INBOUND_CONNECTION = 6,
	REC_NET_MISBEHAVING_CONNECTION = 7,
	REC_MEMPOOL_ADDED = 8,
	REC_MEMPOOL_REMOVED = 9,
	REC_MEMPOOL_REPLACED = 10,
	REC_MEMPOOL_REJECTED = 11,
	REC_VALIDATION_BLOCK_CONNECTED = 12,
	REC_USDT_ARGS = 13, // raw argument values (handle_usdt_args), for diagnostics and tests
	REC_TYPE_COUNT = 14,
};

enum rec_flag {
	FLAG_READ_ERROR = 1 << 0,       // a string, hash or payload could not be read
	FLAG_OVERSIZED = 1 << 1,        // message larger than the largest class: no payload
	FLAG_TRUNC_ADDR = 1 << 2,       // addr did not fit ADDR_LEN
	FLAG_TRUNC_CONN_TYPE = 1 << 3,  // conn_type did not fit CONN_TYPE_LEN
	FLAG_TRUNC_MSG_TYPE = 1 << 4,   // msg_type did not fit MSG_TYPE_LEN
	FLAG_TRUNC_REASON = 1 << 5,     // reason/message string did not fit its buffer
};

// Why a probe hit produced no record (index into the drops map together
// with the record type).
enum drop_reason {
	DROP_RING_FULL = 0, // bpf_ringbuf_reserve failed: user space too slow
	DROP_NO_SPEC = 1,   // no argument spec for the attach cookie
	DROP_BAD_ARG = 2,   // an argument could not be fetched
	DROP_REASON_COUNT = 3,
};

struct rec_hdr {
	__u64 ts_ns; // bpf_ktime_get_boot_ns() at the probe
	__u32 pid;   // process (tgid) that hit the probe
	__u16 type;  // enum rec_type
	__u16 flags; // enum rec_flag bits
};

struct net_msg {
	struct rec_hdr hdr;
	__s64 peer_id;
	__u64 msg_size;    // message size as the tracepoint passed it
	__u32 payload_len; // bytes of payload that follow (0 if oversized or unreadable)
	__u32 class_size;  // payload capacity of this record
	char addr[ADDR_LEN];
	char conn_type[CONN_TYPE_LEN];
	char msg_type[MSG_TYPE_LEN];
	__u8 payload[];
};

struct net_conn {
	struct rec_hdr hdr;
	__s64 peer_id;
	__u64 value; // existing connections (inbound/outbound) or time established (closed/evicted)
	__s32 network;
	__u32 _pad;
	char addr[ADDR_LEN];
	char conn_type[CONN_TYPE_LEN];
};

struct net_misbehaving {
	struct rec_hdr hdr;
	__s64 peer_id;
	char message[MISBEHAVING_LEN];
};

struct mempool_added {
	struct rec_hdr hdr;
	__u8 txid[32];
	__s32 vsize;
	__u32 _pad;
	__s64 fee;
};

struct mempool_removed {
	struct rec_hdr hdr;
	__u8 txid[32];
	char reason[REMOVAL_REASON_LEN];
	__s32 vsize;
	__u32 _pad;
	__s64 fee;
	__u64 entry_time;
};

struct mempool_replaced {
	struct rec_hdr hdr;
	__u8 replaced_txid[32];
	__u8 replacement_id[32];
	__s32 replaced_vsize;
	__s32 replacement_vsize;
	__s64 replaced_fee;
	__s64 replacement_fee;
	__u64 replaced_entry_time;
	__u8 replaced_by_transaction;
	__u8 _pad[7];
};

struct mempool_rejected {
	struct rec_hdr hdr;
	__u8 txid[32];
	char reason[REJECT_REASON_LEN];
};

struct block_connected {
	struct rec_hdr hdr;
	__u8 hash[32];
	__s32 height;
	__s32 inputs;
	__u64 transactions;
	__s64 sigops;
	__u64 connection_time_ns;
};

struct usdt_args {
	struct rec_hdr hdr;
	__u32 probe_id; // the spec's probe_id
	__u32 nargs;
	__u32 failed; // bit i set: argument i could not be fetched
	__u32 _pad;
	__u64 args[USDT_MAX_ARGS];
};

// Anchors so that the types above (only used through pointers or not at all
// in code) are emitted into BTF for bpf2go's -type.
const struct net_msg *unused_net_msg __attribute__((unused));
const struct net_conn *unused_net_conn __attribute__((unused));
const struct net_misbehaving *unused_net_misbehaving __attribute__((unused));
const struct mempool_added *unused_mempool_added __attribute__((unused));
const struct mempool_removed *unused_mempool_removed __attribute__((unused));
const struct mempool_replaced *unused_mempool_replaced __attribute__((unused));
const struct mempool_rejected *unused_mempool_rejected __attribute__((unused));
const struct block_connected *unused_block_connected __attribute__((unused));
const struct usdt_args *unused_usdt_args __attribute__((unused));
const enum rec_type *unused_rec_type __attribute__((unused));
const enum rec_flag *unused_rec_flag __attribute__((unused));
const enum drop_reason *unused_drop_reason __attribute__((unused));
const enum usdt_arg_kind *unused_usdt_arg_kind __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 << 20);
} big SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, REC_TYPE_COUNT * DROP_REASON_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

// Wake user space only once this many bytes wait in a ring (0: the
// kernel's adaptive default, a wakeup whenever the reader has caught up).
// Waking the reader for every record costs more than the record itself at
// high rates; user space reads on a timer as well, so a quiet ring is
// still read within its poll interval. Set by the loader.
volatile const __u64 wakeup_bytes = 0;

static __always_inline void submit(void *rec, void *ring)
{
	__u64 flags = 0;

	if (wakeup_bytes)
		flags = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
	bpf_ringbuf_submit(rec, flags);
}

static __always_inline void count_drop(__u32 type, __u32 reason)
{
	__u32 key = type * DROP_REASON_COUNT + reason;
	__u64 *c = bpf_map_lookup_elem(&drops, &key);

	if (c)
		*c += 1; // per-CPU slot: no other writer
}

static __always_inline const struct usdt_spec *probe_spec(struct pt_regs *ctx, __u32 type)
{
	__u32 key = (__u32)bpf_get_attach_cookie(ctx);
	const struct usdt_spec *s = bpf_map_lookup_elem(&usdt_specs, &key);

	if (!s)
		count_drop(type, DROP_NO_SPEC);
	return s;
}

static __always_inline void fill_hdr(struct rec_hdr *h, __u16 type)
{
	h->ts_ns = bpf_ktime_get_boot_ns();
	h->pid = bpf_get_current_pid_tgid() >> 32;
	h->type = type;
	h->flags = 0;
}

// reserve takes size bytes of ring for a record of type, counting a full
// ring as a drop, and fills the record header (the first member of every
// record).
static __always_inline void *reserve(void *ring, __u64 size, __u16 type)
{
	struct rec_hdr *h = bpf_ringbuf_reserve(ring, size, 0);

	if (!h) {
		count_drop(type, DROP_RING_FULL);
		return 0;
	}
	fill_hdr(h, type);
	return h;
}

// read_str copies a NUL-terminated user string into dst (size bytes with
// the NUL) and flags a read error or a truncation.
static __always_inline void read_str(char *dst, __u32 size, __u64 ptr, __u16 *flags, __u16 trunc)
{
	long n = bpf_probe_read_user_str(dst, size, (const void *)ptr);

	if (n < 0) {
		dst[0] = 0;
		*flags |= FLAG_READ_ERROR;
		return;
	}
	if (n == size) {
		// Either exactly size-1 characters or more: look at the next one.
		char next = 0;

		if (bpf_probe_read_user(&next, 1, (const void *)(ptr + size - 1)) == 0 && next != 0)
			*flags |= trunc;
	}
}

static __always_inline void read_hash(__u8 *dst, __u64 ptr, __u16 *flags)
{
	if (bpf_probe_read_user(dst, 32, (const void *)ptr)) {
		__builtin_memset(dst, 0, 32);
		*flags |= FLAG_READ_ERROR;
	}
}

// ---------------------------------------------------------------------------
// net:inbound_message / net:outbound_message
// (peer id, addr, conn type, msg type, msg size, msg bytes)

static __always_inline int emit_msg(struct pt_regs *ctx, const struct usdt_spec *s, __u16 type, void *ring,
				    const __u32 cls, __u64 size)
{
	struct net_msg *m;
	__u64 id, addr, conn_type, msg_type, data;
	__u32 n;

	if (usdt_arg(ctx, s, 0, &id) || usdt_arg(ctx, s, 1, &addr) || usdt_arg(ctx, s, 2, &conn_type) ||
	    usdt_arg(ctx, s, 3, &msg_type) || usdt_arg(ctx, s, 5, &data)) {
		count_drop(type, DROP_BAD_ARG);
		return 0;
	}
	m = reserve(ring, sizeof(*m) + cls, type);
	if (!m)
		return 0;
	m->peer_id = id;
	m->msg_size = size;
	m->class_size = cls;
	read_str(m->addr, sizeof(m->addr), addr, &m->hdr.flags, FLAG_TRUNC_ADDR);
	read_str(m->conn_type, sizeof(m->conn_type), conn_type, &m->hdr.flags, FLAG_TRUNC_CONN_TYPE);
	read_str(m->msg_type, sizeof(m->msg_type), msg_type, &m->hdr.flags, FLAG_TRUNC_MSG_TYPE);
	n = 0;
	if (size > cls) {
		m->hdr.flags |= FLAG_OVERSIZED;
	} else {
		n = size;
		if (n > cls) // restate the bound for the verifier
			n = cls;
		if (bpf_probe_read_user(m->payload, n, (const void *)data)) {
			m->hdr.flags |= FLAG_READ_ERROR;
			n = 0;
		}
	}
	m->payload_len = n;
	submit(m, ring);
	return 0;
}

static __always_inline int handle_msg(struct pt_regs *ctx, __u16 type)
{
	const struct usdt_spec *s = probe_spec(ctx, type);
	__u64 size;

	if (!s)
		return 0;
	if (usdt_arg(ctx, s, 4, &size)) {
		count_drop(type, DROP_BAD_ARG);
		return 0;
	}
	if (size <= MSG_CLASS_0)
		return emit_msg(ctx, s, type, &events, MSG_CLASS_0, size);
	if (size <= MSG_CLASS_1)
		return emit_msg(ctx, s, type, &events, MSG_CLASS_1, size);
	if (size <= MSG_CLASS_2)
		return emit_msg(ctx, s, type, &events, MSG_CLASS_2, size);
	if (size <= MSG_CLASS_3)
		return emit_msg(ctx, s, type, &big, MSG_CLASS_3, size);
	if (size <= MSG_CLASS_4)
		return emit_msg(ctx, s, type, &big, MSG_CLASS_4, size);
	// Larger than any valid P2P message: report it without payload.
	return emit_msg(ctx, s, type, &events, 0, size);
}

SEC("uprobe")
int handle_net_inbound_message(struct pt_regs *ctx)
{
	return handle_msg(ctx, REC_NET_INBOUND_MESSAGE);
}

SEC("uprobe")
int handle_net_outbound_message(struct pt_regs *ctx)
{
	return handle_msg(ctx, REC_NET_OUTBOUND_MESSAGE);
}

// ---------------------------------------------------------------------------
// net:*_connection (peer id, addr, conn type, network, value)

static __always_inline int handle_conn(struct pt_regs *ctx, __u16 type)
{
	const struct usdt_spec *s = probe_spec(ctx, type);
	struct net_conn *c;
	__u64 id, addr, conn_type, network, value;

	if (!s)
		return 0;
	if (usdt_arg(ctx, s, 0, &id) || usdt_arg(ctx, s, 1, &addr) || usdt_arg(ctx, s, 2, &conn_type) ||
	    usdt_arg(ctx, s, 3, &network) || usdt_arg(ctx, s, 4, &value)) {
		count_drop(type, DROP_BAD_ARG);
		return 0;
	}
	c = reserve(&events, sizeof(*c), type);
	if (!c)
		return 0;
	c->peer_id = id;
	c->value = value;
	c->network = network;
	c->_pad = 0;
	read_str(c->addr, sizeof(c->addr), addr, &c->hdr.flags, FLAG_TRUNC_ADDR);
	read_str(c->conn_type, sizeof(c->conn_type), conn_type, &c->hdr.flags, FLAG_TRUNC_CONN_TYPE);
	submit(c, &events);
	return 0;
}

SEC("uprobe")
int handle_net_inbound_connection(struct pt_regs *ctx)
{
	return handle_conn(ctx, REC_NET_INBOUND_CONNECTION);
}

SEC("uprobe")
int handle_net_outbound_connection(struct pt_regs *ctx)
{
	return handle_conn(ctx, REC_NET_OUTBOUND_CONNECTION);
}

SEC("uprobe")
int handle_net_closed_connection(struct pt_regs *ctx)
{
	return handle_conn(ctx, REC_NET_CLOSED_CONNECTION);
}

SEC("uprobe")
int handle_net_evicted_inbound_connection(struct pt_regs *ctx)
{
	return handle_conn(ctx, REC_NET_EVICTED_INBOUND_CONNECTION);
}

// net:misbehaving_connection (peer id, reason)
SEC("uprobe")
int handle_net_misbehaving_connection(struct pt_regs *ctx)
{
	const __u16 type = REC_NET_MISBEHAVING_CONNECTION;
	const struct usdt_spec *s = probe_spec(ctx, type);
	struct net_misbehaving *m;
	__u64 id, msg;

	if (!s)
		return 0;
	if (usdt_arg(ctx, s, 0, &id) || usdt_arg(ctx, s, 1, &msg)) {
		count_drop(type, DROP_BAD_ARG);
		return 0;
	}
	m = reserve(&events, sizeof(*m), type);
	if (!m)
		return 0;
	m->peer_id = id;
	read_str(m->message, sizeof(m->message), msg, &m->hdr.flags, FLAG_TRUNC_REASON);
	submit(m, &events);
	return 0;
}

// ---------------------------------------------------------------------------
// mempool:*

// mempool:added (txid, vsize, fee)
SEC("uprobe")
int handle_mempool_added(struct pt_regs *ctx)
{
	const __u16 type = REC_MEMPOOL_ADDED;
	const struct usdt_spec *s = probe_spec(ctx, type);
	struct mempool_added *m;
	__u64 txid, vsize, fee;

	if (!s)
		return 0;
	if (usdt_arg(ctx, s, 0, &txid) || usdt_arg(ctx, s, 1, &vsize) || usdt_arg(ctx, s, 2, &fee)) {
		count_drop(type, DROP_BAD_ARG);
		return 0;
	}
	m = reserve(&events, sizeof(*m), type);
	if (!m)
		return 0;
	read_hash(m->txid, txid, &m->hdr.flags);
	m->vsize = vsize;
	m->_pad = 0;
	m->fee = fee;
	submit(m, &events);
	return 0;
}

// mempool:removed (txid, reason, vsize, fee, entry time)
SEC("uprobe")
int handle_mempool_removed(struct pt_regs *ctx)
{
	const __u16 type = REC_MEMPOOL_REMOVED;
	const struct usdt_spec *s = probe_spec(ctx, type);
	struct mempool_removed *m;
	__u64 txid, reason, vsize, fee, entry_time;

	if (!s)
		return 0;
	if (usdt_arg(ctx, s, 0, &txid) || usdt_arg(ctx, s, 1, &reason) || usdt_arg(ctx, s, 2, &vsize) ||
	    usdt_arg(ctx, s, 3, &fee) || usdt_arg(ctx, s, 4, &entry_time)) {
		count_drop(type, DROP_BAD_ARG);
		return 0;
	}
	m = reserve(&events, sizeof(*m), type);
	if (!m)
		return 0;
	read_hash(m->txid, txid, &m->hdr.flags);
	read_str(m->reason, sizeof(m->reason), reason, &m->hdr.flags, FLAG_TRUNC_REASON);
	m->vsize = vsize;
	m->_pad = 0;
	m->fee = fee;
	m->entry_time = entry_time;
	submit(m, &events);
	return 0;
}

// mempool:replaced (replaced txid, vsize, fee, entry time, replacement id,
// vsize, fee, replaced by transaction)
SEC("uprobe")
int handle_mempool_replaced(struct pt_regs *ctx)
{
	const __u16 type = REC_MEMPOOL_REPLACED;
	const struct usdt_spec *s = probe_spec(ctx, type);
	struct mempool_replaced *m;
	__u64 old_txid, old_vsize, old_fee, old_time, new_id, new_vsize, new_fee, by_tx;

	if (!s)
		return 0;
	if (usdt_arg(ctx, s, 0, &old_txid) || usdt_arg(ctx, s, 1, &old_vsize) || usdt_arg(ctx, s, 2, &old_fee) ||
	    usdt_arg(ctx, s, 3, &old_time) || usdt_arg(ctx, s, 4, &new_id) || usdt_arg(ctx, s, 5, &new_vsize) ||
	    usdt_arg(ctx, s, 6, &new_fee)) {
		count_drop(type, DROP_BAD_ARG);
		return 0;
	}
	// Argument 8 arrived with package RBF (Core 29); older binaries have
	// seven arguments and always replace by a transaction.
	if (usdt_arg(ctx, s, 7, &by_tx))
		by_tx = 1;
	m = reserve(&events, sizeof(*m), type);
	if (!m)
		return 0;
	read_hash(m->replaced_txid, old_txid, &m->hdr.flags);
	read_hash(m->replacement_id, new_id, &m->hdr.flags);
	m->replaced_vsize = old_vsize;
	m->replacement_vsize = new_vsize;
	m->replaced_fee = old_fee;
	m->replacement_fee = new_fee;
	m->replaced_entry_time = old_time;
	m->replaced_by_transaction = by_tx != 0;
	__builtin_memset(m->_pad, 0, sizeof(m->_pad));
	submit(m, &events);
	return 0;
}

// mempool:rejected (txid, reason)
SEC("uprobe")
int handle_mempool_rejected(struct pt_regs *ctx)
{
	const __u16 type = REC_MEMPOOL_REJECTED;
	const struct usdt_spec *s = probe_spec(ctx, type);
	struct mempool_rejected *m;
	__u64 txid, reason;

	if (!s)
		return 0;
	if (usdt_arg(ctx, s, 0, &txid) || usdt_arg(ctx, s, 1, &reason)) {
		count_drop(type, DROP_BAD_ARG);
		return 0;
	}
	m = reserve(&events, sizeof(*m), type);
	if (!m)
		return 0;
	read_hash(m->txid, txid, &m->hdr.flags);
	read_str(m->reason, sizeof(m->reason), reason, &m->hdr.flags, FLAG_TRUNC_REASON);
	submit(m, &events);
	return 0;
}

// ---------------------------------------------------------------------------
// validation:block_connected (hash, height, transactions, inputs, sigops,
// connection time in ns)

SEC("uprobe")
int handle_validation_block_connected(struct pt_regs *ctx)
{
	const __u16 type = REC_VALIDATION_BLOCK_CONNECTED;
	const struct usdt_spec *s = probe_spec(ctx, type);
	struct block_connected *b;
	__u64 hash, height, txs, inputs, sigops, duration;

	if (!s)
		return 0;
	if (usdt_arg(ctx, s, 0, &hash) || usdt_arg(ctx, s, 1, &height) || usdt_arg(ctx, s, 2, &txs) ||
	    usdt_arg(ctx, s, 3, &inputs) || usdt_arg(ctx, s, 4, &sigops) || usdt_arg(ctx, s, 5, &duration)) {
		count_drop(type, DROP_BAD_ARG);
		return 0;
	}
	b = reserve(&events, sizeof(*b), type);
	if (!b)
		return 0;
	read_hash(b->hash, hash, &b->hdr.flags);
	b->height = height;
	b->inputs = inputs;
	b->transactions = txs;
	b->sigops = sigops;
	b->connection_time_ns = duration;
	submit(b, &events);
	return 0;
}

// ---------------------------------------------------------------------------
// Any probe: the raw 64-bit values of all its arguments. Lets tests check
// the generic argument reader against known values, and helps diagnose a
// binary whose arguments look wrong.

SEC("uprobe")
int handle_usdt_args(struct pt_regs *ctx)
{
	const __u16 type = REC_USDT_ARGS;
	const struct usdt_spec *s = probe_spec(ctx, type);
	struct usdt_args *r;

	if (!s)
		return 0;
	r = reserve(&events, sizeof(*r), type);
	if (!r)
		return 0;
	r->probe_id = s->probe_id;
	r->nargs = s->nargs;
	r->failed = 0;
	r->_pad = 0;
#pragma unroll
	for (int i = 0; i < USDT_MAX_ARGS; i++) {
		r->args[i] = 0;
		if (i < s->nargs && usdt_arg(ctx, s, i, &r->args[i]))
			r->failed |= 1u << i;
	}
	submit(r, &events);
	return 0;
}
