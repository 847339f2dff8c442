#!/usr/bin/env python3
"""Abuse run against a running taskhub on loopback (started by scripts/abuse.sh).

Floods logins, unauthenticated sockets, slow headers and foreign subscribes, and prints
what held. Every phase is bounded in count and time and talks only to 127.0.0.0/8 (client
sockets bind to several 127.0.0.x source addresses so per-IP limits can be told apart).
Exit status is non-zero when a phase did not hold. Standard library only.
"""

import argparse
import base64
import http.client
import json
import os
import socket
import struct
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

# Source addresses: each phase its own, so one phase's per-IP limits do not touch another's.
VICTIM = "127.0.0.3"
ATTACKER = "127.0.0.2"
SOCKETS = "127.0.0.4"
SLOW = "127.0.0.6"
FOREIGN = "127.0.0.5"

results = []


def report(name, held, detail):
    results.append((name, held))
    print(f"[{'held' if held else 'FAILED'}] {name}: {detail}", flush=True)


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return -1
    return -1


def request(port, method, path, body=None, token=None, src=VICTIM, timeout=30):
    """One HTTP request from `src`; returns (status, json or None, seconds, headers)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(src, 0))
    headers = {"content-type": "application/json"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    t0 = time.monotonic()
    try:
        conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        took = time.monotonic() - t0
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return resp.status, data, took, dict(resp.getheaders())
    except OSError as e:
        return 0, {"error": str(e)}, time.monotonic() - t0, {}
    finally:
        conn.close()


def register(port, src, name):
    body = {"username": name, "email": f"{name}@example.com", "password": "fake-password-123"}
    status, data, _, _ = request(port, "POST", "/api/auth/register", body, src=src)
    if status != 201:
        sys.exit(f"registering {name} from {src} failed: {status} {data}")
    return data["data"]["accessToken"], data["data"]["user"]["id"]


# --- a minimal WebSocket client -------------------------------------------------------

class Ws:
    def __init__(self, port, src, path="/ws", timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src, 0))
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(req.encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buf += chunk
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.status = int(head.split(b" ")[1])
        self.close_code = None

    def send(self, obj):
        data = json.dumps(obj).encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            header = struct.pack("!BB", 0x81, 0x80 | n)
        else:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(header + mask + masked)

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk

    def recv(self):
        """Next text frame as JSON; None after a close frame (close_code set)."""
        while True:
            self._need(2)
            b0, b1 = self.buf[0], self.buf[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                self._need(4)
                n, off = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10)
                n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
            self._need(off + n)
            payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
            op = b0 & 0x0F
            if op == 0x8:
                self.close_code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                return None
            if op == 0x9:  # ping -> pong
                mask = os.urandom(4)
                masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                self.sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + mask + masked)
                continue
            if op == 0x1:
                return json.loads(payload)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --- phases -------------------------------------------------------------------------

def login_flood(port, victim_name, count, workers):
    """`count` bogus logins from one address while the victim signs in from another."""
    statuses = {}
    lock = threading.Lock()

    def bogus(i):
        body = {"login": f"nobody{i}@example.com", "password": "wrong-password-123"}
        status, _, _, headers = request(port, "POST", "/api/auth/login", body, src=ATTACKER)
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
            if status == 429 and "retry-after" not in {k.lower() for k in headers}:
                statuses["429 without Retry-After"] = statuses.get("429 without Retry-After", 0) + 1

    victim = []
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(bogus, i) for i in range(count)]
        time.sleep(0.3)
        for _ in range(3):
            body = {"login": victim_name, "password": "fake-password-123"}
            status, _, took, _ = request(port, "POST", "/api/auth/login", body, src=VICTIM)
            victim.append((status, took))
            time.sleep(0.2)
        for f in futures:
            f.result()
    worst = max(t for _, t in victim)
    ok = all(s == 200 for s, _ in victim) and statuses.get(429, 0) > 0 and "429 without Retry-After" not in statuses
    report("login flood", ok,
           f"{count} bogus logins from {ATTACKER}: {dict(sorted(statuses.items(), key=str))}; "
           f"victim logins from {VICTIM}: {[s for s, _ in victim]}, slowest {worst * 1000:.0f} ms")


def hash_flood(port, count, workers):
    """Bogus logins spread over many addresses: each under its per-IP limit, together
    more than the password-hashing slots; the queue must stay bounded (429/503, not a pile-up)."""
    statuses = {}
    lock = threading.Lock()
    slowest = [0.0]

    def bogus(i):
        src = f"127.0.{10 + i // 4}.{1 + i % 4}"
        body = {"login": f"nobody{i}@example.com", "password": "wrong-password-123"}
        status, _, took, _ = request(port, "POST", "/api/auth/login", body, src=src)
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
            slowest[0] = max(slowest[0], took)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(bogus, range(count)))
    ok = 0 not in statuses and 500 not in statuses
    report("hashing queue", ok,
           f"{count} bogus logins from {count // 4} addresses: {dict(sorted(statuses.items()))}; "
           f"slowest answer {slowest[0] * 1000:.0f} ms")


def unauth_sockets(port, pid, count):
    """`count` sockets from one address that never authenticate."""
    before = rss_kib(pid)
    opened, refused, errors = [], 0, 0
    for _ in range(count):
        try:
            ws = Ws(port, SOCKETS, timeout=5)
        except OSError:
            errors += 1
            continue
        if ws.status == 101:
            opened.append(ws)
        else:
            refused += 1
            ws.close()
    # Capped sockets are closed by the server with a close frame; count those still open.
    time.sleep(1.0)
    closed_codes = {}
    still_open = 0
    for ws in opened:
        ws.sock.settimeout(0.05)
        try:
            while True:
                if ws.recv() is None:
                    closed_codes[ws.close_code] = closed_codes.get(ws.close_code, 0) + 1
                    break
        except socket.timeout:
            still_open += 1
        except (ConnectionError, OSError):
            closed_codes["reset"] = closed_codes.get("reset", 0) + 1
    after = rss_kib(pid)
    for ws in opened:
        ws.close()
    ok = still_open < count and errors == 0
    report("unauthenticated sockets", ok,
           f"{count} from {SOCKETS}: {still_open} held open, {refused} refused at upgrade, "
           f"closed by the server {closed_codes}, connect errors {errors}; "
           f"server RSS {before} -> {after} KiB")


def slow_headers(port, count, limit_s):
    """`count` connections that send half a request head and stall."""
    socks = []
    for _ in range(count):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5, source_address=(SLOW, 0))
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            socks.append(s)
        except OSError:
            pass
    t0 = time.monotonic()
    closed_after = []
    for s in socks:
        left = limit_s - (time.monotonic() - t0)
        s.settimeout(max(left, 0.01))
        try:
            while s.recv(4096):
                pass
            closed_after.append(time.monotonic() - t0)
        except socket.timeout:
            pass
        except OSError:
            closed_after.append(time.monotonic() - t0)
        s.close()
    worst = max(closed_after) if closed_after else float("nan")
    ok = len(closed_after) == len(socks)
    report("slow headers", ok,
           f"{len(socks)} stalled request heads: {len(closed_after)} closed by the server "
           f"(the last after {worst:.1f} s), {len(socks) - len(closed_after)} still open after {limit_s} s")


def foreign_subscribes(port, victim_token, attacker_token, sockets, seconds):
    """The attacker's sockets race `subscribe_task` on the victim's tasks while they progress."""
    video_ids = []
    for _ in range(3):
        body = {"prompt": "abuse run victim task", "model": "sora-2", "seconds": 4, "size": "1280x720"}
        status, data, _, _ = request(port, "POST", "/api/video/tasks", body, token=victim_token, src=VICTIM)
        if status != 201:
            report("foreign subscribes", False, f"victim task creation answered {status} {data}")
            return
        video_ids.append(data["data"]["videoId"])
    foreign = [0]
    sent = [0]
    errors = {}
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def attacker(n):
        ws = Ws(port, FOREIGN)
        ws.send({"type": "auth", "payload": {"token": attacker_token}})
        ws.send({"type": "subscribe_user", "payload": {}})
        ws.sock.settimeout(0.02)
        i = 0
        while time.monotonic() < stop:
            ws.send({"type": "subscribe_task", "payload": {"videoId": video_ids[i % len(video_ids)]}})
            i += 1
            try:
                while True:
                    frame = ws.recv()
                    if frame is None:
                        return
                    payload = frame.get("payload") or {}
                    if frame.get("type") == "error":
                        code = payload.get("code")
                        with lock:
                            errors[code] = errors.get(code, 0) + 1
                    elif payload.get("videoId") in video_ids or (payload.get("task") or {}).get("videoId") in video_ids:
                        with lock:
                            foreign[0] += 1
            except socket.timeout:
                pass
            except (ConnectionError, OSError):
                return
            time.sleep(0.05)
        with lock:
            sent[0] += i
        ws.close()

    threads = [threading.Thread(target=attacker, args=(n,)) for n in range(sockets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    final = [request(port, "GET", f"/api/video/tasks/{v}", token=victim_token, src=VICTIM)[1]["data"]["status"]
             for v in video_ids]
    report("foreign subscribes", foreign[0] == 0,
           f"{sockets} sockets sent {sent[0]} subscribe_task for the victim's 3 tasks over {seconds} s "
           f"(victim tasks now {final}): {foreign[0]} foreign frames received; error frames {errors}")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True, help="server pid, for RSS")
    ap.add_argument("--logins", type=int, default=300)
    ap.add_argument("--sockets", type=int, default=1000)
    ap.add_argument("--slow", type=int, default=200)
    ap.add_argument("--slow-limit-s", type=float, default=45.0)
    ap.add_argument("--foreign-sockets", type=int, default=20)
    ap.add_argument("--foreign-seconds", type=float, default=20.0)
    a = ap.parse_args()

    suffix = uuid.uuid4().hex[:8]
    victim_name, attacker_name = f"victim{suffix}", f"attacker{suffix}"
    victim_token, _ = register(a.port, VICTIM, victim_name)
    attacker_token, _ = register(a.port, FOREIGN, attacker_name)
    print(f"server pid {a.pid}, RSS {rss_kib(a.pid)} KiB at start", flush=True)

    login_flood(a.port, victim_name, a.logins, 50)
    hash_flood(a.port, a.logins, 50)
    unauth_sockets(a.port, a.pid, a.sockets)
    slow_headers(a.port, a.slow, a.slow_limit_s)
    foreign_subscribes(a.port, victim_token, attacker_token, a.foreign_sockets, a.foreign_seconds)

    print(f"server RSS at the end {rss_kib(a.pid)} KiB", flush=True)
    failed = [n for n, held in results if not held]
    print(f"{len(results) - len(failed)} held, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
