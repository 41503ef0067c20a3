SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DELETE_ON_ERROR:
MAKEFLAGS += --warn-undefined-variables --no-builtin-rules

BUF := node_modules/.bin/buf
TSC := node_modules/.bin/tsc
# Node 20's test runner takes no globs, so the files are listed here (from the sources, so a
# deleted test's stale output in dist/ never runs).
TEST_FILES = $(patsubst %.ts,dist/%.js,$(shell find test -name '*.test.ts' | sort))

.PHONY: bench-talos bench-10m all build gen gen-check lint typecheck serve test bench bench-check clean

all: build

node_modules: package-lock.json
	npm ci
	@touch node_modules

# The generated code of sigil.v1 (the client package's, which the server imports too), written by the
# same `buf generate` as gen/ (the vendored health and Envoy protos).
CLIENT_GEN := clients/typescript/src/gen

# gen/ (protobuf-es code) and descriptors/sigil.binpb (descriptors with comments, served by
# reflection) are committed; `make gen` rewrites both from proto/ (never edit them by hand). The
# descriptor set lives outside gen/ because `buf generate` empties gen/ (clean: true).
gen: node_modules
	$(BUF) lint
	$(BUF) generate
	$(BUF) build --as-file-descriptor-set -o descriptors/sigil.binpb

# Fails when gen/ or the descriptor set differs from what proto/ generates.
gen-check: node_modules
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BUF) generate -o "$$tmp"; \
	$(BUF) build --as-file-descriptor-set -o "$$tmp/sigil.binpb"; \
	if ! diff -r gen "$$tmp/gen" >/dev/null || ! diff -r $(CLIENT_GEN) "$$tmp/$(CLIENT_GEN)" >/dev/null || ! cmp -s descriptors/sigil.binpb "$$tmp/sigil.binpb"; then \
		echo "gen/, $(CLIENT_GEN)/ or descriptors/ is stale: run 'make gen' and commit the result" >&2; \
		{ diff -r gen "$$tmp/gen"; diff -r $(CLIENT_GEN) "$$tmp/$(CLIENT_GEN)"; } | head -20 >&2; exit 1; \
	fi; echo "gen/, $(CLIENT_GEN)/ and descriptors/ are up to date"

lint: node_modules
	$(BUF) lint

typecheck: node_modules
	$(TSC) -p . --noEmit

build: node_modules
	$(TSC) -p .

serve: build
	node dist/src/cli/main.js serve

# The suite runs on SQLite, then again on PostgreSQL: a throwaway cluster started for the run when
# PostgreSQL is installed (without it: a note, or a failure if SIGIL_TEST_REQUIRE_POSTGRES=1, as in CI).
# `make test TEST_DIALECTS=sqlite` runs one pass.
TEST_DIALECTS ?= sqlite postgres
# --test-force-exit: a test file whose tests are done exits even if a client connection it opened is
# still half-closed; without it one such socket (seen once on PostgreSQL) held the run forever.
# --test-timeout: a test that hangs fails after 3 minutes instead of stalling CI.
NODE_TEST := node --test --test-concurrency=2 --test-force-exit --test-timeout=180000

test: build
	$(if $(filter sqlite,$(TEST_DIALECTS)),SIGIL_TEST_DIALECT=sqlite $(NODE_TEST) $(TEST_FILES))
	$(if $(filter postgres,$(TEST_DIALECTS)),node dist/test/support/with-postgres.js $(NODE_TEST) $(TEST_FILES))

bench: build
	node dist/bench/run.js $(if $(QUICK),--quick,)
	node dist/bench/interceptor-cost.js $(if $(QUICK),--quick,)
	node dist/bench/offline-verify.js $(if $(QUICK),--quick,)
	node dist/bench/talos/talos-bench.js $(if $(QUICK),--scale 0.05 --only sqlite-1,)

# Ory Talos's k6 stress profile alone (about 25 minutes: 4 setups of 5 minutes); TALOS_ARGS e.g. "--only postgres-1".
bench-talos: build
	node dist/bench/talos/talos-bench.js $(TALOS_ARGS)

# A shorter full-size run against the committed report: fails when a saturated ratio fell by more than
# 10 points (not in CI: it needs a quiet machine). BENCH_ARGS go to run.js, e.g. BENCH_ARGS="--only verify".
bench-check: build
	node dist/bench/check.js $(BENCH_ARGS)

# Issue 14 item 3 (not in CI): 10,000,000 keys seeded, then cache miss, IssueKey, start-up and RSS;
# writes bench/results/scale-10m.{json,md}. SCALE_ARGS, e.g. "--keys 200000 --quick" for a smaller check.
bench-10m: build
	node dist/bench/scale-run.js $(SCALE_ARGS)

clean:
	rm -rf dist
