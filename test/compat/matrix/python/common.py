"""What the Python programs of the client matrix share: the records every
client writes (the same bytes in every language, see ../README.md), a checker
that compares consumed records with them byte for byte, and the STEP lines
the Go driver parses."""
import sys
import time

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PER_CODEC = 50
RESUME = 10
PARTITIONS = 3
STEP_TIMEOUT = 60.0


def make(label, i):
    value = f"value-{label}-{i}-".encode() + bytes([0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF]) + b"x" * 64
    headers = [("trace", f"h-{label}-{i}".encode()), ("bin", bytes([0x01, 0x80, 0xFF]) + label.encode())]
    return f"key-{label}-{i}".encode(), value, headers


def group(label, n):
    return [make(label, i) for i in range(n)]


class Checker:
    def __init__(self, recs):
        self.want = {k: (v, h) for k, v, h in recs}
        self.seen = set()

    def add(self, key, value, headers, where):
        if key not in self.want:
            raise AssertionError(f"unexpected record key {key!r} at {where}")
        if key in self.seen:
            raise AssertionError(f"duplicate record {key!r} at {where}")
        want_v, want_h = self.want[key]
        if value != want_v:
            raise AssertionError(f"record {key!r} at {where}: value {value!r}, want {want_v!r}")
        got_h = [(k, bytes(v) if v is not None else None) for k, v in (headers or [])]
        if got_h != want_h:
            raise AssertionError(f"record {key!r} at {where}: headers {got_h!r}, want {want_h!r}")
        self.seen.add(key)

    def done(self):
        return len(self.seen) == len(self.want)

    def progress(self):
        return f"{len(self.seen)} of {len(self.want)} records"


def deadline():
    return time.monotonic() + STEP_TIMEOUT


def poll(f):
    """Calls f until it returns "" (done) or the step deadline passes."""
    end, last = deadline(), ""
    while True:
        last = f()
        if not last:
            return
        if time.monotonic() > end:
            raise AssertionError(f"timed out: {last}")
        time.sleep(0.2)


class Run:
    def __init__(self):
        self.failed = False

    def step(self, name, f, always=False):
        if self.failed and not always:
            return False
        try:
            detail = f()
        except Exception as e:  # every failure becomes a FAIL line
            self.failed = True
            print(f"STEP {name} FAIL {' '.join(f'{type(e).__name__}: {e}'.split())}", flush=True)
            return False
        print(f"STEP {name} PASS {detail}", flush=True)
        return True

    def exit(self):
        sys.exit(1 if self.failed else 0)


def args():
    if len(sys.argv) != 5:
        sys.exit(f"usage: {sys.argv[0]} BOOTSTRAP TOPIC GROUP RF")
    return sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
