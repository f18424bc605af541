/* Freestanding arm64 program with USDT probes shaped like Bitcoin Core's
 * (semaphores; register, memory and constant operands). usdt_test.go cross-compiles it with clang and lld: no arm64
 * libc is needed, and it never runs here. */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>

/* Every probe is guarded, as Core's are (TRACEPOINT_SEMAPHORE). */
unsigned short test_mixed_semaphore __attribute__((section(".probes"))) = 0;
unsigned short test_constants_semaphore __attribute__((section(".probes"))) = 0;
unsigned short test_guarded_semaphore __attribute__((section(".probes"))) = 0;

struct pair { long a; int b; };
volatile long sink;

__attribute__((noinline)) void fire(long i64, unsigned u32, short i16, const char *s, struct pair *p)
{
	STAP_PROBE5(test, mixed, i64, u32, i16, s, p->b);
	STAP_PROBE2(test, constants, 42, -7);
	if (test_guarded_semaphore)
		STAP_PROBE3(test, guarded, i64, s, p->a);
}

void _start(void)
{
	struct pair p = {sink, (int)sink};
	fire(sink, (unsigned)sink, (short)sink, "x", &p);
	for (;;)
		;
}
