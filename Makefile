# Strom developer targets. Keep each recipe a plain command that can be run by hand.

GO ?= go
KAFKA_VERSION ?= 4.1.1
KAFKA_LIBS ?= $(HOME)/.cache/strom/kafka-$(KAFKA_VERSION)/libs
KAFKA_TOOL_LIBS ?= $(HOME)/.cache/strom/kafka-$(KAFKA_VERSION)/tools-libs
BENCH_RECORDS ?= 5000000
FUZZTIME ?= 30s
FUZZFLAGS ?=
FUZZMINIMIZETIME ?= 5s

.PHONY: build test man bench kafka-ref-jars

build:
	CGO_ENABLED=0 $(GO) build -o bin/strom ./cmd/strom

test:
	$(GO) test ./...

# Man pages (section 1), one per command, generated from the cobra tree.
man:
	$(GO) run ./cmd/strom docs man bin/man

# Apache Kafka vs Strom with librdkafka; see docs/benchmarks.md.
bench:
	$(GO) run ./bench/compare --num-records $(BENCH_RECORDS) --kafka-version $(KAFKA_VERSION)

# Transactional produce, Apache Kafka vs Strom with franz-go and librdkafka
# (read_committed and read_uncommitted read back); see docs/benchmarks.md.
.PHONY: bench-txn
bench-txn:
	$(GO) run ./bench/txn --records 100000 --kafka-version $(KAFKA_VERSION)

# Fetch Apache Kafka's jars for the reference broker and its command-line
# tools (skipped when present).
kafka-ref-jars:
	@if [ -f "$(KAFKA_LIBS)/.complete" ]; then echo "kafka $(KAFKA_VERSION) jars present in $(KAFKA_LIBS)"; else \
		rm -rf "$(KAFKA_LIBS).partial" && \
		mvn -q -B -f test/kafkaref/pom.xml -Dkafka.version=$(KAFKA_VERSION) dependency:copy-dependencies -DoutputDirectory="$(KAFKA_LIBS).partial" && \
		echo $(KAFKA_VERSION) > "$(KAFKA_LIBS).partial/.complete" && \
		rm -rf "$(KAFKA_LIBS)" && mv "$(KAFKA_LIBS).partial" "$(KAFKA_LIBS)" && \
		echo "kafka $(KAFKA_VERSION) jars in $(KAFKA_LIBS)"; fi
	@if [ -f "$(KAFKA_TOOL_LIBS)/.complete" ]; then echo "kafka $(KAFKA_VERSION) tool jars present in $(KAFKA_TOOL_LIBS)"; else \
		rm -rf "$(KAFKA_TOOL_LIBS).partial" && \
		mvn -q -B -f test/kafkaref/tools/pom.xml -Dkafka.version=$(KAFKA_VERSION) dependency:copy-dependencies -DoutputDirectory="$(KAFKA_TOOL_LIBS).partial" && \
		echo $(KAFKA_VERSION) > "$(KAFKA_TOOL_LIBS).partial/.complete" && \
		rm -rf "$(KAFKA_TOOL_LIBS)" && mv "$(KAFKA_TOOL_LIBS).partial" "$(KAFKA_TOOL_LIBS)" && \
		echo "kafka $(KAFKA_VERSION) tool jars in $(KAFKA_TOOL_LIBS)"; fi

# Everything the test suite fetches from Maven Central, fetched up front
# (CI runs this before the tests).
.PHONY: prefetch
prefetch: kafka-ref-jars
	d=$$(mktemp -d) && mvn -q -B -f test/java/pom.xml -Djavacheck.buildDir="$$d" package && rm -rf "$$d"
	d=$$(mktemp -d) && mvn -q -B -f test/cluster/java/pom.xml -Djavacheck.buildDir="$$d" package && rm -rf "$$d"
	d=$$(mktemp -d) && mvn -q -B -f test/groups/java848/pom.xml -Dmember848.buildDir="$$d" package && rm -rf "$$d"
	d=$$(mktemp -d) && mvn -q -B -f test/txn/streams/pom.xml -Dstreams.buildDir="$$d" package && rm -rf "$$d"

# Compatibility: the client matrix (Go, Java, Kafka Streams, Python, JavaScript,
# Rust, kcat) against Strom standalone, a 3-node Strom cluster and Apache Kafka,
# plus the full differential test against Apache Kafka. See docs/compatibility.md.
.PHONY: compat
compat: prefetch
	bash test/compat/matrix/setup.sh
	STROM_COMPAT=full $(GO) test -count=1 -timeout 30m ./test/compat/matrix -run TestMatrix -v
	STROM_COMPAT=full $(GO) test -count=1 -timeout 20m ./test/compat/diff -v
	STROM_COMPAT=full $(GO) test -count=1 -timeout 10m ./test/groups -run TestKIP848RecordsReadFromKafka -v

# franz-go's own integration tests (group and chained-ETL) against a Strom
# broker; see test/kgo-suite/README.md.
.PHONY: kgo-suite
kgo-suite:
	bash test/kgo-suite/run.sh

# Transactions beyond the default run (STROM_TXN=full): Kafka Streams
# exactly_once_v2 on a 3-node cluster with a broker and an instance killed,
# and Kafka's kafka-transactions tool; then franz-go's TestTxn* suite
# against one node. See test/txn and test/kgo-suite/README.md.
.PHONY: txn-full
txn-full: prefetch
	STROM_TXN=full $(GO) test -count=1 -timeout 30m ./test/txn -v
	KGO_RUN='^TestTxn' bash test/kgo-suite/run.sh

# Whole-cluster restarts: the default-run restart tests plus the nodes
# started in every order and with one left down (STROM_RESTART=full); see
# test/cluster/restart_test.go.
.PHONY: restart-full
restart-full:
	STROM_RESTART=full $(GO) test -count=1 -timeout 60m ./test/cluster -run 'TestWholeClusterRestart' -v

# The web console in headless Chromium: the single-broker walk of the
# default run plus the walk over a 3-node cluster, saving a screenshot of
# each page into docs/console/ (the README shows them), and every page
# timed on a 3-node cluster of 10,000 partitions (docs/console.md).
.PHONY: console-test
console-test:
	mkdir -p docs/console
	STROM_CONSOLE=full STROM_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console $(GO) test -count=1 -timeout 25m ./test/console -v

# Disk faults: every case of the fault matrix (ENOSPC, EIO and short writes on
# each file a partition writes) plus the real full disk and the failing disk
# under a cluster leader; the default run has a quick subset. Needs root for
# the tmpfs and loop-device cases. See docs/DESIGN.md "Disk faults".
.PHONY: fault-matrix
fault-matrix:
	STROM_FAULTS=full $(GO) test -count=1 -timeout 20m ./test/faults -v

# Fuzz every Fuzz* target in the module for FUZZTIME each, one at a time
# (-fuzz takes one target per package). go test ./... only replays the seed
# corpora (testdata/fuzz/FuzzXxx); a failing input found here is written
# there: fix the bug and commit the input. FUZZFLAGS=-parallel=1 bounds the
# workers.
.PHONY: fuzz
fuzz:
	@failed=""; for t in $$(grep -rl --include='*_test.go' '^func Fuzz' . | xargs grep -o '^func Fuzz[A-Za-z0-9_]*' | sed 's|/[^/]*_test.go:func |:|' | sort -u); do \
		dir=$${t%%:*}; name=$${t##*:}; echo "== $$name in $$dir"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) $(FUZZFLAGS) $$dir || failed="$$failed $$dir:$$name"; \
	done; if [ -n "$$failed" ]; then echo "fuzz failures:$$failed"; exit 1; fi

# Cluster faults beyond the default run (STROM_CLUSTER=full): more rounds of
# CreateTopics through a surviving node while the metadata leader and
# partition leaders are killed, and a KIP-848 group across the kill of its
# coordinator's node; see test/cluster/create_topics_faults_test.go and
# kip848_failover_test.go.
.PHONY: cluster-full
cluster-full:
	STROM_CLUSTER=full $(GO) test -count=1 -timeout 45m ./test/cluster -run 'TestCreateTopicsAnsweredWhileNodesDie|TestKIP848CoordinatorKill|TestCut|TestPause|TestLongPause|TestKill' -v

# Listeners, TLS and SASL with real clients: the default-run subset plus
# every client x mechanism (STROM_SECURITY=full), and the SASL parsers'
# fuzz targets for a short while each; see docs/security.md.
.PHONY: security-test
security-test:
	STROM_SECURITY=full $(GO) test -count=1 -timeout 10m ./test/security ./internal/auth -v
	STROM_COMPAT=full $(GO) test -count=1 -timeout 10m ./test/compat/diff -run 'TestAuthorizer|TestDescribeTopicPartitions' -v
	$(GO) test -run '^$$' -fuzz FuzzParsePlain -fuzztime 20s ./internal/auth
	$(GO) test -run '^$$' -fuzz FuzzScramClientFirst -fuzztime 20s ./internal/auth
	$(GO) test -run '^$$' -fuzz FuzzScramClientFinal -fuzztime 20s ./internal/auth
	$(GO) test -run '^$$' -fuzz FuzzOAuthBearerInitial -fuzztime 20s ./internal/auth

# Connection limits, the failed-authentication delay and the idle timeout
# with real clients and raw sockets, plus 10,000 idle connections and 1,000
# slow partial frames against a broker process (STROM_LIMITS=full); see
# docs/security.md, "Connection limits".
.PHONY: limits-test
limits-test:
	STROM_LIMITS=full $(GO) test -count=1 -timeout 15m ./test/limits -v
	$(GO) test -count=1 ./internal/server -run 'TestConnLimits|TestRateLimit|TestReadFrame' -v
# Fault soak: a 3-node cluster under idempotent producers and a consumer
# group while kill -9, SIGSTOP, network cuts and whole-cluster restarts
# rotate; prints the figures (and writes them to SOAK_REPORT). See docs/soak.md.
SOAK_DURATION ?= 10m
SOAK_REPORT ?= $(CURDIR)/bin/soak-report.md
.PHONY: soak
soak:
	mkdir -p $(dir $(SOAK_REPORT))
	STROM_SOAK=1 SOAK_DURATION=$(SOAK_DURATION) SOAK_REPORT=$(SOAK_REPORT) $(GO) test -count=1 -timeout 0 ./test/soak -run TestSoak -v

# The container image (Dockerfile): FROM scratch with the static binary, a CA
# bundle and /var/lib/strom. The context is staged in bin/image/. BUILDAH
# picks the builder (docker works too: make image BUILDAH="docker build").
IMAGE ?= strom:dev
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
BUILDAH ?= buildah bud --isolation chroot
.PHONY: image image-test
image: build
	rm -rf bin/image && mkdir -p bin/image/data
	cp bin/strom bin/image/strom
	cp $(CA_BUNDLE) bin/image/ca-certificates.crt
	$(BUILDAH) -f Dockerfile -t $(IMAGE) bin/image

# Builds the image, checks its config and runs the broker from it against a
# real client (not in the default run; needs buildah and root, see
# test/image/run.sh).
image-test: image
	IMAGE=$(IMAGE) bash test/image/run.sh

# The Helm chart (deploy/helm/strom), from its own module so the broker's
# go.mod stays free of Helm and Kubernetes: helm lint, helm template and
# kubeconform -strict (schemas made offline from Kubernetes' OpenAPI
# documents) on each value set, then the Go tests (lint and render through
# Helm's SDK with strict decoding into the k8s.io/api types, the pods'
# configs validated and run as three local processes that must form a
# cluster). .ci/run runs it too; see deploy/helm/check.sh.
.PHONY: helm-test
helm-test:
	GO=$(GO) bash deploy/helm/check.sh

# Client quotas in full: producers held to producer_byte_rate over 20 s
# (with Kafka's windows and with short ones), Kafka's own kafka-configs
# on users and clients. The default run keeps a short version of each.
.PHONY: quota-test
quota-test:
	STROM_QUOTA=full $(GO) test -count=1 -timeout 10m ./test/quota ./internal/quota -v

# Consume-transform-produce soak on a 3-node cluster: two GroupTransactSession
# members copy a paced input while the node coordinating a member's
# transactions and then an output partition's leader are SIGKILLed and
# restarted; exactly once in the read_committed output. See docs/soak.md.
TXN_SOAK_RECORDS ?= 40000
TXN_SOAK_REPORT ?= $(CURDIR)/bin/txn-soak-report.md
.PHONY: txn-soak
txn-soak:
	mkdir -p $(dir $(TXN_SOAK_REPORT))
	STROM_TXN_SOAK=1 TXN_SOAK_RECORDS=$(TXN_SOAK_RECORDS) TXN_SOAK_REPORT=$(TXN_SOAK_REPORT) $(GO) test -count=1 -timeout 30m ./test/txn -run TestTxnSoak -v
