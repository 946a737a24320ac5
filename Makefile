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

# The web console in headless Chromium: the single-broker walk of the
# default run plus the walk over a 3-node cluster, saving a screenshot of
# each page into docs/console/ (the README shows them).
.PHONY: console-test
console-test:
	mkdir -p docs/console
	STROM_CONSOLE=full STROM_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -timeout 15m ./test/console -v

# Disk faults: every case of the fault matrix (ENOSPC, EIO and short writes on
# each file a partition writes) plus the real full disk and the failing disk
# under a cluster leader; the default run has a quick subset. Needs root for
# the tmpfs and loop-device cases. See docs/DESIGN.md "Disk faults".
.PHONY: fault-matrix
fault-matrix:
	STROM_FAULTS=full $(GO) test -count=1 -timeout 20m ./test/faults -v
