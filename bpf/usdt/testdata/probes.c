/* Probes of every argument shape the USDT parser must handle, built by
 * usdt_test.go with gcc and clang at several optimisation levels together
 * with guarded.c (probes behind semaphores, as Bitcoin Core's). */
#include <stdint.h>
#include <stdio.h>
#include <sys/sdt.h>

struct pair { int64_t a; int32_t b; };

void guarded(int64_t i64, const char *s, struct pair *p);

__attribute__((noinline)) static void fire(int64_t i64, uint64_t u64, int32_t i32, uint16_t u16, int8_t i8,
					    const char *s, struct pair *p, long idx)
{
	int32_t arr[4] = {(int32_t)i64, 2, 3, 4};
	STAP_PROBE8(test, mixed, i64, u64, i32, u16, i8, s, p->a, arr[idx & 3]);
	STAP_PROBE2(test, constants, 42, -7);
	guarded(i64, s, p);
}

/* Waits for one line on stdin (so a tracer can attach first), then fires
 * every probe once. */
int main(int argc, char **argv)
{
	struct pair p = {argc * 1000, -argc};
	char line[16];

	if (!fgets(line, sizeof(line), stdin))
		line[0] = 0;
	fire(-5 * argc, 1ull << 40, -70000 * argc, 65535, -3, argv[0], &p, argc);
	return 0;
}
