# tagifai: spec-first model server for the TagIfAI text classifier.
# `make help` lists the targets.

DATA      ?= ../shared/data
ARTIFACTS ?= artifacts
ADDR      ?= :8000
SEED      ?= 42
GO        ?= go
NPM_CI    := cd scripts && npm ci --no-audit --no-fund --loglevel=error

# Fuzz budgets are execution counts, not durations: a duration -fuzztime can
# fail with a bare "context deadline exceeded" when it runs out (a race in Go
# 1.26's fuzzing coordinator, go.dev/issue/75804, fixed in Go 1.27). The server
# targets run whole requests (about 1,000 execs/s here), the model's targets
# pure functions (10,000-100,000 execs/s), so each package has its own count.
# -race also turns on checkptr, which checks every unsafe.Pointer conversion
# at run time; it stays on for our code and every library but the SQLite
# driver (modernc.org/sqlite and its C runtime), SQLite's C code translated
# to Go, where such conversions are the whole program: checking them made
# every SQL statement about twice as slow and was the largest share of the
# suite's time. The race detector itself instruments everything.
RACE := -race -gcflags='modernc.org/...=-d=checkptr=0'
# Two settings of the race detector's runtime (ThreadSanitizer's flags,
# read from GORACE), neither of which changes what it finds:
# - atexit_sleep_ms=0: a program built with the race detector sleeps a
#   second when it exits, so that other threads can still report; the tests
#   waited for it in every test binary and every server a test starts and
#   stops. A race is reported when it happens and fails its test either way.
# - clear_shadow_mmap_threshold=1073741824: it cleared the shadow of a freed
#   or reused block of more than 64 KiB by mapping fresh pages, and each
#   page then faulted back in; most of the suite's system time (a third of
#   the server package's CPU) went there. Up to 1 GiB it now writes zeros.
export GORACE ?= atexit_sleep_ms=0 clear_shadow_mmap_threshold=1073741824

FUZZ_SERVER ?= 5000x
FUZZ_MODEL  ?= 50000x

.PHONY: help deps build run test readme-check test-postgres fuzz-smoke soak fault sdk-check browser-test console-test train evaluate bench generate check-generated lint-spec node-deps ci clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

deps: ## download every Go module up front (both modules: the root and deploy/)
	$(GO) mod download
	cd deploy && $(GO) mod download

build: ## compile the tagifai binary into ./bin/tagifai
	$(GO) build -trimpath -buildvcs=auto -o bin/tagifai .   # -buildvcs: the commit for --version, whatever GOFLAGS says

run: build ## serve the committed model on $(ADDR)
	./bin/tagifai serve --artifacts $(ARTIFACTS) --addr $(ADDR)

# Bulk tests, named TestBulk*, check volume in one goroutine: 100,000 batch
# items, 10,000 requests, the model against its references on thousands of
# texts. The race detector makes them five to ten times slower and has no
# concurrency to watch in them, so make test runs them once without it;
# every other test runs under it. The same pattern skips and selects them,
# so each test runs exactly once. go test's own vet checks are off: go vet
# runs them all first.
BULK := ^TestBulk
BULK_PKGS = $(sort $(patsubst %/,./%,$(dir $(shell grep -rl --include='*_test.go' --exclude-dir=node_modules --exclude-dir=.git '^func TestBulk' . | sed 's|^\./||'))))

# make test's three parts run at once (their output one part at a time,
# with a GNU make that can: 4.0 or later):
# the race pass keeps both cores busy but for its last seconds, which the
# other two fill. In the race pass, the server package starts first (it
# takes longest), up to 4 tests of a package run at once (the command-line
# tests mostly wait on the servers they start), and the garbage collector
# runs half as often (GOGC=200: a tenth less CPU, a seventh more memory).
# The test binaries are kept in bin/test/: go test links a binary again
# for every run unless the one at -o is already up to date, and the eleven
# links took about 8 CPU seconds of every run.
test: deps ## vet and run every Go test (the race detector on all but the bulk tests), and the manifests' test module
	$(GO) vet ./...
	@$(MAKE) --no-print-directory -j3 $(if $(filter output-sync,$(.FEATURES)),--output-sync=target) test-race test-bulk test-deploy

.PHONY: test-race test-bulk test-deploy
test-race:
	@mkdir -p bin/test/race
	GOGC=200 $(GO) test $(RACE) -vet=off -parallel 4 -count=1 -timeout 30m -o bin/test/race/ -skip '$(BULK)' ./server ./...
test-bulk:
	@mkdir -p bin/test/bulk
	$(GO) test -vet=off -count=1 -timeout 30m -o bin/test/bulk/ -run '$(BULK)' $(BULK_PKGS)
test-deploy:
	cd deploy && $(GO) vet ./... && $(GO) test -count=1 ./...

test-postgres: ## run the store suite against a throwaway PostgreSQL (needs Debian's postgresql package)
	GOTESTFLAGS="$(RACE)" scripts/test-postgres.sh

fuzz-smoke: ## run every fuzz target for $(FUZZ_SERVER) (server) or $(FUZZ_MODEL) (model) executions
	@set -e; for spec in ./server=$(FUZZ_SERVER) ./model=$(FUZZ_MODEL); do \
	  pkg=$${spec%%=*}; budget=$${spec#*=}; \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$t ($$budget)"; $(GO) test $$pkg -run '^$$' -fuzz "^$$t$$" -fuzztime $$budget; \
	  done; done

soak: build ## 60 s at 5,000 req/s of POST /predict
	scripts/soak.sh

fault: build ## SIGTERM under load, then slow clients
	scripts/sigterm.sh
	scripts/slowclient.sh

train: ## train the model from $(DATA) into $(ARTIFACTS)
	$(GO) run . train --data $(DATA)/dataset.csv --holdout $(DATA)/holdout.csv --out $(ARTIFACTS) --seed $(SEED)

evaluate: ## score the committed model on the holdout set
	$(GO) run . evaluate --artifacts $(ARTIFACTS) --data $(DATA)/holdout.csv

bench: ## Go benchmarks and wrk scenarios as one table (needs wrk)
	scripts/bench.sh

node-deps: scripts/node_modules/.package-lock.json

scripts/node_modules/.package-lock.json: scripts/package-lock.json
	$(NPM_CI)

GENERATED := gen server/docs sdk/typescript/src/api.d.ts server/console console/src/api.d.ts

generate: node-deps ## regenerate gen/, the docs bundles, the TypeScript types and the web console from openapi.yaml and the npm lockfiles
	$(GO) generate ./gen/
	scripts/docs-assets.sh
	scripts/ts-generate.sh
	scripts/console-build.sh

check-generated: generate ## fail if generated files are stale or missing
	@git diff --exit-code -- $(GENERATED) || { echo "generated files are stale: run make generate and commit"; exit 1; }
	@untracked=$$(git status --porcelain --untracked-files=all -- $(GENERATED)); \
	  if [ -n "$$untracked" ]; then echo "generated files are not committed:"; echo "$$untracked"; exit 1; fi

sdk-check: ## the TypeScript SDK (openapi-fetch) against a live server
	scripts/ts-check.sh

browser-test: ## /docs and /redoc in Debian's Chromium; screenshots in tests/browser/out
	scripts/browser-test.sh

console-test: ## the web console (/console) in Debian's Chromium; screenshots in console/out
	scripts/console-test.sh

lint-spec: node-deps ## lint openapi.yaml with Redocly's recommended-strict rules
	cd scripts && npx --no-install redocly lint --config redocly.yaml ../openapi.yaml

readme-check: ## run README's walk-through blocks as written against a real server (needs curl, jq and $(DATA))
	DATA=$(DATA) scripts/readme-walkthrough.sh

ci: check-generated lint-spec test sdk-check browser-test console-test readme-check ## the checks of .ci/run that need no system packages beyond Chromium

clean:
	rm -rf bin
