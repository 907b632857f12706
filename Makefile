# heaptrace: the preloaded shim, the collector, the tools, their tests.
#   make            build everything
#   make test       install test dependencies, build, run the test suite
#   make demo       install dependencies, build, run the bundled demo
#   make install    PREFIX=/usr/local DESTDIR=
#   make bench      benchmark against no tracer, heaptrack and jemalloc's profiler
#   make mutate     the tests against a list of small bugs: each must be caught
#   SANITIZE=address,undefined  instruments everything but the shim

PREFIX ?= /usr/local
BINDIR = $(PREFIX)/bin
LIBDIR = $(PREFIX)/lib/heaptrace
MANDIR = $(PREFIX)/share/man

CC ?= cc
OPT ?= -O2 -g
WARN = -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wno-sign-compare
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -MMD -MP
ifneq ($(SANITIZE),)
SANFLAGS = -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
endif

# The shim: never instrumented, exports only the libc names it wraps. Its
# files are one program to the optimiser (-flto): the sampled path crosses
# them (trace, stacks, emit) and is inlined as it would be within one file.
SHIM_CFLAGS = $(CFLAGS_ALL) -fPIC -fvisibility=hidden -ftls-model=initial-exec \
	-fno-stack-protector -fno-omit-frame-pointer -flto -I/usr/include/x86_64-linux-gnu
SHIM_OBJ = preload/shim.o preload/trace.o preload/stacks.o preload/emit.o preload/thread.o \
	preload/startup.o preload/options.o preload/spawn.o preload/mstats.o preload/arena.o \
	preload/arena_move.o preload/arena_clear.o preload/signals.o preload/helper.o preload/attach.o preload/got.o \
	preload/final.o preload/exec.o preload/lazy.o preload/objects.o preload/unwind.o \
	preload/dlerr.o
# libunwind is not among them: the shim loads it when it first walks a
# stack (preload/unwind.c)
SHIM_LIBS = -lm -ldl -lpthread

# collector/: the four programs at its top, their parts in wings that name
# them. Includes name the wing ("lib/util.h") and the shim's headers their
# home ("preload/ring.h").
TOOL_CFLAGS = $(CFLAGS_ALL) $(SANFLAGS) -I. -Icollector
TOOL_LIBS = -lzstd -ldw -lelf -lm -lz $(SANFLAGS)
# the readers push profiles (report/push.c); the collector never links it
READER_LIBS = $(TOOL_LIBS) -lcurl
LIB_OBJ = collector/lib/util.o collector/lib/fileio.o collector/lib/control.o \
	collector/lib/parseopt.o collector/lib/http.o collector/lib/strtab.o collector/lib/ptrmap.o
SNAPSHOT_OBJ = collector/snapshot/model.o collector/snapshot/encode.o collector/snapshot/decode.o \
	collector/snapshot/decode_stacks.o collector/snapshot/file.o
SYMBOLIZE_OBJ = collector/symbolize/symbolize.o collector/symbolize/names.o \
	collector/symbolize/symtab.o collector/symbolize/dwarf.o collector/symbolize/debugfile.o
DAEMON_OBJ = collector/daemon/profile.o collector/daemon/cells.o collector/daemon/fill.o collector/daemon/ringread.o collector/daemon/drain.o \
	collector/daemon/creds.o collector/daemon/take.o collector/daemon/write.o \
	collector/daemon/serve.o collector/daemon/warm.o collector/daemon/wake.o \
	collector/daemon/start.o collector/daemon/push.o collector/daemon/trim.o \
	collector/daemon/http.o
REPORT_OBJ = collector/report/options.o collector/report/names.o collector/report/stacks.o \
	collector/report/hide.o collector/report/traces.o \
	collector/report/stackerr.o collector/report/sampling.o collector/report/format.o \
	collector/report/header.o collector/report/rows.o collector/report/text.o \
	collector/report/collapsed.o collector/report/stats.o collector/report/trim.o collector/report/pprof.o \
	collector/report/svg.o collector/report/flame.o collector/report/series.o \
	collector/report/json.o collector/report/dot.o collector/report/graphviz.o \
	collector/report/metrics.o collector/report/emit.o collector/report/push.o \
	collector/report/cells.o collector/report/lifeview.o
ALL_OBJ = $(LIB_OBJ) $(SNAPSHOT_OBJ) $(SYMBOLIZE_OBJ) $(DAEMON_OBJ) $(REPORT_OBJ)
TOOLS = collector/heaptrace-collector collector/heaptrace-dump \
	collector/heaptrace-report collector/heaptrace-diff collector/heaptrace-attach

TEST_UNITS = tests/test_sample tests/test_ring tests/test_snapshot tests/test_sampling \
	tests/test_report tests/test_symbolize tests/test_ring_tsan \
	tests/test_pprof tests/test_flame tests/test_series tests/test_profile tests/test_drain tests/test_arena \
	tests/test_shm tests/test_util tests/test_http tests/test_stacks tests/test_control \
	tests/test_dot tests/test_strtab tests/test_ptrmap tests/test_cells tests/test_lifeview tests/test_attach_proc
TEST_PROGS = tests/progs/retain tests/progs/lifetimes tests/progs/handoff tests/progs/grow tests/progs/demo tests/progs/hostile_proc \
	tests/progs/hostile_threads tests/progs/hostile_dlopen tests/progs/hostile_signal \
	tests/progs/hostile_busy tests/progs/hostile_stacks tests/progs/stress tests/progs/regrow \
	tests/progs/samesp tests/progs/known tests/progs/privprobe tests/progs/fakecoll \
	tests/progs/setuid_later tests/progs/allocprop tests/progs/cxxnew tests/progs/bigheap \
	tests/progs/churn tests/progs/ownmalloc tests/progs/figures tests/progs/shm_scribble \
	tests/progs/shm_setuid tests/progs/shm_daemon tests/progs/peakrss tests/progs/smallheap \
	tests/progs/trimprog tests/progs/attachee tests/progs/attachee_cxx \
	tests/progs/hidenew tests/progs/xwrap tests/progs/libstall.so \
	tests/progs/closefds tests/progs/fpwalk tests/progs/relocale tests/progs/chrooted tests/progs/dlerr
# crafted snapshots for tests/t_hostile_snap.sh and the render fuzzer's corpus
TEST_TOOLS = tests/mkhostile tests/cellsdump

all: preload/libheaptrace.so preload/heaptrace-collector $(TOOLS) scripts/heaptrace

preload/%.o: preload/%.c
	$(CC) $(SHIM_CFLAGS) -c -o $@ $<

# the snapshot's layout is the collector's (collector/snapshot/format.h)
preload/final.o: SHIM_CFLAGS += -Icollector

SHIM_LINK = $(CC) -shared $(OPT) -fno-omit-frame-pointer -flto -Wl,-z,nodelete \
	-Wl,--version-script=preload/exports.map

preload/libheaptrace.so: $(SHIM_OBJ)
	$(SHIM_LINK) -o $@ $(SHIM_OBJ) $(SHIM_LIBS)

# The shim with its sampled path's parts timed (preload/parts.h), for
# scripts/bench: the same sources built apart with -DHT_PARTS.
PARTS_OBJ = $(SHIM_OBJ:preload/%.o=preload/parts/%.o) preload/parts/parts.o

preload/parts/%.o: preload/%.c
	@mkdir -p preload/parts
	$(CC) $(SHIM_CFLAGS) -DHT_PARTS -c -o $@ $<

preload/parts/final.o: SHIM_CFLAGS += -Icollector

preload/libheaptrace-parts.so: $(PARTS_OBJ)
	$(SHIM_LINK) -o $@ $(PARTS_OBJ) $(SHIM_LIBS)

# The shim starts the collector found next to it.
preload/heaptrace-collector: collector/heaptrace-collector
	ln -sf ../collector/heaptrace-collector $@

collector/%.o: collector/%.c
	$(CC) $(TOOL_CFLAGS) -c -o $@ $<

# everything, for the unit tests
collector/libht.a: $(ALL_OBJ)
	rm -f $@ && ar rcs $@ $(ALL_OBJ)

# Every program of ours carries the note that keeps the shim out of it. The
# collector links no report code; the readers no daemon code.
COLLECTOR_OBJ = $(LIB_OBJ) $(SNAPSHOT_OBJ) $(SYMBOLIZE_OBJ) $(DAEMON_OBJ)
READER_OBJ = $(LIB_OBJ) $(SNAPSHOT_OBJ) $(REPORT_OBJ)
collector/heaptrace-collector: collector/heaptrace-collector.o collector/lib/untraced.o $(COLLECTOR_OBJ)
	$(CC) -o $@ $^ $(TOOL_LIBS)

# heaptrace -p's injector: ptrace and ELF symbols, no snapshot code
ATTACH_OBJ = collector/attach/proc.o collector/attach/elfsym.o collector/attach/inject.o \
	collector/attach/stop.o
collector/heaptrace-attach: collector/heaptrace-attach.o collector/lib/untraced.o $(ATTACH_OBJ) \
		collector/lib/util.o
	$(CC) -o $@ $^ -lm $(SANFLAGS)

collector/heaptrace-%: collector/heaptrace-%.o collector/lib/untraced.o $(READER_OBJ)
	$(CC) -o $@ $^ $(READER_LIBS)

# heaptrace-dump also answers the collector's HTTP connections (dump/)
DUMP_OBJ = collector/dump/serve.o
collector/heaptrace-dump: $(DUMP_OBJ)

# The version is defined once, in collector/lib/version.h.
HT_VERSION := $(shell sed -n 's/^\#define HT_VERSION "\(.*\)"$$/\1/p' collector/lib/version.h)

scripts/heaptrace: scripts/heaptrace.sh collector/lib/version.h
	sed 's/@HT_VERSION@/$(HT_VERSION)/g' $< >$@ && chmod +x $@

tests/%.o: tests/%.c
	$(CC) $(TOOL_CFLAGS) -c -o $@ $<

tests/test_%: tests/test_%.o collector/libht.a
	$(CC) -o $@ $< collector/libht.a $(READER_LIBS)

tests/test_attach_proc: tests/test_attach_proc.o $(ATTACH_OBJ) collector/libht.a
	$(CC) -o $@ $< $(ATTACH_OBJ) collector/libht.a $(READER_LIBS)

# the shim's stacks, included whole (as test_arena includes the arena), walk with libunwind
tests/test_stacks: TOOL_LIBS += -lunwind

tests/mkhostile: tests/mkhostile.o collector/libht.a
	$(CC) -o $@ $< collector/libht.a $(READER_LIBS)

tests/cellsdump: tests/cellsdump.o collector/libht.a
	$(CC) -o $@ $< collector/libht.a $(READER_LIBS)

# Test subjects: plain programs with frame info, never sanitized.
tests/progs/%: tests/progs/%.c
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -fno-omit-frame-pointer -fno-inline \
		-Wall -o $@ $< -lpthread -ldl -lm

tests/progs/shm_scribble tests/progs/shm_setuid: tests/progs/shm_find.h

# The C++ subject counts its new and delete calls: none may be optimised away.
tests/progs/%: tests/progs/%.cc
	$(CXX) -std=c++17 -O0 -g -fno-omit-frame-pointer -Wall -o $@ $<

# A malloc of its own, exported from the executable (as chromium's).
tests/progs/ownmalloc: tests/progs/ownmalloc.c
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -rdynamic -Wall -o $@ $<

# The ring under ThreadSanitizer: the producers and the consumer race by design.
tests/test_ring_tsan: tests/test_ring.c preload/ring.h
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=thread -I. -Icollector -o $@ $< -lpthread

# The snapshot reader under libFuzzer: `make fuzz` for long runs,
# tests/t_fuzz.sh runs it briefly in `make test`.
FUZZ_SECONDS ?= 600
FUZZ_SNAP_SRC = $(SNAPSHOT_OBJ:.o=.c) collector/lib/util.c collector/lib/fileio.c \
	collector/lib/strtab.c
tests/fuzz_snapshot: tests/fuzz_snapshot.c $(FUZZ_SNAP_SRC) $(wildcard collector/snapshot/*.h)
	clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-I. -Icollector -o $@ tests/fuzz_snapshot.c $(FUZZ_SNAP_SRC) -lzstd -lm

fuzz: tests/fuzz_snapshot
	mkdir -p tests/out/corpus
	tests/fuzz_snapshot -max_total_time=$(FUZZ_SECONDS) tests/out/corpus tests/corpus

# The reader and every renderer under libFuzzer, seeded with tests/corpus/
# and the crafted files of tests/mkhostile: `make fuzz-render` for long runs.
RENDER_SRC = $(FUZZ_SNAP_SRC) collector/lib/parseopt.c $(REPORT_OBJ:.o=.c)
tests/fuzz_render: tests/fuzz_render.c $(RENDER_SRC) $(wildcard collector/*/*.h)
	clang -std=c11 -D_GNU_SOURCE -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
		-I. -Icollector -o $@ tests/fuzz_render.c $(RENDER_SRC) -lzstd -lz -lm -lcurl

RENDER_SEEDS = shared-frames huge-value tiny-count max-value bad-time bomb
fuzz-render: tests/fuzz_render tests/mkhostile
	mkdir -p tests/out/corpus_render tests/out/hostile tests/out/render_seeds
	tests/mkhostile tests/out/hostile
	for f in $(RENDER_SEEDS); do cp tests/out/hostile/$$f.heap tests/out/render_seeds/; done
	# the small bodies too, for the wrapped-body half (not the bomb's 1 GiB)
	for f in tests/corpus/*.heap tests/out/render_seeds/*.heap; do \
		case $$f in *bomb*) continue ;; esac; \
		b=tests/out/render_seeds/$$(basename $$f .heap).body; \
		tail -c +25 $$f | zstd -dcq >$$b; \
		[ $$(stat -c %s $$b) -lt 65536 ] || rm -f $$b; \
	done
	tests/fuzz_render -max_total_time=$(FUZZ_SECONDS) -timeout=30 tests/out/corpus_render \
		tests/corpus tests/out/render_seeds

# benchmark: the programs scripts/bench runs, built optimised as a real
# program would be (the stress test keeps its call chains: no sibling calls),
# and a forwarding-only shim as the floor any preloaded profiler pays.
BENCH_PROGS = tests/progs/stress tests/progs/microbench tests/progs/libfwdshim.so \
	tests/progs/many tests/progs/mtalloc tests/progs/attachee preload/libheaptrace-parts.so
BENCH_CFLAGS = -std=c11 -D_GNU_SOURCE -O2 -g -fno-omit-frame-pointer -Wall -Wextra

tests/progs/stress: tests/progs/stress.c
	$(CC) $(BENCH_CFLAGS) -fno-optimize-sibling-calls -o $@ $< -lpthread

tests/progs/mtalloc: tests/progs/mtalloc.c
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lpthread

tests/progs/microbench: tests/progs/microbench.c
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lpthread

# 110592 stacks to snapshot and diff, built as t_symbols.sh builds it: at
# -O2, gcc folds the identical top_N and mid_N functions into one each
tests/progs/many: tests/progs/sym/many.c
	$(CC) -O1 -g -fno-optimize-sibling-calls -o $@ $<

# heaptrace-attach --shim's stand-in whose loading never ends (tests/t_attach.sh)
tests/progs/libstall.so: tests/progs/stall.c
	$(CC) -std=c11 -D_GNU_SOURCE -O1 -Wall -fPIC -shared -o $@ $<

tests/progs/libfwdshim.so: tests/progs/fwdshim.c
	$(CC) $(BENCH_CFLAGS) -fPIC -shared -fvisibility=hidden -o $@ $< -ldl

bench: $(BENCH_PROGS)

bench-clean:
	rm -f $(BENCH_PROGS)

clean: bench-clean

.PHONY: bench-clean
# end of benchmark

check-deps:
	@scripts/deps.sh

test: check-deps all test-progs tests/fuzz_snapshot tests/fuzz_render
	@tests/run.sh

# what the tests run besides the tools (scripts/mutate builds these too)
test-progs: $(TEST_UNITS) $(TEST_PROGS) $(TEST_TOOLS) preload/libheaptrace-parts.so \
	tests/progs/mtalloc

mutate: check-deps all test-progs
	@scripts/mutate

demo: check-deps all tests/progs/demo
	@scripts/demo.sh

bench: check-deps all
	@scripts/bench

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7
	install -m 755 preload/libheaptrace.so collector/heaptrace-collector \
		collector/heaptrace-attach $(DESTDIR)$(LIBDIR)/
	install -m 755 collector/heaptrace-dump collector/heaptrace-report \
		collector/heaptrace-diff $(DESTDIR)$(BINDIR)/
	install -m 755 scripts/heaptrace $(DESTDIR)$(BINDIR)/heaptrace
	# the collector runs heaptrace-report (to push profiles) and heaptrace-dump
	# (to answer HTTP) from next to itself
	ln -sf ../../bin/heaptrace-report $(DESTDIR)$(LIBDIR)/heaptrace-report
	ln -sf ../../bin/heaptrace-dump $(DESTDIR)$(LIBDIR)/heaptrace-dump
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/*.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 644 man/*.7 $(DESTDIR)$(MANDIR)/man7/

clean:
	rm -f preload/*.o preload/*.d preload/*.so preload/heaptrace-collector \
		preload/parts/*.o preload/parts/*.d \
		collector/*.o collector/*.d collector/*/*.o collector/*/*.d collector/*.a $(TOOLS) scripts/heaptrace \
		tests/*.o tests/*.d $(TEST_UNITS) $(TEST_PROGS) $(TEST_TOOLS) tests/fuzz_snapshot \
		tests/fuzz_render
	rm -rf tests/out

.PHONY: all test test-progs mutate demo bench install clean check-deps fuzz fuzz-render
.SECONDARY:

-include $(wildcard preload/*.d preload/parts/*.d collector/*.d collector/*/*.d tests/*.d)
