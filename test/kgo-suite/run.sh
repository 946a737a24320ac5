#!/usr/bin/env bash
# Runs franz-go's own pkg/kgo integration tests (consumer groups, chained
# group and transactional ETL) against a Strom node or cluster, as a yardstick of
# how a demanding real client sees the broker. See README.md for the results.
#
#   test/kgo-suite/run.sh                      # the default selection
#   KGO_RUN='^TestGroupSimple$' test/kgo-suite/run.sh
#
# Environment:
#   KGO_RUN          go test -run pattern (default: the tests in README.md)
#   KGO_TEST_RECORDS records each ETL test produces (default 50000; franz-go's
#                    own default is 500000)
#   KGO_TEST_CHAOS=1 franz-go's chaos dialer: every client connection dies
#                    after 0.5-1.5s
#   KGO_TIMEOUT      go test -timeout (default 10m)
#   KGO_NODES        1 (default): one `strom serve`; N > 1: an N-node cluster
#                    (`strom cluster up`, each node its own process), the
#                    tests' topics at replication factor min(3, N)
#   STROM_BIN        a built strom binary (default: built from this tree)
#   KEEP_WORK=1      keep the work directory (module copy, data, broker log)
#
# Exit status is go test's. The broker log is printed when a test fails.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
run=${KGO_RUN:-'^(TestGroupSimple|TestGroupETL|TestIssue523|Test848RegexBrokerResolves|TestTxnEtl)$'}
records=${KGO_TEST_RECORDS:-50000}
timeout=${KGO_TIMEOUT:-10m}
nodes=${KGO_NODES:-1}

work=$(mktemp -d "${TMPDIR:-/tmp}/strom-kgo-suite.XXXXXX")
pid=""
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		# `cluster up`'s nodes are its children: stopped by it on SIGTERM,
		# killed here if it could not.
		children=$(pgrep -P "$pid" || true)
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" $children 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	if [[ ${KEEP_WORK:-} == 1 ]]; then
		echo "work directory kept: $work"
	else
		chmod -R u+w "$work" 2>/dev/null || true
		rm -rf "$work"
	fi
}
trap cleanup EXIT

# The franz-go version this module builds against: its module cache copy is
# read-only, so the tests run in a writable copy.
moddir=$(cd "$root" && go list -m -f '{{.Dir}}' github.com/twmb/franz-go)
version=$(cd "$root" && go list -m -f '{{.Version}}' github.com/twmb/franz-go)
cp -r "$moddir" "$work/franz-go"
chmod -R u+w "$work/franz-go"
echo "franz-go $version copied to $work/franz-go"
# The suite learns which APIs the broker supports (KIP-848, static
# membership) on its first admin request, and some tests read that before
# making one: run in the whole suite, earlier tests have made it by then.
# Probe once at start-up so a selection of tests sees the same flags.
cat >"$work/franz-go/pkg/kgo/strom_probe_test.go" <<'GO'
package kgo

func init() { adm() }
GO

bin=${STROM_BIN:-}
if [[ -z $bin ]]; then
	bin=$work/strom
	(cd "$root" && CGO_ENABLED=0 go build -o "$bin" ./cmd/strom)
fi

# A free loopback port for a single node: bind to port 0 and read back
# what the kernel chose.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
rf=1
if [[ $nodes -gt 1 ]]; then
	# Every node its own process on free ports; the command prints the
	# bootstrap list once every node lists every broker.
	rf=$((nodes < 3 ? nodes : 3))
	"$bin" cluster up --nodes "$nodes" --base-port 0 --data-dir "$work/cluster" --log-level info >"$work/strom.log" 2>&1 &
	pid=$!
	for i in $(seq 1 1200); do
		addr=$(sed -n 's/^bootstrap: //p' "$work/strom.log" 2>/dev/null | head -n 1)
		if [[ -n $addr ]]; then break; fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "strom cluster exited before forming:"; cat "$work/strom.log"; exit 1
		fi
		if [[ $i == 1200 ]]; then echo "strom cluster not formed after 120s"; cat "$work/strom.log"; exit 1; fi
		sleep 0.1
	done
	echo "strom cluster of $nodes nodes (pid $pid) at $addr (data in $work/cluster)"
else
	addr=127.0.0.1:$port
	# A second listener for the suite's SASL tests, as franz-go's CI gives
	# them: SCRAM-SHA-256 with a user, and OAUTHBEARER with Kafka's default
	# (unsecured) validator.
	sasl_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	sasl_addr=127.0.0.1:$sasl_port
	printf 'kgo-secret' >"$work/admin.password"
	cat >"$work/strom.toml" <<TOML
[[listeners]]
name = "PLAINTEXT"
address = "$addr"
protocol = "PLAINTEXT"

[[listeners]]
name = "SASL"
address = "$sasl_addr"
protocol = "SASL_PLAINTEXT"
sasl_mechanisms = ["SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN", "OAUTHBEARER"]

[sasl.oauthbearer]
unsecured = true

[[sasl.users]]
name = "kgo"
password_file = "$work/admin.password"
mechanisms = ["SCRAM-SHA-256"]
TOML
	export KGO_TEST_SCRAM=kgo:kgo-secret KGO_TEST_SCRAM_SEEDS=$sasl_addr KGO_TEST_OAUTH_SEEDS=$sasl_addr

	# Apache Kafka's defaults as franz-go's CI runs them: topics auto-created
	# with one partition; the tests create their own topics (7, 11 or 31
	# partitions, replication factor KGO_TEST_RF).
	"$bin" serve --config "$work/strom.toml" --admin-listen 127.0.0.1:0 --data-dir "$work/data" --default-partitions 1 \
		--auto-create-topics --log-level info >"$work/strom.log" 2>&1 &
	pid=$!
	for i in $(seq 1 300); do
		if grep -q listening "$work/strom.log" 2>/dev/null; then break; fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "strom exited before listening:"; cat "$work/strom.log"; exit 1
		fi
		if [[ $i == 300 ]]; then echo "strom not listening after 30s"; cat "$work/strom.log"; exit 1; fi
		sleep 0.1
	done
	echo "strom $pid listening on $addr (data in $work/data)"
fi

set +e
(
	cd "$work/franz-go"
	KGO_SEEDS=$addr KGO_TEST_RF=$rf KGO_TEST_RECORDS=$records GOFLAGS=-mod=mod \
		go test ./pkg/kgo -count=1 -timeout "$timeout" -run "$run" -v
) >"$work/go-test.log" 2>&1
status=$?
set -e
# The test outcomes and the lines that explain failures; the full log is
# in the work directory (KEEP_WORK=1).
grep -E '^(=== RUN|\s*--- (PASS|FAIL|SKIP)|PASS$|FAIL|ok |panic:)|_test\.go:[0-9]+: ' "$work/go-test.log" |
	grep -v -E 'deleting (topic|group)|completed in' || true
if [[ $status != 0 ]]; then
	echo "---- strom log (last 100 lines) ----"
	tail -n 100 "$work/strom.log"
fi
exit "$status"
