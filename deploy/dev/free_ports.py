"""Prints N distinct free localhost TCP ports (default 1) on one line.

All N sockets are held open while the ports are chosen: asked one at a time, the kernel may
hand out the same port twice. Used by deploy/dev/bench.sh, deploy/dev/bench-sink.sh and
tests/clients/run.sh.
"""
import socket
import sys

held = [socket.socket() for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 1)]
for s in held:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in held))
