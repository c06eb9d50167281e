#!/usr/bin/env python3
"""The engine beside nginx configured as lancache runs it, on loopback, with the same origin and cache size.

Prints one table: cache-hit throughput for 1 MiB ranges and for a whole 100 MB object, time to first byte for
100 concurrent clients on one cold object, origin bytes fetched per unique byte served, and resident memory with
1,000 and 10,000 idle keep-alive connections; each with the ratio engine / nginx.
"""
import argparse
import asyncio
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

MIB = 1 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, deadline: float = 30) -> None:
    end = time.time() + deadline
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def rss_mib(pids) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def nginx_pids(pid_file: str):
    master = int(open(pid_file).read().strip())
    children = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
    return [master] + [int(c) for c in children]


ORIGIN_CONF = """
worker_processes 1;
pid {work}/origin.pid;
error_log {work}/origin-error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    default_type application/octet-stream;
    log_format bytes '$body_bytes_sent';
    server {{
        listen 127.0.0.1:{engine_origin};
        root {work}/origin;
        limit_rate {rate};
        access_log {work}/origin-engine.log bytes;
    }}
    server {{
        listen 127.0.0.1:{nginx_origin};
        root {work}/origin;
        limit_rate {rate};
        access_log {work}/origin-nginx.log bytes;
    }}
}}
"""

# As lancache runs nginx: 1 MiB slices, the slice range in the key, the cache lock on.
CACHE_CONF = """
worker_processes auto;
worker_rlimit_nofile 40000;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 30000; multi_accept on; use epoll; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 300s;
    keepalive_requests 100000;
    proxy_cache_path {work}/nginx-cache levels=2:2 keys_zone=generic:500m inactive=200d max_size={cache_mb}m
                     loader_files=1000 loader_sleep=50ms loader_threshold=300ms use_temp_path=off;
    upstream origin {{ server 127.0.0.1:{nginx_origin}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{
            slice 1m;
            proxy_cache generic;
            proxy_cache_key $uri$slice_range;
            proxy_set_header Range $slice_range;
            proxy_cache_valid 200 206 3650d;
            proxy_cache_lock on;
            proxy_cache_lock_age 5m;
            proxy_cache_lock_timeout 1h;
            proxy_ignore_headers Expires Cache-Control;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_pass http://origin;
            add_header X-Cache-Status $upstream_cache_status;
        }}
    }}
}}
"""

ENGINE_CONF = """version: 1
node:
  name: Bench-1
network:
  switch:
    mode: existing
    name: br0
  address:
    mode: dhcp
storage:
  state: {work}/engine-state
  drives:
    - path: {work}/engine-cache
      size_gb: {cache_gb}
resources:
  memory_gb: 2
  cores: 2
  profile: test
hub:
  mode: create
  name: bench
engine:
  listen: 127.0.0.1:{port}
  admin: 127.0.0.1:{admin}
  upstream_proxy: null
  extra_origins: [127.0.0.1]
  max_connections: 30000
"""

RANGES_LUA = """
local size = tonumber(os.getenv("BENCH_SIZE"))
local mib = 1048576
local path = os.getenv("BENCH_PATH")
request = function()
  local i = math.random(0, math.floor(size / mib) - 1)
  return wrk.format("GET", path, {["Range"] = "bytes=" .. (i * mib) .. "-" .. ((i + 1) * mib - 1)})
end
"""


def wrk(url: str, connections: int, seconds: int, script: str = None, env=None) -> float:
    """Bytes per second transferred, as wrk reports it."""
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s"]
    if script:
        args += ["-s", script]
    out = subprocess.run(args + [url], capture_output=True, text=True, env={**os.environ, **(env or {})}).stdout
    match = re.search(r"Transfer/sec:\s+([\d.]+)([KMG]?B)", out)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not match or errors:
        raise SystemExit(f"wrk failed on {url}:\n{out}")
    factor = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}[match.group(2)]
    return float(match.group(1)) * factor


async def first_bytes(port: int, path: str, clients: int):
    """Time to first response byte for `clients` requests sent at once, each reading its whole 1 MiB body."""
    connections = [await asyncio.open_connection("127.0.0.1", port) for _ in range(clients)]
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-{MIB - 1}\r\n"
               "User-Agent: Microsoft-Delivery-Optimization/10.0\r\n\r\n").encode()

    async def one(reader, writer):
        start = time.perf_counter()
        writer.write(request)
        await writer.drain()
        head = await reader.read(1)
        ttfb = time.perf_counter() - start
        while b"\r\n\r\n" not in head:
            head += await reader.read(4096)
        header, _, body = head.partition(b"\r\n\r\n")
        if not header.startswith(b"HTTP/1.1 206"):
            raise SystemExit(f"port {port}: {header.decode(errors='replace').splitlines()[0]} for {path}")
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", header).group(1))
        while len(body) < length - 1:
            body += await reader.read(65536)
        writer.close()
        return ttfb

    return await asyncio.gather(*(one(r, w) for r, w in connections))


async def hold_idle(port: int, path: str, count: int, measure):
    """Opens `count` keep-alive connections, each after one small request, and measures while they idle."""
    request = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-0\r\n\r\n").encode()
    connections = []
    for batch in range(0, count, 500):
        opened = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port) for _ in range(min(500, count - batch))))
        for reader, writer in opened:
            writer.write(request)
        for reader, writer in opened:
            await writer.drain()
            data = b""
            while b"\r\n\r\n" not in data:
                data += await reader.read(4096)
        connections += opened
    await asyncio.sleep(2)
    value = measure()
    for _, writer in connections:
        writer.close()
    return value


def origin_bytes(log: str) -> int:
    try:
        return sum(int(line) for line in open(log) if line.strip().isdigit())
    except OSError:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=".build/release/cachenode")
    parser.add_argument("--seconds", type=int, default=10, help="length of each throughput run")
    parser.add_argument("--cache-mb", type=int, default=2000)
    parser.add_argument("--origin-rate", default="100m", help="nginx limit_rate of the origin per connection")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < 25000:
        print(f"note: the descriptor limit is {hard}; the 10,000-connection row needs about 22,000", file=sys.stderr)

    work = tempfile.mkdtemp(prefix="cachenode-bench-")
    os.chmod(work, 0o755)  # nginx workers run unprivileged and must reach the cache and origin folders
    files = os.path.join(work, "origin", "files")
    os.makedirs(files)
    sizes = {"ranges.bin": 64 * MIB, "whole.bin": 100 * 1000 * 1000, "cold-engine.bin": 32 * MIB, "cold-nginx.bin": 32 * MIB}
    for name, size in sizes.items():
        with open(os.path.join(files, name), "wb") as f:
            f.write(os.urandom(size))

    ports = {k: free_port() for k in ("engine_origin", "nginx_origin", "nginx", "engine", "admin")}
    processes = []
    try:
        with open(os.path.join(work, "origin.conf"), "w") as f:
            f.write(ORIGIN_CONF.format(work=work, rate=args.origin_rate, **ports))
        subprocess.run(["nginx", "-c", os.path.join(work, "origin.conf"), "-p", work], check=True)
        with open(os.path.join(work, "nginx.conf"), "w") as f:
            f.write(CACHE_CONF.format(work=work, cache_mb=args.cache_mb, port=ports["nginx"], nginx_origin=ports["nginx_origin"]))
        subprocess.run(["nginx", "-c", os.path.join(work, "nginx.conf"), "-p", work], check=True)
        with open(os.path.join(work, "engine.yaml"), "w") as f:
            f.write(ENGINE_CONF.format(work=work, cache_gb=args.cache_mb / 1000, port=ports["engine"], admin=ports["admin"]))
        engine = subprocess.Popen([args.binary, "serve", "--config", os.path.join(work, "engine.yaml")],
                                  stdout=open(os.path.join(work, "engine.log"), "w"), stderr=subprocess.STDOUT)
        processes.append(engine)
        for port in ports.values():
            wait_port(port)

        servers = {
            "engine": (ports["engine"], lambda name: f"/files/{name}?cacheHostOrigin=127.0.0.1:{ports['engine_origin']}",
                       lambda: [engine.pid]),
            "nginx": (ports["nginx"], lambda name: f"/files/{name}", lambda: nginx_pids(os.path.join(work, "nginx.pid"))),
        }
        results = {}
        lua = os.path.join(work, "ranges.lua")
        with open(lua, "w") as f:
            f.write(RANGES_LUA)
        for label, (port, path, pids) in servers.items():
            row = {}
            # Cold: 100 clients at once on one cold object, then fill the hit sets whole.
            cold = f"cold-{label}.bin"
            times = asyncio.run(first_bytes(port, path(cold), 100))
            row["ttfb_median"] = statistics.median(times) * 1000
            row["ttfb_max"] = max(times) * 1000
            for name in ("ranges.bin", "whole.bin"):
                for start in range(0, sizes[name], 8 * MIB):
                    end = min(start + 8 * MIB, sizes[name]) - 1
                    req = urllib.request.Request(f"http://127.0.0.1:{port}{path(name)}", headers={"Range": f"bytes={start}-{end}"})
                    with urllib.request.urlopen(req) as response:
                        body = response.read()
                    with open(os.path.join(files, name), "rb") as original:
                        original.seek(start)
                        if original.read(end - start + 1) != body:
                            raise SystemExit(f"{label} served wrong bytes for {name} {start}-{end}")
            unique = sizes["ranges.bin"] + sizes["whole.bin"] + MIB
            row["origin_ratio"] = origin_bytes(os.path.join(work, f"origin-{label}.log")) / unique
            row["hit_ranges"] = wrk(f"http://127.0.0.1:{port}", 32, args.seconds, lua,
                                    {"BENCH_PATH": path("ranges.bin"), "BENCH_SIZE": str(sizes["ranges.bin"])}) / 1e6
            row["hit_whole"] = wrk(f"http://127.0.0.1:{port}{path('whole.bin')}", 4, args.seconds) / 1e6
            row["rss_1k"] = asyncio.run(hold_idle(port, path("ranges.bin"), 1000, lambda: rss_mib(pids())))
            row["rss_10k"] = asyncio.run(hold_idle(port, path("ranges.bin"), 10000, lambda: rss_mib(pids())))
            results[label] = row

        rows = [
            ("hit throughput, 1 MiB ranges (MB/s)", "hit_ranges", "higher", ">= 1.0"),
            ("hit throughput, 100 MB object (MB/s)", "hit_whole", "higher", ">= 1.0"),
            ("cold TTFB, 100 clients, median (ms)", "ttfb_median", "lower", "< 1.0"),
            ("cold TTFB, 100 clients, max (ms)", "ttfb_max", "lower", "< 1.0"),
            ("origin bytes per unique byte", "origin_ratio", "exact", "= 1.0"),
            ("RSS, 1,000 idle keep-alive (MiB)", "rss_1k", "lower", ""),
            ("RSS, 10,000 idle keep-alive (MiB)", "rss_10k", "lower", ""),
        ]
        print(f"{'measure':40} {'engine':>10} {'nginx':>10} {'engine/nginx':>13}  target")
        for title, key, _, target in rows:
            e, n = results["engine"][key], results["nginx"][key]
            ratio = e / n if n else float("nan")
            fmt = "{:10.3f}" if key == "origin_ratio" else "{:10.1f}"
            print(f"{title:40} {fmt.format(e)} {fmt.format(n)} {ratio:13.2f}  {target}")
        print(f"(2 cores shared by the servers, wrk and the origin; origin limit_rate {args.origin_rate} per connection)")
        return 0
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        for pid_file in ("nginx.pid", "origin.pid"):
            path = os.path.join(work, pid_file)
            if os.path.exists(path):
                subprocess.run(["nginx", "-c", os.path.join(work, pid_file.replace(".pid", ".conf")), "-p", work, "-s", "quit"])
        time.sleep(1)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
