#!/usr/bin/env bash
# The container image's test (make image-test): checks the config of the
# image IMAGE (built by make image) and runs the broker from it, producing
# and consuming through it with kcat.
#
# The broker runs in a container with `podman run` when that works. Where the
# machine refuses containers (in an unprivileged sandbox crun cannot set the
# rlimits, "setrlimit RLIMIT_NOFILE: Operation not permitted"), it runs from
# the image's own root file system instead: `buildah mount` exposes the
# layers and the image's entry point runs chrooted there, as the image's
# user, with the image's environment: the same binary, CA bundle, paths and
# ownership as in a container, without the namespaces.
#
# Without buildah or root it skips, saying why (exit 0), unless CI=true.
set -euo pipefail
cd "$(dirname "$0")/../.."

IMAGE=${IMAGE:-strom:dev}
skip() {
  if [ "${CI:-}" = true ]; then echo "FAIL: $*" >&2; exit 1; fi
  echo "SKIP: $*"; exit 0
}
command -v buildah >/dev/null || skip "buildah is not installed (apt-get install buildah)"
command -v kcat >/dev/null || skip "kcat is not installed (apt-get install kcat)"
[ "$(id -u)" = 0 ] || skip "needs root (buildah mount and chroot)"

fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. The image config.
cfg=$(buildah inspect --type image "$IMAGE")
check() { # check NAME JQ-EXPR WANT
  got=$(jq -c "$2" <<<"$cfg")
  [ "$got" = "$3" ] || fail "$1: got $got, want $3"
  echo "ok   $1 = $got"
}
check user '.OCIv1.config.User' '"65532:65532"'
check entrypoint '.OCIv1.config.Entrypoint' '["/usr/local/bin/strom","serve"]'
check volumes '.OCIv1.config.Volumes | keys' '["/var/lib/strom"]'
check ports '.OCIv1.config.ExposedPorts | keys' '["9092/tcp","9093/tcp","9094/tcp","9644/tcp"]'
check data_dir '.OCIv1.config.Env | map(select(startswith("STROM_DATA_DIR="))) | .[0]' '"STROM_DATA_DIR=/var/lib/strom"'
check os '.OCIv1.os + "/" + .OCIv1.architecture' "\"linux/$(go env GOARCH)\""

# 2. Run it. Ports are chosen free on the host (the broker shares the host's
# network either way).
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
KPORT=$(freeport)
APORT=$(freeport)
runenv=(STROM_LISTEN=127.0.0.1:$KPORT STROM_ADVERTISE=127.0.0.1:$KPORT STROM_ADMIN_ADDRESS=127.0.0.1:$APORT)

work=$(mktemp -d)
pid=""
ctr=""
podname=""
cleanup() {
  if [ -n "$podname" ]; then podman rm -f "$podname" >/dev/null 2>&1 || true; fi
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  if [ -n "$ctr" ]; then buildah umount "$ctr" >/dev/null 2>&1 || true; buildah rm "$ctr" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mode=""
if command -v podman >/dev/null; then
  podname=strom-image-test-$$
  args=(--rm -d --name "$podname" --network host)
  for e in "${runenv[@]}"; do args+=(-e "$e"); done
  if podman run "${args[@]}" "localhost/${IMAGE#localhost/}" >"$work/podman.out" 2>&1; then
    mode=podman
  else
    echo "note: podman run failed, running from the image's root file system instead: $(tail -1 "$work/podman.out")"
    podname=""
  fi
fi
if [ -z "$mode" ]; then
  ctr=$(buildah from "$IMAGE")
  root=$(buildah mount "$ctr")
  [ -x "$root/usr/local/bin/strom" ] || fail "no /usr/local/bin/strom in the image"
  [ -s "$root/etc/ssl/certs/ca-certificates.crt" ] || fail "no CA bundle in the image"
  [ "$(stat -c %u:%g "$root/var/lib/strom")" = 65532:65532 ] || fail "/var/lib/strom is not owned by 65532:65532"
  # The image's environment, then the test's ports on top.
  mapfile -t imgenv < <(jq -r '.OCIv1.config.Env[]' <<<"$cfg")
  mapfile -t entry < <(jq -r '.OCIv1.config.Entrypoint[]' <<<"$cfg")
  user=$(jq -r '.OCIv1.config.User' <<<"$cfg")
  wd=$(jq -r '.OCIv1.config.WorkingDir' <<<"$cfg")
  (cd "$root$wd" && exec env -i "${imgenv[@]}" "${runenv[@]}" chroot --userspec="$user" "$root" "${entry[@]}") >"$work/broker.log" 2>&1 &
  pid=$!
  mode=rootfs
fi
echo "ok   broker started ($mode) on 127.0.0.1:$KPORT, admin 127.0.0.1:$APORT"

logs() { if [ "$mode" = podman ]; then podman logs "$podname" 2>&1 | tail -20; else tail -20 "$work/broker.log"; fi; }
ready=""
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$APORT/readyz" >/dev/null 2>&1; then ready=1; break; fi
  if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then break; fi
  sleep 0.2
done
[ -n "$ready" ] || { logs; fail "broker not ready on /readyz"; }
curl -fsS "http://127.0.0.1:$APORT/healthz" >/dev/null || fail "/healthz"
echo "ok   /readyz and /healthz answer"

printf 'k1:hello\nk2:from the image\n' | kcat -b "127.0.0.1:$KPORT" -P -t image-test -K: || { logs; fail "produce"; }
got=$(kcat -b "127.0.0.1:$KPORT" -C -t image-test -o beginning -e -q -f '%k=%s\n')
want=$'k1=hello\nk2=from the image'
[ "$got" = "$want" ] || { logs; fail "consumed $(printf %q "$got"), want $(printf %q "$want")"; }
echo "ok   produced and consumed 2 records with kcat"

# The data went to the image's volume path, written as the image's user.
if [ "$mode" = rootfs ]; then
  owner=$(find "$root/var/lib/strom" -mindepth 1 -printf '%u:%g\n' | sort -u)
  [ "$owner" = 65532:65532 ] || fail "files under /var/lib/strom owned by $owner, want 65532:65532"
  echo "ok   data written under /var/lib/strom as 65532:65532"
fi
echo PASS
