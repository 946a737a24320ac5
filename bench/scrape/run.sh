#!/usr/bin/env bash
# Cost of scraping /metrics: broker CPU seconds per million records produced
# with and without a scrape every second, interleaved runs (docs/benchmarks.md,
# "Scraping /metrics"). Usage: bench/scrape/run.sh [runs] [records]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
records=${2:-1000000}
bin=$(mktemp -d)/strom
CGO_ENABLED=0 go build -o "$bin" ./cmd/strom
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
cpu() { awk '{print ($14+$15)/100}' "/proc/$1/stat"; }
echo "mode run broker_cpu_s cpu_s_per_M"
for i in $(seq 1 "$runs"); do
  for mode in off on; do
    dir=$(mktemp -d)
    kp=$(port); ap=$(port)
    "$bin" serve --listen 127.0.0.1:$kp --admin-listen 127.0.0.1:$ap --data-dir "$dir" --log-level warn >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -sf "127.0.0.1:$ap/readyz" >/dev/null && break; sleep 0.1; done
    "$bin" bench produce --bootstrap 127.0.0.1:$kp --topic scrape --partitions 3 --num-records 20000 >/dev/null 2>&1
    scraper=""
    if [ "$mode" = on ]; then
      (while true; do curl -s "127.0.0.1:$ap/metrics" >/dev/null; sleep 1; done) &
      scraper=$!
    fi
    before=$(cpu $pid)
    "$bin" bench produce --bootstrap 127.0.0.1:$kp --topic scrape --num-records "$records" --acks all >/dev/null 2>&1
    after=$(cpu $pid)
    [ -n "$scraper" ] && kill $scraper
    kill $pid; wait $pid 2>/dev/null || true
    rm -rf "$dir"
    awk -v m=$mode -v r=$i -v a=$after -v b=$before -v n=$records 'BEGIN{printf "%s %d %.2f %.3f\n", m, r, a-b, (a-b)*1e6/n}'
  done
done
