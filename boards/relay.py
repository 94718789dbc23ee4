#!/usr/bin/env python3
"""UART-to-TCP relay for the QEMU board images (python3 standard library only).

QEMU connects the board's UART to this relay's listening socket on 127.0.0.1
(`-chardev socket,...,server=off -serial chardev:u0`). The relay carries that byte stream
to TCP servers, one upstream connection at a time:

- While no upstream connection is open, the device may send a relay command line

      \\0RELAY CONNECT <host>:<port> <n>\\n

  The relay connects to <host>:<port> (it must be on the --allow list, on a loopback
  address) and answers \\0RELAY OK <n>\\n, or \\0RELAY ERR <n> <reason>\\n. When that
  connection ends, after its last byte, the relay sends \\0RELAY CLOSED <n>\\n, so the device
  knows when it may send the next command (and which bytes were the old connection's).
- Other bytes that arrive while no upstream is open open a NEW connection to the
  --upstream default, if one is given (transparent mode: no relay lines at all); else they
  are dropped and logged.
- While an upstream is open, bytes are forwarded both ways unchanged.
- When the server closes the connection, the relay drops the upstream (the device learns
  where each response ends from its HTTP framing; it never needs the end of stream).

Listens on 127.0.0.1 only and connects to loopback addresses only. Serves one device
connection at a time; with --once it exits when the first one ends.

    relay.py --allow 127.0.0.1:18190 --allow 127.0.0.1:18191 [--listen 127.0.0.1:0]
             [--port-file FILE] [--upstream HOST:PORT] [--once] [--quiet]
"""

import argparse
import ipaddress
import os
import select
import socket
import sys
import time

COMMAND_PREFIX = b"\0RELAY "
MAX_COMMAND = 256
CONNECT_TIMEOUT = 5.0


def log(args, msg):
    if not args.quiet:
        sys.stderr.write("relay: %s\n" % msg)
        sys.stderr.flush()


def parse_addr(text):
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError("HOST:PORT expected, got %r" % text)
    return host, int(port)


def loopback_only(host):
    """True if every address `host` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


class Session:
    """One device connection (QEMU's UART chardev)."""

    def __init__(self, args, device):
        self.args = args
        self.dev = device
        self.up = None
        self.up_name = None
        self.number = None  # the device's number for a command-opened connection
        self.pending = b""
        self.count = 0
        self.sent = 0
        self.received = 0
        self.opened_at = 0.0

    def reply(self, line):
        self.dev.sendall(b"\0RELAY " + line.encode() + b"\n")

    def open_upstream(self, target, number):
        try:
            host, port = parse_addr(target)
        except ValueError as e:
            return "bad-target %s" % e
        if target not in self.args.allow:
            return "not-allowed"
        try:
            up = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
        except OSError as e:
            return "connect-failed %s" % (e.strerror or e)
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        up.settimeout(None)
        self.up = up
        self.up_name = target
        self.number = None if number == "-" else number
        self.count += 1
        self.sent = self.received = 0
        self.opened_at = time.monotonic()
        log(self.args, "connection %s to %s open (upstream #%d)" % (number, target, self.count))
        return None

    def close_upstream(self, why):
        if self.up is None:
            return
        try:
            self.up.close()
        except OSError:
            pass
        log(
            self.args,
            "connection %s to %s closed (%s): %d bytes up, %d bytes down, %.2f s"
            % (self.number or "-", self.up_name, why, self.sent, self.received, time.monotonic() - self.opened_at),
        )
        self.up = None
        self.up_name = None
        if self.number is not None and why != "device gone":
            try:
                self.reply("CLOSED %s" % self.number)
            except OSError:
                pass
        self.number = None

    def forward_up(self, data):
        self.up.sendall(data)
        self.sent += len(data)

    def handle_pending(self):
        """Consumes buffered device bytes while no upstream is open."""
        while self.pending and self.up is None:
            if self.pending[:1] == b"\0":
                end = self.pending.find(b"\n")
                if end < 0:
                    if len(self.pending) > MAX_COMMAND:
                        log(self.args, "dropping %d bytes: an unterminated command" % len(self.pending))
                        self.pending = b""
                    return
                line, self.pending = self.pending[:end], self.pending[end + 1 :]
                self.command(line)
            elif self.args.upstream:
                err = self.open_upstream(self.args.upstream, "-")
                if err:
                    log(self.args, "default upstream %s: %s; dropping %d bytes" % (self.args.upstream, err, len(self.pending)))
                    self.pending = b""
                    return
            else:
                log(self.args, "dropping %d bytes: no connection open (send a CONNECT command first)" % len(self.pending))
                self.pending = b""
                return
        if self.pending and self.up is not None:
            data, self.pending = self.pending, b""
            self.forward_up(data)

    def command(self, line):
        if not line.startswith(COMMAND_PREFIX):
            log(self.args, "ignoring unknown line %r" % line[:80])
            return
        words = line[len(COMMAND_PREFIX) :].decode("ascii", "replace").split()
        if len(words) == 3 and words[0] == "CONNECT":
            target, number = words[1], words[2]
            err = self.open_upstream(target, number)
            if err:
                log(self.args, "connection %s to %s refused: %s" % (number, target, err))
                self.reply("ERR %s %s" % (number, err))
            else:
                self.reply("OK %s" % number)
        else:
            log(self.args, "ignoring unknown command %r" % line[:80])

    def run(self):
        while True:
            socks = [self.dev] + ([self.up] if self.up is not None else [])
            readable, _, _ = select.select(socks, [], [])
            if self.dev in readable:
                try:
                    data = self.dev.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.close_upstream("device gone")
                    return
                if self.up is None:
                    self.pending += data
                    self.handle_pending()
                else:
                    try:
                        self.forward_up(data)
                    except OSError as e:
                        self.close_upstream("send failed: %s" % e)
            if self.up is not None and self.up in readable:
                try:
                    data = self.up.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self.close_upstream("closed by the server")
                    continue
                self.received += len(data)
                self.dev.sendall(data)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--listen", default="127.0.0.1:0", help="where QEMU connects (127.0.0.1 only; port 0 picks one)")
    p.add_argument("--port-file", help="write the listening port here once listening")
    p.add_argument("--allow", action="append", default=[], help="HOST:PORT the device may CONNECT to (repeatable)")
    p.add_argument("--upstream", help="HOST:PORT for bytes that arrive without a command")
    p.add_argument("--once", action="store_true", help="exit when the first device connection ends")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()

    host, port = parse_addr(args.listen)
    if host != "127.0.0.1":
        p.error("--listen: only 127.0.0.1 is allowed")
    for target in args.allow + ([args.upstream] if args.upstream else []):
        if not loopback_only(parse_addr(target)[0]):
            p.error("%s: only loopback servers are allowed" % target)
    if args.upstream and args.upstream not in args.allow:
        args.allow.append(args.upstream)

    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((host, port))
    srv.listen(1)
    port = srv.getsockname()[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    log(args, "listening on 127.0.0.1:%d; allowed: %s" % (port, " ".join(args.allow) or "(none)"))
    while True:
        dev, peer = srv.accept()
        dev.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        log(args, "device connected from %s:%d" % peer)
        try:
            Session(args, dev).run()
        finally:
            dev.close()
        log(args, "device disconnected")
        if args.once:
            return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
