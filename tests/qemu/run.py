#!/usr/bin/env python3
"""Full-system test of the emulated boxes (run by `make qemu-test`).

A tvmeshd root runs on the host (loopback) with the sample channel. Each box boots in QEMU from
its initramfs (rootfs/build.sh); its /init starts `tvmeshd` as a peer joining the root at
192.0.2.2:PORT (QEMU user net forwards the guest's packets for its `host=` address to the host's
loopback), plays the channel into /tmp/out.ts for --duration seconds, and then:
  - the test reads the box's /status.json through a hostfwd port and requires
    channels[0].continuity_ppm >= 990000 and channels[0].bytes_out >= the bytes the sample's
    bitrate gives for the time played (and the same of /tmp/out.ts);
  - it asks the box to kill tvmeshd and checks the respawn loop starts it again;
  - it asks the box to power off (`poweroff -f`) and requires QEMU to exit 0.
Addresses: 127.0.0.1 on the host, TEST-NET-1 (192.0.2.0/24) inside QEMU. Every wait is bounded;
QEMU and the root are killed on any exit. Logs: target/qemu-test/.
"""
import argparse
import json
import os
import queue
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TDIR = os.path.join(REPO, os.environ.get("CARGO_TARGET_DIR", "target"))
BOXES = ["qemu-aarch64-virt", "qemu-armv7-virt", "qemu-mipsel-malta"]
SAMPLE = os.path.join(REPO, "tests", "data", "sample.ts")
MIN_CONTINUITY_PPM = 990_000
MIN_PLAYED_S = 10


def kv(path):
    """`key = value` lines with `#` comments, as in board profiles and rootfs/*.box."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if "=" in line:
                k, v = line.split("=", 1)
                out[k.strip()] = v.strip()
    return out


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def get_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def poll_json(url, deadline):
    """GET url until it answers with JSON or the deadline passes; returns (json, error)."""
    err = None
    while time.monotonic() < deadline:
        try:
            return get_json(url), None
        except Exception as e:  # connection refused while starting, reset by QEMU's forwarder…
            err = e
            time.sleep(0.5)
    return None, err


def sample_bytes_per_s():
    """The sample's mean bitrate: ffprobe when there is one, else the nominal 1.1 Mbit/s."""
    try:
        out = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "format=bit_rate", "-of", "csv=p=0", SAMPLE],
            capture_output=True, text=True, timeout=20, check=True).stdout.strip()
        return int(out) / 8
    except Exception:
        return 1_100_000 / 8


class Console:
    """QEMU's serial console on stdin/stdout: lines go to a log file and a queue."""

    def __init__(self, proc, log_path):
        self.proc, self.lines, self.seen = proc, queue.Queue(), []
        self.log = open(log_path, "w")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            self.log.write(line + "\n")
            self.log.flush()
            self.lines.put(line)
        self.lines.put(None)  # EOF: QEMU is gone

    def wait_for(self, pattern, timeout):
        """Returns the first match of `pattern` within `timeout` s, or raises."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no /{pattern}/ on the console within {timeout} s")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"QEMU exited (status {self.proc.wait()}) before /{pattern}/")
            self.seen.append(line)
            m = rx.search(line)
            if m:
                return m

    def send(self, text):
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def tail(self, n=40):
        self.log.flush()
        with open(self.log.name, errors="replace") as f:
            return "".join(f.readlines()[-n:])


def kill(proc):
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_box(box, root_port, args, logdir, bps):
    spec = kv(os.path.join(REPO, "rootfs", f"{box}.box"))
    boot = os.path.join(TDIR, "cross", "boot", spec["arch"])
    initrd = os.path.join(TDIR, "rootfs", f"{box}.cpio.gz")
    hostport = free_port(socket.SOCK_STREAM)
    append = (f"console={spec['console']} loglevel=4 panic=-1 "
              f"tvmesh.root=192.0.2.2:{root_port} tvmesh.duration={args.duration} tvmesh.hold=90")
    cmd = [spec["qemu"], *shlex.split(spec["machine"]),
           "-kernel", os.path.join(boot, "vmlinuz"), "-initrd", initrd, "-append", append,
           # TEST-NET-1 for QEMU's user network: guest 192.0.2.15 (static in /init), host alias
           # 192.0.2.2 (reaches the host's loopback), DNS 192.0.2.3. Only the box's HTTP port is
           # forwarded, to 127.0.0.1 on the host.
           "-netdev", f"user,id=n0,net=192.0.2.0/24,host=192.0.2.2,dns=192.0.2.3,dhcpstart=192.0.2.15,"
                      f"hostfwd=tcp:127.0.0.1:{hostport}-:8080",
           # romfile= : no PXE option ROM needed (and none need be installed).
           "-device", "virtio-net-pci,netdev=n0,romfile=",
           "-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot"]
    r = {"box": box}
    t0 = time.monotonic()
    qemu = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    con = Console(qemu, os.path.join(logdir, f"{box}.log"))
    try:
        con.wait_for(r"tvmesh: network up", args.boot_timeout)
        r["boot_s"] = time.monotonic() - t0
        m = con.wait_for(r"tvmesh: (tvmeshd \S+) on (\S+)", 30)
        r["version"], r["uname"] = m.group(1), m.group(2)
        con.wait_for(r"tvmesh: tvmeshd started pid", 30)
        m = con.wait_for(r"tvmesh: played \d+ s, out\.ts (\d+) bytes", args.duration + 60)
        r["out_ts"] = int(m.group(1))

        st, err = poll_json(f"http://127.0.0.1:{hostport}/status.json", time.monotonic() + 15)
        if st is None:
            raise RuntimeError(f"no status.json from the box: {err}")
        ch = st["channels"][0]
        # Time played: since tvmeshd started, less the join (start → first byte at the sink) and
        # 1 s for uptime_s being whole seconds.
        played = st["uptime_s"] - ch.get("join_ms", 0) / 1000 - 1
        expected = int(bps * played)
        r.update(continuity_ppm=ch["continuity_ppm"], bytes_out=ch["bytes_out"], played_s=played,
                 expected=expected, join_ms=ch.get("join_ms"), rss_kb=st.get("rss_kb"))
        problems = []
        if played < MIN_PLAYED_S:
            problems.append(f"played {played:.1f} s < {MIN_PLAYED_S} s")
        if ch["continuity_ppm"] < MIN_CONTINUITY_PPM:
            problems.append(f"continuity_ppm {ch['continuity_ppm']} < {MIN_CONTINUITY_PPM}")
        if ch["bytes_out"] < expected:
            problems.append(f"bytes_out {ch['bytes_out']} < {expected} expected for {played:.1f} s")
        if r["out_ts"] < expected:
            problems.append(f"/tmp/out.ts {r['out_ts']} bytes < {expected} expected")
        if problems:
            raise AssertionError("; ".join(problems) + f"\nstatus.json: {json.dumps(st)}")

        # The respawn loop: kill the daemon, it must come back and serve again.
        con.send("kill")
        con.wait_for(r"tvmesh: tvmeshd exited with status", 15)
        con.wait_for(r"tvmesh: tvmeshd started pid", 15)
        st2, err = poll_json(f"http://127.0.0.1:{hostport}/status.json", time.monotonic() + 20)
        if st2 is None:
            raise RuntimeError(f"tvmeshd did not serve status.json after the respawn: {err}")
        r["respawn"] = "ok"

        con.send("poweroff")
        con.wait_for(r"tvmesh: powering off", 15)
        rc = qemu.wait(timeout=30)
        r["total_s"] = time.monotonic() - t0
        if rc != 0:
            raise RuntimeError(f"QEMU exited with status {rc}")
        r["ok"] = True
    except Exception as e:
        r["ok"], r["error"] = False, f"{type(e).__name__}: {e}"
        r.setdefault("total_s", time.monotonic() - t0)
        print(f"--- {box}: last console lines ---\n{con.tail()}", file=sys.stderr)
    finally:
        kill(qemu)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("boxes", nargs="*", default=BOXES, help=f"default: {' '.join(BOXES)}")
    ap.add_argument("--duration", type=int, default=13,
                    help="seconds the box plays (default 13: >= 10 s after join and rounding)")
    ap.add_argument("--boot-timeout", type=int, default=120, help="seconds until the network is up")
    args = ap.parse_args()

    logdir = os.path.join(TDIR, "qemu-test")
    os.makedirs(logdir, exist_ok=True)
    tvmeshd = os.path.join(TDIR, "release", "tvmeshd")
    for path in [tvmeshd, SAMPLE] + [os.path.join(TDIR, "rootfs", f"{b}.cpio.gz") for b in args.boxes]:
        if not os.path.exists(path):
            sys.exit(f"qemu-test: missing {path} (make qemu-test builds everything)")
    bps = sample_bytes_per_s()

    t_all = time.monotonic()
    root_port, root_http = free_port(socket.SOCK_DGRAM), free_port(socket.SOCK_STREAM)
    root_cmd = [tvmeshd, "root", "--listen", f"127.0.0.1:{root_port}", "--http", f"127.0.0.1:{root_http}",
                "--channel", "name=demo,source=file:tests/data/sample.ts"]
    root_log = open(os.path.join(logdir, "root.log"), "w")
    root = subprocess.Popen(root_cmd, cwd=REPO, stdout=root_log, stderr=subprocess.STDOUT)
    # SIGTERM/SIGINT (make interrupted, CI timeout) still end QEMU and the root via the finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = []
    try:
        _, err = poll_json(f"http://127.0.0.1:{root_http}/status.json", time.monotonic() + 15)
        if err:
            sys.exit(f"qemu-test: the root did not come up: {err}; see {root_log.name}")
        for box in args.boxes:
            print(f"== qemu-test: {box}", flush=True)
            r = run_box(box, root_port, args, logdir, bps)
            results.append(r)
            print(("PASS " if r["ok"] else "FAIL ") + json.dumps(r), flush=True)
    finally:
        kill(root)

    print(f"\n{'box':<20} {'boot s':>7} {'total s':>8} {'continuity':>11} {'bytes_out':>10} {'expected':>9} result")
    for r in results:
        print(f"{r['box']:<20} {r.get('boot_s', 0):7.1f} {r.get('total_s', 0):8.1f} "
              f"{r.get('continuity_ppm', '-'):>11} {r.get('bytes_out', '-'):>10} {r.get('expected', '-'):>9} "
              + ("ok" if r["ok"] else "FAIL: " + r["error"].splitlines()[0]))
    passed = sum(r["ok"] for r in results)
    print(f"qemu-test: whole run {time.monotonic() - t_all:.1f} s")
    print(f"qemu-test: {passed} passed, {len(results) - passed} failed")
    sys.exit(0 if passed == len(results) else 1)


if __name__ == "__main__":
    main()
