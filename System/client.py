#!/usr/bin/env python3
"""A Delivery Optimization client in a loop: GETs 1 MiB ranges of one object through the node until STOP_FILE
exists, each on a new connection and read slowly enough to be in flight when the engine restarts, and checks
every byte. Prints one JSON summary:
  served    ranges received complete and exact
  refused   connections refused (no engine listened)
  dropped   connections closed or reset before any byte of an answer (the request was not taken: a client
            retries it on a new connection, as RFC 9112 allows)
  failed    answers that began and did not end as an exact 206 (a request in flight that failed), with reasons
"""

import argparse
import json
import os
import socket
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--path", required=True)
    parser.add_argument("--object", required=True, help="the object's bytes, to check against")
    parser.add_argument("--blocks", type=int, default=4, help="ranges of the first N MiB, in turn")
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--read-seconds", type=float, default=0.3, help="how long reading one range takes")
    args = parser.parse_args()

    data = open(args.object, "rb").read()
    block = 1024 * 1024
    served = refused = dropped = 0
    failed = []
    index = 0
    while not os.path.exists(args.stop_file):
        start = (index % args.blocks) * block
        index += 1
        end = start + block - 1
        try:
            connection = socket.create_connection((args.host, args.port), timeout=5)
        except ConnectionRefusedError:
            refused += 1
            time.sleep(0.02)
            continue
        except OSError as error:
            failed.append("connect: %s" % error)
            continue
        try:
            request = (
                "GET %s HTTP/1.1\r\nHost: %s\r\nRange: bytes=%d-%d\r\n"
                "User-Agent: Microsoft-Delivery-Optimization/10.0\r\nConnection: close\r\n\r\n"
                % (args.path, args.host, start, end)
            )
            received = bytearray()
            connection.sendall(request.encode())
            connection.settimeout(20)
            chunk_delay = args.read_seconds / (block / 65536)
            while True:
                chunk = connection.recv(65536)
                if not chunk:
                    break
                received += chunk
                time.sleep(chunk_delay)
            head, _, body = bytes(received).partition(b"\r\n\r\n")
            status = head.split(b"\r\n", 1)[0].decode(errors="replace")
            if not head:
                dropped += 1
            elif " 206 " not in status + " ":
                failed.append("range %d-%d: %s" % (start, end, status))
            elif body != data[start:end + 1]:
                failed.append("range %d-%d: %d bytes, not the object's" % (start, end, len(body)))
            else:
                served += 1
        except OSError as error:
            if received:
                failed.append("range %d-%d: %s after %d bytes" % (start, end, error, len(received)))
            else:
                dropped += 1
        finally:
            connection.close()
    print(json.dumps({"served": served, "refused": refused, "dropped": dropped, "failed": len(failed), "reasons": failed[:5]}))


if __name__ == "__main__":
    main()
