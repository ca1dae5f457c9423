"""Sends one request N times over one keep-alive connection to 127.0.0.1
and prints the statuses seen, for bench/callgrind.sh.

Usage: callgrind_client.py PORT METHOD PATH N [BODY] [BEARER]
"""

import collections
import http.client
import sys


def main():
    port, method, path, count = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
    body = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] else None
    bearer = sys.argv[6] if len(sys.argv) > 6 and sys.argv[6] else None
    headers = {}
    if body:
        headers["Content-Type"] = "application/json"
    if bearer:
        headers["Authorization"] = "Bearer " + bearer
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    statuses = collections.Counter()
    for _ in range(count):
        connection.request(method, path, body=body, headers=headers)
        reply = connection.getresponse()
        reply.read()
        statuses[reply.status] += 1
    print(" ".join("%d=%d" % pair for pair in sorted(statuses.items())))


if __name__ == "__main__":
    main()
