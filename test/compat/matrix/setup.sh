#!/usr/bin/env bash
# Installs and builds every non-Go client of the client matrix into a cache
# outside the repository, idempotently (a second run only checks):
#   $STROM_COMPAT_CACHE (default ~/.cache/strom-compat)/
#     venv/                  Python: confluent-kafka, kafka-python + codecs
#     js/node_modules/       kafkajs + snappy, lz4, zstd codecs
#     rust-target/release/   strom-compat-rdkafka (rdkafka crate, bundled librdkafka)
#     java/                  strom-compat-java.jar (kafka-clients + kafka-streams)
# The Go clients need nothing here: the test builds them from the module.
# A toolchain that is missing is reported and skipped; the test then skips
# that client with the reason. Exit status is non-zero only when a build
# that could run failed.
#
# Then: STROM_COMPAT=full go test ./test/compat/matrix -run TestMatrix -v
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cache="${STROM_COMPAT_CACHE:-$HOME/.cache/strom-compat}"
mkdir -p "$cache"
failed=()

note() { printf 'setup: %s\n' "$*"; }

# stamp NAME FILES...: true when the hash of FILES equals the stored one.
stamp_ok() {
  local name=$1; shift
  [ -f "$cache/$name.stamp" ] && [ "$(cat "$@" | sha256sum)" = "$(cat "$cache/$name.stamp")" ]
}
stamp_write() {
  local name=$1; shift
  cat "$@" | sha256sum > "$cache/$name.stamp"
}

# Python: one venv for both Python clients.
if command -v python3 >/dev/null 2>&1; then
  req="$here/python/requirements.txt"
  if stamp_ok python "$req" && [ -x "$cache/venv/bin/python" ]; then
    note "python venv up to date"
  else
    note "python venv: installing $(grep -cv '^#' "$req") packages"
    { [ -x "$cache/venv/bin/python" ] || python3 -m venv "$cache/venv"; } &&
      "$cache/venv/bin/pip" install -q --disable-pip-version-check -r "$req" &&
      stamp_write python "$req" || failed+=(python)
  fi
else
  note "python3 not found: Python clients will be skipped"
fi

# JavaScript: npm ci from the committed lock file, into the cache.
if command -v npm >/dev/null 2>&1; then
  js="$here/js"
  if stamp_ok js "$js/package.json" "$js/package-lock.json" && [ -d "$cache/js/node_modules/kafkajs" ]; then
    note "kafkajs up to date"
  else
    note "kafkajs: npm ci"
    mkdir -p "$cache/js" && cp "$js/package.json" "$js/package-lock.json" "$cache/js/" &&
      (cd "$cache/js" && npm ci --no-audit --no-fund --loglevel=error) &&
      stamp_write js "$js/package.json" "$js/package-lock.json" || failed+=(kafkajs)
  fi
else
  note "npm not found: kafkajs will be skipped"
fi

# Rust: cargo keeps its own up-to-date check; librdkafka is built from the
# crate's bundled sources (needs a C toolchain, make and zlib headers).
if command -v cargo >/dev/null 2>&1; then
  note "rust rdkafka: cargo build --release (first build compiles librdkafka, a few minutes)"
  CARGO_TARGET_DIR="$cache/rust-target" cargo build -q --release --locked \
    --manifest-path "$here/rust/Cargo.toml" || failed+=(rust)
else
  note "cargo not found: the Rust client will be skipped"
fi

# Java: a shaded jar of the clients and Streams programs.
if command -v mvn >/dev/null 2>&1 && command -v java >/dev/null 2>&1; then
  jsrc=$(find "$here/java" -path '*/target' -prune -o -type f -print | sort)
  if stamp_ok java $jsrc && [ -f "$cache/java/strom-compat-java.jar" ]; then
    note "java jar up to date"
  else
    note "java: mvn package"
    mvn -q -B -f "$here/java/pom.xml" -Dmatrix.buildDir="$cache/java" package &&
      stamp_write java $jsrc || failed+=(java)
  fi
else
  note "java or mvn not found: the Java clients will be skipped"
fi

command -v kcat >/dev/null 2>&1 || note "kcat not found (apt-get install kcat): kcat will be skipped"

if [ ${#failed[@]} -gt 0 ]; then
  note "FAILED: ${failed[*]}"
  exit 1
fi
note "done; cache in $cache"
