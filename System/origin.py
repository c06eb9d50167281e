#!/usr/bin/env python3
"""The origin of the system tests: static files over HTTP/1.1 with keep-alive, single ranges, ETag,
Last-Modified and Content-Length. Each request is one line of GET /_requests ("PATH RANGE"), so a test
can count what reached the origin."""

import argparse
import email.utils
import hashlib
import http.server
import os
import re
import threading

TYPES = {".gif": "image/gif", ".bin": "application/octet-stream"}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--root", required=True)
    parser.add_argument("--log", required=True)
    args = parser.parse_args()

    files = {}
    for directory, _, names in os.walk(args.root):
        for name in names:
            path = os.path.join(directory, name)
            data = open(path, "rb").read()
            files["/" + os.path.relpath(path, args.root)] = (
                data,
                '"%s"' % hashlib.sha256(data).hexdigest()[:20],
                TYPES.get(os.path.splitext(name)[1], "application/octet-stream"),
            )
    modified = email.utils.formatdate(1764460800, usegmt=True)
    requests = []
    lock = threading.Lock()
    log = open(args.log, "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *values):
            log.write("%s %s\n" % (self.client_address[0], format % values))

        def do_HEAD(self):
            self.answer(body=False)

        def do_GET(self):
            self.answer(body=True)

        def answer(self, body):
            path = self.path.split("?", 1)[0]
            if path == "/_requests":
                text = "".join("%s %s\n" % entry for entry in list(requests)).encode()
                return self.send(200, {"Content-Type": "text/plain"}, text, body)
            with lock:
                requests.append((path, self.headers.get("Range", "-")))
            if path not in files:
                return self.send(404, {"Content-Type": "text/plain"}, b"not found\n", body)
            data, etag, kind = files[path]
            headers = {"Content-Type": kind, "ETag": etag, "Last-Modified": modified, "Accept-Ranges": "bytes"}
            match = re.fullmatch(r"bytes=(\d*)-(\d*)", self.headers.get("Range", "").strip())
            if match and (match.group(1) or match.group(2)):
                first, last = match.group(1), match.group(2)
                if first:
                    start, end = int(first), min(int(last) if last else len(data) - 1, len(data) - 1)
                else:
                    start, end = max(len(data) - int(last), 0), len(data) - 1
                if start >= len(data) or start > end:
                    headers["Content-Range"] = "bytes */%d" % len(data)
                    return self.send(416, headers, b"", body)
                headers["Content-Range"] = "bytes %d-%d/%d" % (start, end, len(data))
                return self.send(206, headers, data[start:end + 1], body)
            self.send(200, headers, data, body)

        def send(self, status, headers, data, body):
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

    server = http.server.ThreadingHTTPServer((args.bind, args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
