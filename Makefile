# interruptions: build, demo, tests, benchmarks.
# `make demo` and `make test` work on a fresh machine with Go, Java 17 and Maven
# (and Python 3 for `make test`): `make test` installs the Debian packages it needs,
# chDB into a virtual environment under .cache, and starts a real Kafka broker.

GO        ?= go
BIN       ?= bin/interruptions
UNIT_PKGS  = $(shell $(GO) list ./... | grep -v /integration)
FUZZTIME  ?= 30s

.PHONY: build demo test test-unit test-integration test-short deps vet fmt-check \
        compose-check kafka-up kafka-down fuzz fuzz-ci mutants bench bench-run bench-ingest bench-ingest-run bench-smoke bench-e2e bench-e2e-run bench-failover bench-failover-run chaos chaos-run clean \
        analytics-venv test-analytics

build: ## build bin/interruptions
	$(GO) build -trimpath -o $(BIN) ./cmd/interruptions

demo: ## the product on its embedded default: kfake + generated traffic
	$(GO) run ./cmd/interruptions demo

test: deps vet fmt-check compose-check analytics-venv ## the whole suite: unit tests, then integration tests on a real broker
	scripts/kafka run -- $(MAKE) --no-print-directory test-unit test-integration fuzz-ci bench-smoke

test-unit: ## unit and kfake tests, race detector on
	$(GO) test -race -count=1 $(UNIT_PKGS)

test-integration: analytics-venv ## integration tests against KAFKA_BROKERS (see scripts/kafka)
	@test -n "$$KAFKA_BROKERS" || { echo "KAFKA_BROKERS is not set: run 'make kafka-up' and export the address it prints"; exit 1; }
	$(GO) build -o $(BIN) ./cmd/interruptions
	ANALYTICS_PYTHON=$(CURDIR)/$(VENV)/bin/python INTERRUPTIONS_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 30m ./integration/

test-short: ## quick loop: no broker needed
	$(GO) test -short -count=1 ./...

# chDB for TestAnalytics (integration/analytics_test.go): a virtual environment
# under .cache (git-ignored), rebuilt only when analytics/requirements.txt changes.
VENV ?= .cache/venv

analytics-venv: $(VENV)/.installed ## the Python virtual environment with chDB (analytics/requirements.txt)

$(VENV)/.installed: analytics/requirements.txt
	rm -rf $(VENV)
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --disable-pip-version-check --no-input -q --no-deps -r analytics/requirements.txt
	touch $@

test-analytics: analytics-venv ## only the chDB downstream-table test, against KAFKA_BROKERS
	@test -n "$$KAFKA_BROKERS" || { echo "KAFKA_BROKERS is not set: run 'make kafka-up' and export the address it prints"; exit 1; }
	$(GO) build -o $(BIN) ./cmd/interruptions
	ANALYTICS_PYTHON=$(CURDIR)/$(VENV)/bin/python INTERRUPTIONS_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -run '^TestAnalytics' ./integration/

deps: ## Debian packages used by the tests (kcat, docker-compose, openssl, prometheus)
	scripts/deps

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); test -z "$$out" || { echo "gofmt needed: $$out"; exit 1; }

compose-check: ## the docker-compose stack parses (no Docker engine needed)
	docker-compose config -q

kafka-up: ## start the test broker; prints its address last
	@scripts/kafka up

kafka-down: ## stop the test broker and delete its data
	@scripts/kafka down

# Each target is package:Name:CI budget. The CI budget is a count of executions
# (-fuzztime Nx), not a duration: a duration races the fuzz coordinator's own
# deadline on a loaded machine and fails with a bare "context deadline exceeded"
# and no failing input (golang/go#75804, fixed only in Go 1.27). The counts take
# about 5 s each on a 2-core machine.
FUZZ_TARGETS = core/codec:FuzzDecode:6000 internal/cekafka:FuzzFastDecode:50000 \
  internal/cekafka:FuzzFastDecodeBinary:50000 core/codec:FuzzTimestamp:50000 \
  core/match:FuzzEngineAgainstReference:40000 core/match:FuzzPhaseAgainstReference:20000 state:FuzzDecodeChannel:40000 \
  webhook:FuzzStructuredRead:20000 webhook:FuzzCheckJSONObject:40000 webhook:FuzzReadChannelData:40000

fuzz: ## run every fuzz target for FUZZTIME each (seed corpora in */testdata/fuzz)
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; execs=$${rest#*:}; \
	  budget=$(FUZZTIME); [ "$(FUZZ_CI)" = 1 ] && budget=$${execs}x; \
	  echo "fuzz $$name for $$budget"; \
	  $(GO) test -list "^$$name$$" ./$$pkg/ | grep -qx "$$name" || { echo "no fuzz target $$name in ./$$pkg"; exit 1; }; \
	  $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $$budget ./$$pkg/; \
	done

fuzz-ci: ## every fuzz target briefly, for a fixed number of executions
	$(MAKE) --no-print-directory fuzz FUZZ_CI=1

MUTANTS ?=

mutants: ## apply each mutation of scripts/mutants.toml alone and report survivors (MUTANTS="id ..." for some; broker ones need KAFKA_BROKERS)
	scripts/mutants $(MUTANTS)

chaos: ## the full chaos test (200k events, SIGKILLs, a broker restart) on a real broker
	scripts/kafka run -- $(MAKE) --no-print-directory chaos-run

chaos-run:
	$(GO) build -o $(BIN) ./cmd/interruptions
	CHAOS_FULL=1 INTERRUPTIONS_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -v -run 'TestChaos' -timeout 30m ./integration/

BENCH_OUT ?= bench.txt

bench: ## every benchmark (engine, memory, restore, end to end, latency) on a real broker; results in $(BENCH_OUT)
	scripts/kafka run -- $(MAKE) --no-print-directory bench-run

bench-run:
	@test -n "$$KAFKA_BROKERS" || { echo "KAFKA_BROKERS is not set: use 'make bench', or 'make kafka-up' and export the address"; exit 1; }
	( $(GO) test -run '^$$' -bench 'BenchmarkPipeline' -benchtime 400000x -count 5 ./processor/ && \
	  $(GO) test -run '^$$' -bench 'BenchmarkDecode' -benchtime 400000x -count 5 ./internal/cekafka/ && \
	  $(GO) test -run '^$$' -bench 'BenchmarkStoreMemory|BenchmarkRestore' -benchtime 1x -count 3 ./processor/ && \
	  $(GO) test -run '^$$' -bench 'BenchmarkEndToEnd' -benchtime 1x -count 3 -timeout 20m ./processor/ && \
	  GOMAXPROCS=1 $(GO) test -run '^$$' -bench 'BenchmarkEndToEnd' -benchtime 1x -count 3 -timeout 20m ./processor/ && \
	  $(GO) test -run '^$$' -bench 'BenchmarkLatency' -benchtime 1x -count 3 -timeout 20m ./processor/ ) | tee $(BENCH_OUT)

# bench-ingest: each round runs both benchmarks over HTTP and then HTTPS
# (sub-benchmarks .../http and .../https; INGEST_SCHEMES=http or https runs
# one). Sizes: INGEST_REQUESTS (saturation, 100000), INGEST_RATE and
# INGEST_SECONDS (latency, 2000/s for 10s); see webhook/bench_test.go.
BENCH_INGEST_OUT ?= bench-ingest.txt
BENCH_INGEST_COUNT ?= 3

bench-ingest: ## `interruptions ingest` as a process on a real broker, over HTTP and HTTPS: signed requests/s at saturation, latency at 2,000/s; results in $(BENCH_INGEST_OUT)
	scripts/kafka run -- $(MAKE) --no-print-directory bench-ingest-run

bench-ingest-run:
	@test -n "$$KAFKA_BROKERS" || { echo "KAFKA_BROKERS is not set: use 'make bench-ingest', or 'make kafka-up' and export the address"; exit 1; }
	$(GO) build -trimpath -o $(BIN) ./cmd/interruptions
	INGEST_BIN=$(abspath $(BIN)) INGEST_PIDS=$$(cat $${KAFKA_PID_FILE:-.cache/kafka/kafka.pid}) \
	  $(GO) test -run '^$$' -bench 'BenchmarkIngest(Saturation|Latency)$$' -benchtime 1x -count $(BENCH_INGEST_COUNT) -timeout 40m ./webhook/ | tee $(BENCH_INGEST_OUT)

bench-smoke: ## the benchmark harness runs (tiny sizes, one iteration each)
	@test -n "$$KAFKA_BROKERS" || { echo "KAFKA_BROKERS is not set"; exit 1; }
	$(GO) test -run '^$$' -bench 'BenchmarkPipeline' -benchtime 1000x ./processor/
	E2E_EVENTS=20000 LATENCY_SECONDS=4 LATENCY_WARMUP=1 $(GO) test -run '^$$' -bench 'BenchmarkEndToEnd|BenchmarkLatency' -benchtime 1x -timeout 5m ./processor/

# bench-e2e: what users run (issue 14). `interruptions gen` produces EVENTS
# events (seed 1) into a new 6-partition topic per input mode; then, per
# round, the bare consumer, `interruptions run` (a subprocess) and the
# in-process Runner drain it under both guarantees from new groups. Prints
# the table (medians and ranges of E2E_ROUNDS rounds); see
# integration/e2ebench_test.go for E2E_RUN_ARGS, E2E_RUN_ENV and the rest.
EVENTS     ?= 2000000
E2E_ROUNDS ?= 3
BENCH_E2E_OUT ?= bench-e2e.txt

bench-e2e: ## end to end on gen-produced input: gen -> topic -> run -> caught up, EVENTS=2000000; table in $(BENCH_E2E_OUT)
	scripts/kafka run -- $(MAKE) --no-print-directory bench-e2e-run

bench-e2e-run:
	@test -n "$$KAFKA_BROKERS" || { echo "KAFKA_BROKERS is not set: use 'make bench-e2e', or 'make kafka-up' and export the address"; exit 1; }
	$(GO) build -trimpath -o $(BIN) ./cmd/interruptions
	BENCH_E2E=1 EVENTS=$(EVENTS) E2E_ROUNDS=$(E2E_ROUNDS) INTERRUPTIONS_BIN=$(CURDIR)/$(BIN) \
	  $(GO) test -count=1 -v -run '^TestBenchE2E$$' -timeout 180m ./integration/ | tee $(BENCH_E2E_OUT)

# bench-failover: issue 24's table. Three `interruptions run` instances in
# one group (one for scale-out) on a 6-partition topic fed by gen at
# FAILOVER_RATE events/s; per scenario the pauses of moved and other
# partitions and how long read_committed readers were blocked, then the
# output checked against replay. FAILOVER_SCENARIOS, FAILOVER_ARGS,
# FAILOVER_INSTANCE_ID=1 and FAILOVER_BIN (another build, for before and
# after): see integration/failover_bench_test.go.
BENCH_FAILOVER_OUT ?= bench-failover.txt

bench-failover: ## failover on a real broker: SIGKILL, restart, SIGSTOP, SIGTERM and scale-out of `run` instances; table in $(BENCH_FAILOVER_OUT)
	scripts/kafka run -- $(MAKE) --no-print-directory bench-failover-run

bench-failover-run:
	@test -n "$$KAFKA_BROKERS" || { echo "KAFKA_BROKERS is not set: use 'make bench-failover', or 'make kafka-up' and export the address"; exit 1; }
	$(GO) build -trimpath -o $(BIN) ./cmd/interruptions
	BENCH_FAILOVER=1 INTERRUPTIONS_BIN=$(CURDIR)/$(BIN) \
	  $(GO) test -count=1 -v -run '^TestBenchFailover$$' -timeout 90m ./integration/ | tee $(BENCH_FAILOVER_OUT)

clean:
	rm -rf bin
