# Strom developer targets. Keep each recipe a plain command that can be run by hand.

GO ?= go
KAFKA_VERSION ?= 4.1.1
KAFKA_LIBS ?= $(HOME)/.cache/strom/kafka-$(KAFKA_VERSION)/libs
BENCH_RECORDS ?= 5000000

.PHONY: build test bench kafka-ref-jars

build:
	CGO_ENABLED=0 $(GO) build -o bin/strom ./cmd/strom

test:
	$(GO) test ./...

# Apache Kafka vs Strom with librdkafka; see docs/benchmarks.md.
bench:
	$(GO) run ./bench/compare --num-records $(BENCH_RECORDS) --kafka-version $(KAFKA_VERSION)

# Fetch Apache Kafka's jars for the reference broker (skipped when present).
kafka-ref-jars:
	@if [ -f "$(KAFKA_LIBS)/.complete" ]; then echo "kafka $(KAFKA_VERSION) jars present in $(KAFKA_LIBS)"; else \
		rm -rf "$(KAFKA_LIBS).partial" && \
		mvn -q -B -f test/kafkaref/pom.xml -Dkafka.version=$(KAFKA_VERSION) dependency:copy-dependencies -DoutputDirectory="$(KAFKA_LIBS).partial" && \
		echo $(KAFKA_VERSION) > "$(KAFKA_LIBS).partial/.complete" && \
		rm -rf "$(KAFKA_LIBS)" && mv "$(KAFKA_LIBS).partial" "$(KAFKA_LIBS)" && \
		echo "kafka $(KAFKA_VERSION) jars in $(KAFKA_LIBS)"; fi

# Everything the test suite fetches from Maven Central, fetched up front
# (CI runs this before the tests).
.PHONY: prefetch
prefetch: kafka-ref-jars
	d=$$(mktemp -d) && mvn -q -B -f test/java/pom.xml -Djavacheck.buildDir="$$d" package && rm -rf "$$d"

# Compatibility: the client matrix (Go, Java, Kafka Streams, Python, JavaScript,
# Rust, kcat) against Strom standalone, a 3-node Strom cluster and Apache Kafka,
# plus the full differential test against Apache Kafka. See docs/compatibility.md.
.PHONY: compat
compat: prefetch
	bash test/compat/matrix/setup.sh
	STROM_COMPAT=full $(GO) test -count=1 -timeout 30m ./test/compat/matrix -run TestMatrix -v
	STROM_COMPAT=full $(GO) test -count=1 -timeout 20m ./test/compat/diff -v

# franz-go's own integration tests (group and chained-ETL) against a Strom
# broker; see test/kgo-suite/README.md.
.PHONY: kgo-suite
kgo-suite:
	bash test/kgo-suite/run.sh

# Whole-cluster restarts: the default-run restart tests plus the nodes
# started in every order and with one left down (STROM_RESTART=full); see
# test/cluster/restart_test.go.
.PHONY: restart-full
restart-full:
	STROM_RESTART=full $(GO) test -count=1 -timeout 60m ./test/cluster -run 'TestWholeClusterRestart' -v

# The fault matrix of test/cluster, variants included (STROM_CLUSTER=full):
# cuts of a partition leader and of the metadata controller, long pauses.
.PHONY: cluster-full
cluster-full:
	STROM_CLUSTER=full $(GO) test -count=1 -timeout 30m ./test/cluster -run 'TestCut|TestPause|TestLongPause|TestKill' -v

# Fault soak: a 3-node cluster under idempotent producers and a consumer
# group while kill -9, SIGSTOP, network cuts and whole-cluster restarts
# rotate; prints the figures (and writes them to SOAK_REPORT). See docs/soak.md.
SOAK_DURATION ?= 10m
SOAK_REPORT ?= $(CURDIR)/bin/soak-report.md
.PHONY: soak
soak:
	mkdir -p $(dir $(SOAK_REPORT))
	STROM_SOAK=1 SOAK_DURATION=$(SOAK_DURATION) SOAK_REPORT=$(SOAK_REPORT) $(GO) test -count=1 -timeout 0 ./test/soak -run TestSoak -v
