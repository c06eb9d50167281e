#!/usr/bin/env python3
"""A WAN-like origin for the benchmarks: files from a directory over HTTP/1.1 with keep-alive and ranges, a delay
before every response and every response paced at a rate per connection, whatever its size (nginx's limit_rate never
paces a response that fits in the socket buffer, so it cannot stand in for one CDN connection over a WAN).

Usage: wan-origin.py --root DIR --port PORT [--port PORT...] --delay-ms 20 --rate-mbit 200 --log FILE
Each response's body bytes go to the log as "<port> <bytes>" lines, for origin bytes per unique byte.
"""
import argparse
import asyncio
import os
import re
import time

CHUNK = 64 * 1024


class Origin:
    def __init__(self, root, delay, rate, log):
        self.root = os.path.realpath(root)
        self.delay = delay
        self.rate = rate
        self.log = log

    def resolve(self, target):
        path = target.split("?", 1)[0]
        full = os.path.realpath(os.path.join(self.root, path.lstrip("/")))
        if not full.startswith(self.root + os.sep) or not os.path.isfile(full):
            return None
        return full

    async def serve(self, reader, writer, port):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                await asyncio.sleep(self.delay)
                path = self.resolve(target)
                if path is None:
                    writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                    await writer.drain()
                    continue
                size = os.path.getsize(path)
                start, end, status = 0, size - 1, "200 OK"
                extra = ""
                match = re.fullmatch(r"bytes=(\d*)-(\d*)", headers.get("range", ""))
                if match and (match.group(1) or match.group(2)):
                    if match.group(1):
                        start = int(match.group(1))
                        end = min(size - 1, int(match.group(2))) if match.group(2) else size - 1
                    else:
                        start = max(0, size - int(match.group(2)))
                    if start > end:
                        writer.write(f"HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{size}\r\n"
                                     "Content-Length: 0\r\n\r\n".encode())
                        await writer.drain()
                        continue
                    status = "206 Partial Content"
                    extra = f"Content-Range: bytes {start}-{end}/{size}\r\n"
                length = end - start + 1
                stat = os.stat(path)
                writer.write((f"HTTP/1.1 {status}\r\nContent-Length: {length}\r\n{extra}"
                              f"ETag: \"{stat.st_ino:x}-{size:x}\"\r\nAccept-Ranges: bytes\r\n"
                              "Content-Type: application/octet-stream\r\n"
                              "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n\r\n").encode())
                if method == "HEAD":
                    await writer.drain()
                    continue
                sent = 0
                began = time.monotonic()
                with open(path, "rb") as source:
                    source.seek(start)
                    while sent < length:
                        chunk = source.read(min(CHUNK, length - sent))
                        writer.write(chunk)
                        await writer.drain()
                        sent += len(chunk)
                        # Paced by the clock, not by sleeps added up: the rate holds whatever the scheduling.
                        wait = began + sent / self.rate - time.monotonic()
                        if wait > 0:
                            await asyncio.sleep(wait)
                self.log.write(f"{port} {sent}\n")
                self.log.flush()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, action="append", required=True)
    parser.add_argument("--delay-ms", type=float, default=20)
    parser.add_argument("--rate-mbit", type=float, default=200)
    parser.add_argument("--log", required=True)
    arguments = parser.parse_args()
    log = open(arguments.log, "a")
    origin = Origin(arguments.root, arguments.delay_ms / 1000, arguments.rate_mbit * 1_000_000 / 8, log)
    servers = []
    for port in arguments.port:
        servers.append(await asyncio.start_server(
            lambda r, w, port=port: origin.serve(r, w, port), "127.0.0.1", port, backlog=1024))
    await asyncio.gather(*(server.serve_forever() for server in servers))


if __name__ == "__main__":
    asyncio.run(main())
