/*
 * fakecore: a stand-in for bitcoind in peertape's eBPF tests. It has the
 * USDT probes Bitcoin Core has (same providers, names, argument types and
 * order, and semaphores in .probes, guarded like Core's TRACEPOINT macro),
 * and fires them with values the test sends on stdin, one command a line.
 * Every command is executed by a worker thread (as Core fires net
 * tracepoints from its message handler thread, not main), then "ok" is
 * printed, so the test knows the probe has fired.
 *
 *   wait NAME...          until each provider:name semaphore is non-zero
 *   msg in|out ID ADDR CONNTYPE COMMAND FILE|-
 *   conn inbound|outbound|closed|evicted ID ADDR CONNTYPE NETWORK VALUE
 *   misbehaving ID MESSAGE...
 *   added TXID VSIZE FEE
 *   removed TXID REASON VSIZE FEE ENTRYTIME
 *   replaced OLDTXID VSIZE FEE ENTRYTIME NEWID VSIZE FEE BYTX
 *   rejected TXID REASON...
 *   block HASH HEIGHT TXS INPUTS SIGOPS DURATION
 *   load N THREADS in|out COMMAND=FILE...
 *                         fire N messages round robin from THREADS threads,
 *                         print the nanoseconds taken
 *   exit
 *
 * Hashes are hex of the 32 bytes in internal order. Everything a probe
 * points at lives in buffers this program has written, so the pages are
 * resident when BPF reads them (BPF cannot fault pages in).
 */
#define _GNU_SOURCE
#define SDT_USE_VARIADIC 1
#define _SDT_HAS_SEMAPHORES 1
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

#define SEMAPHORE(provider, name) unsigned short provider##_##name##_semaphore __attribute__((section(".probes")))
#define ACTIVE(provider, name) (provider##_##name##_semaphore > 0)
#define TRACEPOINT(provider, name, ...)                   \
	do {                                              \
		if (ACTIVE(provider, name))               \
			STAP_PROBEV(provider, name, __VA_ARGS__); \
	} while (0)

SEMAPHORE(net, inbound_message);
SEMAPHORE(net, outbound_message);
SEMAPHORE(net, inbound_connection);
SEMAPHORE(net, outbound_connection);
SEMAPHORE(net, closed_connection);
SEMAPHORE(net, evicted_inbound_connection);
SEMAPHORE(net, misbehaving_connection);
SEMAPHORE(mempool, added);
SEMAPHORE(mempool, removed);
SEMAPHORE(mempool, replaced);
SEMAPHORE(mempool, rejected);
SEMAPHORE(validation, block_connected);

/* Core's Network enum (netaddress.h). */
enum Network { NET_UNROUTABLE, NET_IPV4, NET_IPV6, NET_ONION, NET_I2P, NET_CJDNS, NET_INTERNAL, NET_MAX };

static const struct {
	const char *name;
	unsigned short *sem;
} semaphores[] = {
	{"net:inbound_message", &net_inbound_message_semaphore},
	{"net:outbound_message", &net_outbound_message_semaphore},
	{"net:inbound_connection", &net_inbound_connection_semaphore},
	{"net:outbound_connection", &net_outbound_connection_semaphore},
	{"net:closed_connection", &net_closed_connection_semaphore},
	{"net:evicted_inbound_connection", &net_evicted_inbound_connection_semaphore},
	{"net:misbehaving_connection", &net_misbehaving_connection_semaphore},
	{"mempool:added", &mempool_added_semaphore},
	{"mempool:removed", &mempool_removed_semaphore},
	{"mempool:replaced", &mempool_replaced_semaphore},
	{"mempool:rejected", &mempool_rejected_semaphore},
	{"validation:block_connected", &validation_block_connected_semaphore},
};

static void die(const char *what)
{
	fprintf(stderr, "fakecore: %s: %s\n", what, strerror(errno));
	exit(2);
}

static void hex32(const char *s, unsigned char out[32])
{
	if (strlen(s) != 64) {
		fprintf(stderr, "fakecore: hash %s is not 64 hex digits\n", s);
		exit(2);
	}
	for (int i = 0; i < 32; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1) {
			fprintf(stderr, "fakecore: bad hex %s\n", s);
			exit(2);
		}
		out[i] = v;
	}
}

struct buf {
	unsigned char *data;
	size_t size;
};

static struct buf read_file(const char *path)
{
	struct buf b = {0};
	if (strcmp(path, "-") == 0) {
		b.data = malloc(1);
		return b;
	}
	FILE *f = fopen(path, "rb");
	if (!f)
		die(path);
	fseek(f, 0, SEEK_END);
	b.size = ftell(f);
	fseek(f, 0, SEEK_SET);
	b.data = malloc(b.size ? b.size : 1);
	if (!b.data || fread(b.data, 1, b.size, f) != b.size)
		die(path);
	fclose(f);
	return b;
}

static void fire_msg(bool in, int64_t id, const char *addr, const char *conn_type, const char *cmd, struct buf *b)
{
	/* Core passes size_t and a pointer to the bytes. */
	size_t size = b->size;
	const unsigned char *data = b->data;

	if (in)
		TRACEPOINT(net, inbound_message, id, addr, conn_type, cmd, size, data);
	else
		TRACEPOINT(net, outbound_message, id, addr, conn_type, cmd, size, data);
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* A load run: threads take message numbers from next until n. */
struct load {
	long n;
	bool in;
	int nmsgs;
	struct {
		char cmd[16];
		struct buf b;
	} msgs[16];
	long next; /* atomic */
};

static void *load_thread(void *arg)
{
	struct load *l = arg;
	char addr[] = "203.0.113.7:8333", ct[] = "outbound-full-relay";
	long i;

	while ((i = __atomic_fetch_add(&l->next, 1, __ATOMIC_RELAXED)) < l->n && l->nmsgs > 0) {
		int k = i % l->nmsgs;
		fire_msg(l->in, i % 125, addr, ct, l->msgs[k].cmd, &l->msgs[k].b);
	}
	return NULL;
}

/* One command, executed on the worker thread. Returns the text after "ok". */
static void execute(char *line, char *reply, size_t replen)
{
	char *save = NULL;
	char *cmd = strtok_r(line, " \n", &save);
	reply[0] = 0;
	if (!cmd)
		return;
#define NEXT() strtok_r(NULL, " \n", &save)
#define REST() strtok_r(NULL, "\n", &save)
	if (strcmp(cmd, "wait") == 0) {
		char *name;
		while ((name = NEXT())) {
			unsigned short *sem = NULL;
			for (size_t i = 0; i < sizeof(semaphores) / sizeof(semaphores[0]); i++)
				if (strcmp(semaphores[i].name, name) == 0)
					sem = semaphores[i].sem;
			if (!sem) {
				snprintf(reply, replen, " unknown %s", name);
				return;
			}
			/* Poll with a deadline: the kernel raises the semaphore
			 * when the tracer attaches. */
			for (int64_t end = now_ns() + 20 * 1000000000LL; !*(volatile unsigned short *)sem;) {
				if (now_ns() > end) {
					snprintf(reply, replen, " timeout %s", name);
					return;
				}
				usleep(1000);
			}
		}
	} else if (strcmp(cmd, "msg") == 0) {
		char *dir = NEXT(), *id = NEXT(), *addr = NEXT(), *ct = NEXT(), *command = NEXT(), *file = NEXT();
		struct buf b = read_file(file);
		char addrbuf[256], ctbuf[64], cmdbuf[32];
		snprintf(addrbuf, sizeof(addrbuf), "%s", addr);
		snprintf(ctbuf, sizeof(ctbuf), "%s", ct);
		snprintf(cmdbuf, sizeof(cmdbuf), "%s", command);
		fire_msg(strcmp(dir, "in") == 0, strtoll(id, NULL, 10), addrbuf, ctbuf, cmdbuf, &b);
		free(b.data);
	} else if (strcmp(cmd, "conn") == 0) {
		char *kind = NEXT();
		int64_t id = strtoll(NEXT(), NULL, 10);
		char addr[256], ct[64];
		snprintf(addr, sizeof(addr), "%s", NEXT());
		snprintf(ct, sizeof(ct), "%s", NEXT());
		enum Network net = (enum Network)strtol(NEXT(), NULL, 10);
		char *value = NEXT();
		if (strcmp(kind, "inbound") == 0) {
			uint64_t existing = strtoull(value, NULL, 10);
			TRACEPOINT(net, inbound_connection, id, addr, ct, net, existing);
		} else if (strcmp(kind, "outbound") == 0) {
			uint64_t existing = strtoull(value, NULL, 10);
			TRACEPOINT(net, outbound_connection, id, addr, ct, net, existing);
		} else if (strcmp(kind, "closed") == 0) {
			int64_t established = strtoll(value, NULL, 10);
			TRACEPOINT(net, closed_connection, id, addr, ct, net, established);
		} else {
			int64_t established = strtoll(value, NULL, 10);
			TRACEPOINT(net, evicted_inbound_connection, id, addr, ct, net, established);
		}
	} else if (strcmp(cmd, "misbehaving") == 0) {
		int64_t id = strtoll(NEXT(), NULL, 10);
		char msg[512];
		snprintf(msg, sizeof(msg), "%s", REST());
		TRACEPOINT(net, misbehaving_connection, id, msg);
	} else if (strcmp(cmd, "added") == 0) {
		unsigned char txid[32];
		hex32(NEXT(), txid);
		int32_t vsize = strtol(NEXT(), NULL, 10);
		int64_t fee = strtoll(NEXT(), NULL, 10);
		TRACEPOINT(mempool, added, txid, vsize, fee);
	} else if (strcmp(cmd, "removed") == 0) {
		unsigned char txid[32];
		char reason[64];
		hex32(NEXT(), txid);
		snprintf(reason, sizeof(reason), "%s", NEXT());
		int32_t vsize = strtol(NEXT(), NULL, 10);
		int64_t fee = strtoll(NEXT(), NULL, 10);
		uint64_t entry = strtoull(NEXT(), NULL, 10);
		TRACEPOINT(mempool, removed, txid, reason, vsize, fee, entry);
	} else if (strcmp(cmd, "replaced") == 0) {
		unsigned char old[32], repl[32];
		hex32(NEXT(), old);
		int32_t old_vsize = strtol(NEXT(), NULL, 10);
		int64_t old_fee = strtoll(NEXT(), NULL, 10);
		uint64_t old_time = strtoull(NEXT(), NULL, 10);
		hex32(NEXT(), repl);
		int32_t new_vsize = strtol(NEXT(), NULL, 10);
		int64_t new_fee = strtoll(NEXT(), NULL, 10);
		bool by_tx = strtol(NEXT(), NULL, 10) != 0;
		TRACEPOINT(mempool, replaced, old, old_vsize, old_fee, old_time, repl, new_vsize, new_fee, by_tx);
	} else if (strcmp(cmd, "rejected") == 0) {
		unsigned char txid[32];
		char reason[512];
		hex32(NEXT(), txid);
		snprintf(reason, sizeof(reason), "%s", REST());
		TRACEPOINT(mempool, rejected, txid, reason);
	} else if (strcmp(cmd, "block") == 0) {
		unsigned char hash[32];
		hex32(NEXT(), hash);
		int32_t height = strtol(NEXT(), NULL, 10);
		uint64_t txs = strtoull(NEXT(), NULL, 10);
		int32_t inputs = strtol(NEXT(), NULL, 10);
		int64_t sigops = strtoll(NEXT(), NULL, 10);
		int64_t duration = strtoll(NEXT(), NULL, 10);
		TRACEPOINT(validation, block_connected, hash, height, txs, inputs, sigops, duration);
	} else if (strcmp(cmd, "load") == 0) {
		struct load l = {0};
		l.n = strtol(NEXT(), NULL, 10);
		int threads = strtol(NEXT(), NULL, 10);
		l.in = strcmp(NEXT(), "in") == 0;
		char *spec;
		while (l.nmsgs < 16 && (spec = NEXT())) {
			char *eq = strchr(spec, '=');
			if (!eq)
				continue;
			*eq = 0;
			snprintf(l.msgs[l.nmsgs].cmd, sizeof(l.msgs[l.nmsgs].cmd), "%s", spec);
			l.msgs[l.nmsgs].b = read_file(eq + 1);
			l.nmsgs++;
		}
		if (threads < 1)
			threads = 1;
		if (threads > 16)
			threads = 16;
		pthread_t t[16];
		int64_t start = now_ns();
		for (int i = 1; i < threads; i++)
			pthread_create(&t[i], NULL, load_thread, &l);
		load_thread(&l);
		for (int i = 1; i < threads; i++)
			pthread_join(t[i], NULL);
		snprintf(reply, replen, " %lld", (long long)(now_ns() - start));
		for (int k = 0; k < l.nmsgs; k++)
			free(l.msgs[k].b.data);
	} else if (strcmp(cmd, "exit") == 0) {
		exit(0);
	} else {
		snprintf(reply, replen, " unknown command %s", cmd);
	}
}

/* The worker ("msghand") thread and its hand-off. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static char *pending;
static bool done;
static char reply[256];

static void *worker(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&mu);
	for (;;) {
		while (!pending)
			pthread_cond_wait(&cv, &mu);
		execute(pending, reply, sizeof(reply));
		pending = NULL;
		done = true;
		pthread_cond_broadcast(&cv);
	}
	return NULL;
}

int main(void)
{
	static char line[1 << 16];
	pthread_t t;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (pthread_create(&t, NULL, worker, NULL))
		die("pthread_create");
	printf("ready %d\n", (int)getpid());
	while (fgets(line, sizeof(line), stdin)) {
		pthread_mutex_lock(&mu);
		pending = line;
		done = false;
		pthread_cond_broadcast(&cv);
		while (!done)
			pthread_cond_wait(&cv, &mu);
		printf("ok%s\n", reply);
		pthread_mutex_unlock(&mu);
	}
	return 0;
}
