#!/usr/bin/env python3
"""Load client for scripts/web-bench.sh (issue 14): open-loop HTTP at a fixed rate and many SSE clients.

  webload.py login BASE WORKER PASSWORD            prints the ce_session cookie value
  webload.py http BASE --rate 200 --seconds 60 --target 'PATH COOKIE' [--target ...] --out FILE.json
  webload.py sse BASE --clients 500 --cookie C [--cookie C] --db STORE --cityeye BIN --community ID --changes 5 --out FILE.json

`http` holds the rate the way wrk2 does: request k is due at start + k/rate whatever happened to earlier ones, and its
latency is measured from that due time (a slow server makes the figures worse, it cannot slow the client down). Targets
are taken in turn. Requests go over a pool of keep-alive connections; when every connection is busy a new one is opened
(up to --max-connections), and a request waiting for one counts that wait in its latency. The client also reports how
late it was itself in sending (its own lag on the shared cores).

`sse` opens the clients on /api/changes, waits until every one has its first line, then changes an incident with the
CLI (`cityeye ack` of a dispatched incident of the community) and records when each client receives an event whose
audit row id has reached the change's row (read from the store after the command). Only standard library.
"""
import argparse, asyncio, json, os, re, sqlite3, statistics, subprocess, sys, time, urllib.parse


def parse_base(base):
    u = urllib.parse.urlsplit(base)
    return u.hostname, u.port or 80


async def read_response(reader):
    """Status, headers (lower-case names), body bytes of one HTTP/1.1 response."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            k, v = line.split(":", 1)
            headers.setdefault(k.strip().lower(), []).append(v.strip())
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"][0]))
    elif "chunked" in ",".join(headers.get("transfer-encoding", [])).lower():
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        body = b""
    return status, headers, body


def request_bytes(host, port, method, path, cookie=None, body=None, extra=None):
    h = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "User-Agent: cityeye-webload"]
    if cookie:
        h.append(f"Cookie: {cookie}")
    for k, v in (extra or {}).items():
        h.append(f"{k}: {v}")
    if body is not None:
        h.append("Content-Type: application/x-www-form-urlencoded")
        h.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(h) + "\r\n\r\n").encode() + (body or b"")


async def login(base, worker, password):
    host, port = parse_base(base)
    r, w = await asyncio.open_connection(host, port)
    w.write(request_bytes(host, port, "GET", "/login"))
    await w.drain()
    status, headers, body = await read_response(r)
    cookies = dict(c.split(";")[0].split("=", 1) for c in headers.get("set-cookie", []))
    token = re.search(rb'name="csrf" value="([^"]+)"', body).group(1).decode()
    form = urllib.parse.urlencode({"worker": worker, "password": password, "csrf": token, "next": "/"}).encode()
    w.write(request_bytes(host, port, "POST", "/login", cookie=f"ce_login={cookies['ce_login']}", body=form))
    await w.drain()
    status, headers, _ = await read_response(r)
    w.close()
    for c in headers.get("set-cookie", []):
        name, value = c.split(";")[0].split("=", 1)
        if name == "ce_session" and value:
            return f"ce_session={value}"
    raise SystemExit(f"login as {worker} failed: HTTP {status}")


def pct(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(len(sorted_values) * p))]


async def http_load(args):
    host, port = parse_base(args.base)
    targets = []
    for t in args.target:
        path, cookie = t.split(" ", 1)
        targets.append((path, cookie))
    idle = asyncio.LifoQueue()   # keep-alive connections not in use; None: a place freed by a broken one
    opened = 0
    results = []          # (target index, due, done, status, bytes, error)
    lag = []
    loop = asyncio.get_running_loop()

    async def connection():
        """An idle connection, a new one while fewer than --max-connections are open, else the next one freed."""
        nonlocal opened
        while True:
            if not idle.empty():
                conn = idle.get_nowait()
            elif opened < args.max_connections:
                conn = None
            else:
                conn = await idle.get()
            if conn is not None:
                return conn
            if opened >= args.max_connections:
                continue  # a freed place already taken: wait for the next
            opened += 1
            try:
                return await asyncio.open_connection(host, port)
            except OSError:
                opened -= 1
                raise

    async def one(k, due):
        nonlocal opened
        path, cookie = targets[k % len(targets)]
        try:
            conn = await connection()
        except OSError as e:
            results.append((k % len(targets), due, loop.time(), 0, 0, f"connect: {e}"))
            return
        r, w = conn
        try:
            w.write(request_bytes(host, port, "GET", path, cookie=cookie))
            await w.drain()
            status, headers, body = await asyncio.wait_for(read_response(r), args.timeout)
            done = loop.time()
            err = None
            if status != 200:
                err = f"HTTP {status}"
            elif b'id="live"' not in body:
                err = "not the page (no live part)"
            results.append((k % len(targets), due, done, status, len(body), err))
            idle.put_nowait(conn)
        except Exception as e:  # a broken or timed-out connection is an error, and is not reused
            results.append((k % len(targets), due, loop.time(), 0, 0, f"{type(e).__name__}: {e}"))
            w.close()
            opened -= 1
            idle.put_nowait(None)  # a waiter may open a new one in its place

    # Warm-up: a second at a tenth of the rate, not counted (connections, caches).
    for k in range(max(1, args.rate // 10)):
        await one(k, loop.time())
    results.clear()
    n = int(args.rate * args.seconds)
    start = loop.time() + 0.05
    tasks = []
    for k in range(n):
        due = start + k / args.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        lag.append(loop.time() - due)
        tasks.append(asyncio.ensure_future(one(k, due)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        c = idle.get_nowait()
        if c:
            c[1].close()
    out = {"rate": args.rate, "seconds": args.seconds, "requests": n, "connections_opened_max": args.max_connections,
           "client_lag_ms_p99": round(pct(sorted(lag), 0.99) * 1000, 2), "targets": []}
    for ti, (path, _) in enumerate(targets + [("all", None)]):
        rows = [x for x in results if ti == len(targets) or x[0] == ti]
        lat = sorted((x[2] - x[1]) * 1000 for x in rows)
        errors = [x[5] for x in rows if x[5]]
        out["targets"].append({
            "path": path, "requests": len(rows), "errors": len(errors),
            "error_kinds": sorted(set(errors))[:5],
            "p50_ms": round(pct(lat, 0.50), 2), "p90_ms": round(pct(lat, 0.90), 2),
            "p99_ms": round(pct(lat, 0.99), 2), "max_ms": round(lat[-1], 2) if lat else None,
            "mean_bytes": int(statistics.mean([x[4] for x in rows])) if rows else 0,
        })
    json.dump(out, open(args.out, "w"), indent=1)
    print(json.dumps(out, indent=1))


async def sse_load(args):
    host, port = parse_base(args.base)
    loop = asyncio.get_running_loop()
    latest = [0] * args.clients          # newest audit row id each client has been told of
    first_seen = [dict() for _ in range(args.clients)]   # change index -> time the client reached its row
    ready = asyncio.Event()
    connected = [0]
    targets = []                         # (row, started) of each change, appended as they are made
    writers = []

    async def client(i):
        r, w = await asyncio.open_connection(host, port)
        writers.append(w)
        w.write(request_bytes(host, port, "GET", "/api/changes", cookie=args.cookie[i % len(args.cookie)],
                              extra={"Accept": "text/event-stream"}))
        await w.drain()
        head = await r.readuntil(b"\r\n\r\n")
        status_line = head.split(b"\r\n")[0].decode("latin-1")
        if " 200 " not in status_line:
            raise SystemExit(f"SSE client {i}: {status_line}")
        chunked = b"chunked" in head.lower()
        counted = False
        buf = b""
        while True:
            data = await r.read(65536)
            if not data:
                return
            buf += data
            # Chunk-size lines are hex digits alone on a line: they never look like `data:` or `: at`.
            for line in buf.split(b"\n")[:-1]:
                line = line.strip()
                m = re.match(rb"(?:data: |: at )(\d+)$", line)
                if m:
                    latest[i] = max(latest[i], int(m.group(1)))
                    if not counted:
                        counted = True
                        connected[0] += 1
                        if connected[0] == args.clients:
                            ready.set()
                    now = loop.time()
                    for c, (row, _) in enumerate(targets):
                        if c not in first_seen[i] and latest[i] >= row:
                            first_seen[i][c] = now
            buf = buf.split(b"\n")[-1]
            _ = chunked

    tasks = []
    for i in range(args.clients):
        tasks.append(asyncio.ensure_future(client(i)))
        if i % 50 == 49:
            await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(ready.wait(), 60)
    except asyncio.TimeoutError:
        raise SystemExit(f"only {connected[0]} of {args.clients} SSE clients connected within 60 s")
    db = sqlite3.connect(f"file:{args.db}?mode=ro", uri=True)
    db.execute("PRAGMA busy_timeout = 5000")
    changes = []
    for c in range(args.changes):
        await asyncio.sleep(args.gap)
        row = db.execute("SELECT id, assignee FROM incident WHERE status = 'dispatched' AND community = ? "
                         "ORDER BY id DESC LIMIT 1 OFFSET ?", (args.community, c)).fetchone()
        if not row:
            raise SystemExit(f"no dispatched incident in {args.community} to acknowledge")
        incident, assignee = row
        started = loop.time()
        p = await asyncio.create_subprocess_exec(args.cityeye, "ack", str(incident), "--worker", assignee, "--db", args.db,
                                                 stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        _, err = await p.communicate()
        exited = loop.time()
        if p.returncode != 0:
            raise SystemExit(f"cityeye ack {incident} failed: {err.decode()}")
        audit = db.execute("SELECT max(id) FROM audit WHERE incident = ? AND action = 'acknowledged'", (incident,)).fetchone()[0]
        targets.append((audit, started))
        # A client already past the row when the target is known received it before now.
        for i in range(args.clients):
            if latest[i] >= audit:
                first_seen[i][c] = exited
        changes.append({"incident": incident, "audit_row": audit, "command_ms": round((exited - started) * 1000, 1)})
        await asyncio.sleep(args.wait)
    delays = []
    within = 0
    for c, (row, started) in enumerate(targets):
        for i in range(args.clients):
            t = first_seen[i].get(c)
            if t is not None:
                delays.append((t - started) * 1000)
                if t - started <= 2.0:
                    within += 1
    delays.sort()
    total = args.clients * len(targets)
    for t in tasks:
        t.cancel()
    for w in writers:
        w.close()
    out = {"clients": args.clients, "changes": changes, "deliveries_expected": total, "received": len(delays),
           "within_2s": within, "p50_ms": round(pct(delays, 0.5), 1), "p99_ms": round(pct(delays, 0.99), 1),
           "max_ms": round(delays[-1], 1) if delays else None}
    json.dump(out, open(args.out, "w"), indent=1)
    print(json.dumps(out, indent=1))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("login"); p.add_argument("base"); p.add_argument("worker"); p.add_argument("password")
    p = sub.add_parser("http"); p.add_argument("base"); p.add_argument("--rate", type=int, default=200)
    p.add_argument("--seconds", type=float, default=60); p.add_argument("--target", action="append", required=True)
    p.add_argument("--max-connections", type=int, default=256); p.add_argument("--timeout", type=float, default=10)
    p.add_argument("--out", required=True)
    p = sub.add_parser("sse"); p.add_argument("base"); p.add_argument("--clients", type=int, default=500)
    p.add_argument("--cookie", action="append", required=True); p.add_argument("--db", required=True)
    p.add_argument("--cityeye", required=True); p.add_argument("--community", required=True)
    p.add_argument("--changes", type=int, default=5); p.add_argument("--gap", type=float, default=1.0)
    p.add_argument("--wait", type=float, default=3.0); p.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.cmd == "login":
        print(asyncio.run(login(a.base, a.worker, a.password)))
    elif a.cmd == "http":
        asyncio.run(http_load(a))
    else:
        asyncio.run(sse_load(a))


if __name__ == "__main__":
    main()
