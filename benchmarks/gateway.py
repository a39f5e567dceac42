"""Gateway throughput and latency: `GET /api/programs/{id}` through the whole path, beside a bare aiohttp handler.

The whole path is what `hyperoru up` runs: HTTP → gateway → NATS → registry → SQLite and back, every
service in its own process with JSON request logging on (sent to /dev/null). The baseline is a bare
aiohttp app (also uvloop) answering the same JSON from memory, measured in the same run, so the table
shows what our layers cost on top of aiohttp itself.

Load comes from `wrk` (C, so the load generator does not eat the CPU it measures) when it is on PATH
(`apt-get install wrk`), else from an asyncio client in its own process. 64 connections.

Usage: python -m benchmarks.gateway [--seconds 10] [--connections 64] [--client wrk|python]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from shared.ports import free_port

from benchmarks.report import print_table

TARGET_RPS = 3000
TARGET_P99_MS = 25.0



BARE_APP = """
import sys, uvloop
from aiohttp import web
body = open(sys.argv[2], "rb").read()
async def handler(request):
    return web.Response(body=body, content_type="application/json")
app = web.Application()
app.router.add_get("/api/programs/{id}", handler)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None, loop=uvloop.new_event_loop())
"""


def wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def run_wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t", "1", "-c", str(connections), "-d", f"{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if not match:
            raise RuntimeError(f"wrk output without {label}%:\n{out}")
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": latency("50"), "p99": latency("99"), "errors": float(errors.group(1)) if errors else 0.0}


def run_python_client(url: str, seconds: int, connections: int) -> dict[str, float]:
    code = f"""
import asyncio, aiohttp, time, json, uvloop
async def main():
    latencies, errors = [], 0
    deadline = time.perf_counter() + {seconds}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit={connections})) as s:
        async def worker():
            nonlocal errors
            while time.perf_counter() < deadline:
                t = time.perf_counter()
                async with s.get({url!r}) as r:
                    await r.read()
                    errors += r.status != 200
                latencies.append(time.perf_counter() - t)
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range({connections})))
        elapsed = time.perf_counter() - started
    latencies.sort()
    print(json.dumps({{"rps": len(latencies) / elapsed, "p50": latencies[len(latencies) // 2] * 1000,
                       "p99": latencies[int(len(latencies) * 0.99)] * 1000, "errors": errors}}))
uvloop.run(main())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def measure(url: str, seconds: int, connections: int, client: str) -> dict[str, float]:
    runner = run_wrk if client == "wrk" else run_python_client
    runner(url, 2, connections)  # warm-up: connections, caches, JIT-free but page cache and pools
    return runner(url, seconds, connections)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--client", choices=["wrk", "python"], default="wrk" if shutil.which("wrk") else "python")
    args = parser.parse_args()

    from hyperoru.embedded import Platform

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LOG_FORMAT"] = "json"
        # The path is measured, not the per-owner limiter: one benchmark owner would meet its 50 req/s
        # bucket at once and measure 429s. Auth is `hyperoru up`'s default (`none`).
        os.environ["RATE_LIMIT_PER_S"] = "0"
        platform = Platform(data_dir=Path(tmp) / "data", port=free_port(), say=lambda _: None, log_sink=subprocess.DEVNULL)
        platform.start()
        bare = None
        try:
            program = {"name": "Bench", "code": 'fn run(ctx) { ctx.buy("BTC", 0.01) }', "description": "benchmark"}
            request = urllib.request.Request(
                f"{platform.url}/api/programs/", data=json.dumps(program).encode(), headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request) as response:
                created = json.loads(response.read())
            path = f"/api/programs/{created['id']}"
            with urllib.request.urlopen(platform.url + path) as response:
                body_file = Path(tmp) / "body.json"
                body_file.write_bytes(response.read())

            bare_port = free_port()
            bare = subprocess.Popen([sys.executable, "-c", BARE_APP, str(bare_port), str(body_file)])
            wait_http(f"http://127.0.0.1:{bare_port}{path}")

            rows = []
            for label, url in (
                ("bare aiohttp handler", f"http://127.0.0.1:{bare_port}{path}"),
                ("gateway → NATS → registry → SQLite", platform.url + path),
            ):
                result = measure(url, args.seconds, args.connections, args.client)
                rows.append((label, f"{result['rps']:,.0f}", f"{result['p50']:.2f}", f"{result['p99']:.2f}", f"{result['errors']:.0f}"))
            full = rows[-1]
        finally:
            if bare is not None:
                bare.terminate()
                bare.wait()
            platform.stop()

    print(f"\nGET /api/programs/{{id}}, {args.connections} connections, {args.seconds} s, load from {args.client}, {os.cpu_count()} cores")
    print_table(("path", "req/s", "p50 ms", "p99 ms", "errors"), rows)
    rps, p99, errors = float(full[1].replace(",", "")), float(full[3]), float(full[4])
    verdict = "met" if rps >= TARGET_RPS and p99 <= TARGET_P99_MS and errors == 0 else "NOT met"
    print(f"target ≥ {TARGET_RPS:,} req/s and p99 ≤ {TARGET_P99_MS:g} ms through the whole path: {verdict}")


if __name__ == "__main__":
    main()
