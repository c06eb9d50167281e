#!/usr/bin/env python3
"""Soak the cache engine: many clients fetching 1 MiB ranges of a set of objects larger than the cache, so
eviction runs all the time. Every byte is checked against what the origin serves. At the end it reports
requests, errors, hit ratio, the engine's resident memory and open descriptors at start and end.

With --through-squid the engine reaches the origin through a Squid it starts on loopback (engine.upstream_proxy),
which also checks that connections to the proxy are reused and released (Squid's log counts the requests).

Everything binds to 127.0.0.1. Usage: Soak/run [--seconds N] [--clients N] [--objects N] [--object-mib N]
[--cache-mib N] [--through-squid] [--binary PATH]
"""
import argparse
import http.client
import http.server
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

MIB = 1 << 20
BLOCK = 64 * 1024  # the unit content is generated in


def block_bytes(name: str, index: int) -> bytes:
    """The deterministic content of one 64 KiB unit of an object."""
    return random.Random(f"{name}:{index}").randbytes(BLOCK)


def object_range(name: str, start: int, end: int) -> bytes:
    """Bytes start...end (inclusive) of object `name`."""
    out = bytearray()
    first, last = start // BLOCK, end // BLOCK
    for index in range(first, last + 1):
        out += block_bytes(name, index)
    offset = start - first * BLOCK
    return bytes(out[offset:offset + end - start + 1])


class Origin(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sizes: dict = {}
    lock = threading.Lock()
    bytes_sent = 0
    requests = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        name = self.path.split("?")[0].rsplit("/", 1)[-1]
        size = self.sizes.get(name)
        if size is None:
            self.send_error(404)
            return
        start, end, status = 0, size - 1, 200
        header = self.headers.get("Range")
        if header and header.startswith("bytes="):
            first, _, last = header[6:].split(",")[0].partition("-")
            if first:
                start = int(first)
                end = min(int(last), size - 1) if last else size - 1
            else:
                start = max(0, size - int(last))
            status = 206
        body = object_range(name, start, end)
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("ETag", f'"{name}-v1"')
        self.send_header("Last-Modified", "Wed, 25 Nov 2026 00:00:00 GMT")
        self.send_header("Content-Length", str(len(body)))
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        self.wfile.write(body)
        with Origin.lock:
            Origin.bytes_sent += len(body)
            Origin.requests += 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for(port: int, path: str, deadline: float) -> None:
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"the engine did not answer {path} on port {port}")


def start_squid(folder: str) -> tuple:
    """Squid on a free loopback port, forwarding to the origin without caching; returns (process, port)."""
    os.makedirs(folder)
    # Squid started as root drops to its own user, which must reach this folder and write its logs in it.
    os.chmod(os.path.dirname(folder), 0o711)
    os.chmod(folder, 0o777)
    port = free_port()
    with open(os.path.join(folder, "squid.conf"), "w") as f:
        f.write(f"""http_port 127.0.0.1:{port}
visible_hostname cachenode-soak
pid_filename {folder}/squid.pid
access_log stdio:{folder}/access.log
cache_log {folder}/cache.log
cache_store_log none
coredump_dir {folder}
cache deny all
cache_mem 8 MB
shutdown_lifetime 0 seconds
acl SSL_ports port 443
acl CONNECT method CONNECT
acl loopback src 127.0.0.0/8
http_access deny CONNECT !SSL_ports
http_access allow loopback
http_access deny all
""")
    squid = subprocess.Popen(["/usr/sbin/squid", "-N", "-f", os.path.join(folder, "squid.conf")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 15
    while time.time() < deadline and squid.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return squid, port
        except OSError:
            time.sleep(0.1)
    squid.kill()
    raise SystemExit(f"squid did not start on 127.0.0.1:{port}; see {folder}/cache.log")


def squid_requests(folder: str) -> tuple:
    """(forwarded GETs, CONNECTs, denied) in Squid's access log."""
    forwarded = tunnels = denied = 0
    try:
        with open(os.path.join(folder, "access.log")) as f:
            for line in f:
                forwarded += " GET http://" in line
                tunnels += " CONNECT " in line
                denied += "TCP_DENIED" in line
    except OSError:
        pass
    return forwarded, tunnels, denied


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--objects", type=int, default=12)
    parser.add_argument("--object-mib", type=int, default=24)
    parser.add_argument("--cache-mib", type=int, default=128)
    parser.add_argument("--through-squid", action="store_true",
                        help="reach the origin through a Squid on loopback (engine.upstream_proxy)")
    parser.add_argument("--binary", default=".build/release/cachenode")
    args = parser.parse_args()

    names = [f"soak-{i}.bin" for i in range(args.objects)]
    # Odd sizes, so the last block of every object is short.
    Origin.sizes = {name: args.object_mib * MIB + 12345 * (i + 1) for i, name in enumerate(names)}
    origin = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Origin)
    origin.daemon_threads = True
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    origin_port = origin.server_address[1]

    work = tempfile.mkdtemp(prefix="cachenode-soak-")
    listen, admin = free_port(), free_port()
    squid, proxy = None, "null"
    if args.through_squid:
        squid, squid_port = start_squid(os.path.join(work, "squid"))
        proxy = f"http://127.0.0.1:{squid_port}"
    config = os.path.join(work, "cachenode.yaml")
    with open(config, "w") as f:
        f.write(f"""version: 1
node:
  name: Soak-1
network:
  switch:
    mode: existing
    name: br0
  address:
    mode: dhcp
storage:
  state: {work}/state
  drives:
    - path: {work}/cache
      size_gb: {args.cache_mib * MIB / 1e9:.6f}
resources:
  memory_gb: 2
  cores: 2
  profile: test
hub:
  mode: create
  name: soak
engine:
  listen: 127.0.0.1:{listen}
  admin: 127.0.0.1:{admin}
  upstream_proxy: {proxy}
  extra_origins: [127.0.0.1]
""")
    log = open(os.path.join(work, "engine.log"), "w")
    engine = subprocess.Popen([args.binary, "serve", "--config", config], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(admin, "/health", time.time() + 30)
        time.sleep(1)
        start_rss, start_fds = rss_kib(engine.pid), open_fds(engine.pid)
        stats = {"requests": 0, "errors": 0, "wrong": 0, "bytes": 0}
        samples = []
        lock = threading.Lock()
        stop = time.time() + args.seconds

        def client(seed: int) -> None:
            rng = random.Random(seed)
            conn = http.client.HTTPConnection("127.0.0.1", listen, timeout=60)
            while time.time() < stop:
                name = rng.choice(names)
                size = Origin.sizes[name]
                piece = rng.randrange((size + MIB - 1) // MIB)
                start = piece * MIB
                end = min(start + MIB, size) - 1
                path = f"/filestreamingservice/files/{name}?P1=soak&cacheHostOrigin=127.0.0.1:{origin_port}"
                try:
                    conn.request("GET", path, headers={"Range": f"bytes={start}-{end}",
                                                       "User-Agent": "Microsoft-Delivery-Optimization/10.0"})
                    response = conn.getresponse()
                    body = response.read()
                    ok = response.status == 206 and body == object_range(name, start, end) \
                        and response.getheader("Content-Range") == f"bytes {start}-{end}/{size}"
                    with lock:
                        stats["requests"] += 1
                        stats["bytes"] += len(body)
                        if response.status >= 500:
                            stats["errors"] += 1
                        elif not ok:
                            stats["wrong"] += 1
                            print(f"WRONG: {name} {start}-{end}: status {response.status}, {len(body)} bytes",
                                  file=sys.stderr)
                except (OSError, http.client.HTTPException) as error:
                    with lock:
                        stats["errors"] += 1
                    print(f"error: {error}", file=sys.stderr)
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", listen, timeout=60)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            time.sleep(min(10, max(0.1, stop - time.time())))
            if engine.poll() is not None:
                print("the engine exited during the soak", file=sys.stderr)
                return 1
            samples.append((rss_kib(engine.pid), open_fds(engine.pid)))
        for thread in threads:
            thread.join()
        time.sleep(1)
        end_rss, end_fds = rss_kib(engine.pid), open_fds(engine.pid)
        status = {}
        try:
            c = http.client.HTTPConnection("127.0.0.1", admin, timeout=5)
            c.request("GET", "/status")
            status = json.loads(c.getresponse().read())
        except (OSError, ValueError):
            pass
        used = sum(d.get("used_bytes", 0) for d in status.get("drives", []))
        print(f"duration            {args.seconds} s, {args.clients} clients, {args.objects} objects of "
              f"{args.object_mib} MiB, cache {args.cache_mib} MiB")
        print(f"requests            {stats['requests']} ({stats['bytes'] / MIB:.0f} MiB served)")
        print(f"errors              {stats['errors']}")
        print(f"wrong bytes         {stats['wrong']}")
        print(f"hit ratio           {status.get('hit_ratio', 0) * 100:.1f}% (engine), origin sent "
              f"{Origin.bytes_sent / MIB:.0f} MiB in {Origin.requests} requests")
        print(f"cache used          {used / MIB:.1f} MiB of {args.cache_mib} MiB")
        print(f"resident memory     {start_rss / 1024:.1f} MiB at start, {end_rss / 1024:.1f} MiB at end, "
              f"max {max(s[0] for s in samples) / 1024 if samples else 0:.1f} MiB")
        print(f"open descriptors    {start_fds} at start, {end_fds} at end, max {max(s[1] for s in samples) if samples else 0}")
        proxy_failed = False
        if squid is not None:
            time.sleep(1)  # Squid writes its log through a buffer
            forwarded, tunnels, denied = squid_requests(os.path.join(work, "squid"))
            print(f"through squid       {forwarded} forwarded GETs, {tunnels} CONNECTs, {denied} denied "
                  f"(the origin answered {Origin.requests})")
            proxy_failed = forwarded == 0 or tunnels > 0 or denied > 0
        failed = stats["errors"] > 0 or stats["wrong"] > 0 or stats["requests"] == 0 or proxy_failed \
            or used > args.cache_mib * MIB or end_fds > start_fds + args.clients + 8
        print("RESULT              " + ("FAIL" if failed else "PASS"))
        return 1 if failed else 0
    finally:
        engine.send_signal(signal.SIGTERM)
        try:
            engine.wait(timeout=30)
        except subprocess.TimeoutExpired:
            engine.kill()
        if squid is not None:
            squid.kill()
            squid.wait()
        origin.shutdown()


if __name__ == "__main__":
    sys.exit(main())
