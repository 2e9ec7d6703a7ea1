# bench/bench.mk: `make bench`, included by the Makefile.
#
# The benchmark is a list of independent parts: each is a script that
# measures one thing, prints its figures with their targets (PASS/MISS),
# and exits non-zero only when it cannot measure. Add a part by appending
# its script to BENCH_PARTS (one line, nothing else to change); every part
# runs even when an earlier one fails, and `make bench` fails if any did.
# Run one part alone: `make bench BENCH_PARTS=bench/core.sh`.
#
# Parts get MPOD (the binary) and BUILD in their environment.

BENCH_PARTS += bench/core.sh

bench: deps-dev
	@$(MAKE) --no-print-directory all
	@failed=""; \
	for part in $(BENCH_PARTS); do \
		MPOD=$(MPOD) BUILD=$(BUILD) $$part || failed="$$failed $$part"; \
	done; \
	if [ -n "$$failed" ]; then echo "bench: failed:$$failed"; exit 1; fi
BENCH_PARTS += bench/control.sh
BENCH_PARTS += bench/pg.sh
BENCH_PARTS += bench/http.sh
BENCH_PARTS += bench/redact.sh
BENCH_PARTS += bench/linear.sh
BENCH_PARTS += bench/report.sh
