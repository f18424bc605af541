/* Semaphore-guarded probes, declared the way Bitcoin Core's
 * TRACEPOINT_SEMAPHORE does. */
#define _SDT_HAS_SEMAPHORES 1
#include <stdint.h>
#include <sys/sdt.h>

struct pair { int64_t a; int32_t b; };

unsigned short test_guarded_semaphore __attribute__((section(".probes")));
unsigned short test_guarded2_semaphore __attribute__((section(".probes")));

__attribute__((noinline)) void guarded(int64_t i64, const char *s, struct pair *p)
{
	if (test_guarded_semaphore)
		STAP_PROBE3(test, guarded, i64, s, p->b);
	if (test_guarded2_semaphore)
		STAP_PROBE(test, guarded2);
}
