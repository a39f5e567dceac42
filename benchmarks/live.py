"""Live-run benchmark: 1,000 enabled bindings on one pool, fired together.

    .venv/bin/python benchmarks/live.py [--bindings 1000]

Real nats-server, registry and executor (worker pool, SQLite), set up through the HTTP API: one
program, one signal pool, N paper accounts each with one binding on that pool. The pool then fires
once: the benchmark enqueues the N run messages exactly as the trigger clock does when a pool fires
(`RunQueue.enqueue`, one `Nats-Msg-Id` per binding + trigger), and waits until all N executions are
in the store. Target (issue 10): all of them within one 1-minute candle. Reported: wall time,
runs/s, and trigger-to-fill latency p50/p99 (from the message being enqueued to the run's fills
being decided, per execution).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402
import nats  # noqa: E402

from benchmarks.report import print_table  # noqa: E402
from services.executor.live.clock import pool_trigger  # noqa: E402
from services.executor.live.ledger import EXECUTIONS  # noqa: E402
from services.executor.live.queue import RunQueue  # noqa: E402
from shared.logs import setup_logging  # noqa: E402
from shared.messages.live import RunOrder  # noqa: E402
from shared.natsserver import NatsServer  # noqa: E402
from shared.settings import load_settings  # noqa: E402
from shared.store.sqlite import SqliteStore  # noqa: E402
from shared.timefmt import now_ms  # noqa: E402
from tests.harness import Api, start_platform  # noqa: E402

TARGET_S = 60.0
CODE = """
fn run(ctx) {
    let rsi = ctx.rsi(14);
    ctx.state.runs = ctx.state.get("runs", 0) + 1;
    if ctx.position() == null { ctx.buy(ctx.symbol, 0.01, "pool fired"); } else { ctx.close(ctx.symbol, "pool fired"); }
}
"""
POOL = {"name": "bench", "logic": "AND",
        "signals": [{"symbol": "BTC", "timeframe": "1m", "metric": "rsi(14)", "operator": "<", "value": 101}]}


async def post(api: Api, path: str, body: dict[str, object]) -> dict[str, object]:
    status, reply = await api.post(path, body)
    if status != 201:
        raise RuntimeError(f"{path}: {status} {reply}")
    return reply  # type: ignore[no-any-return]


async def run(count: int) -> list[list[str]]:
    from services.executor.service import build as build_executor
    from services.registry.service import build as build_registry

    with tempfile.TemporaryDirectory() as tmp, NatsServer(Path(tmp) / "js") as server:
        settings = load_settings({"NATS_URL": server.url, "DATA_DIR": str(Path(tmp) / "data"), "LOG_LEVEL": "warning",
                                  "LOG_FORMAT": "json", "LIVE_CLOCK": "false"})
        setup_logging(settings, "benchmark")
        platform = await start_platform(settings, [build_registry, build_executor])
        nc = await nats.connect(server.url)
        try:
            async with aiohttp.ClientSession() as session:
                api = Api(session, platform.base_url)
                program = await post(api, "/api/programs", {"name": "bench", "code": CODE})
                pool = await post(api, "/api/programs/signal-pools/", POOL)
                slots = asyncio.Semaphore(16)

                async def one(i: int) -> tuple[int, int]:
                    async with slots:
                        account = await post(api, "/api/programs/accounts/", {"name": f"bench {i}"})
                        binding = await post(api, "/api/programs/bindings/", {
                            "program_id": program["id"], "account_id": account["id"], "symbol": "BTC", "timeframe": "1m",
                            "signal_pool_ids": [pool["id"]]})
                        return int(binding["id"]), int(account["id"])

                setup = time.perf_counter()
                pairs = await asyncio.gather(*(one(i) for i in range(count)))
                setup_s = time.perf_counter() - setup
            queue = RunQueue(lambda: nc)
            trigger = pool_trigger(int(pool["id"]), now_ms() - now_ms() % 60_000, [])
            store = SqliteStore(settings.sqlite_path)
            await store.ensure(EXECUTIONS)
            executions = store.collection(EXECUTIONS.name)
            started = time.perf_counter()
            for binding_id, account_id in pairs:  # what TriggerClock.enqueue_runs does for a fired pool
                await queue.enqueue(RunOrder(owner=api.owner, binding_id=binding_id, trigger=trigger, queued_at_ms=now_ms()), account_id)
            enqueue_s = time.perf_counter() - started
            while await executions.count(api.owner) < count:
                if time.perf_counter() - started > 10 * TARGET_S:
                    raise RuntimeError("the runs did not finish")
                await asyncio.sleep(0.05)
            total_s = time.perf_counter() - started
            docs = await executions.find(api.owner)
            await store.close()
        finally:
            await nc.close()
            await platform.stop()
    latency = np.array([doc["latency_ms"] for doc in docs], dtype=float)
    statuses = {doc["status"] for doc in docs}
    verdict = "ok" if total_s < TARGET_S and statuses == {"ok"} else "SLOW" if statuses == {"ok"} else f"FAILED {statuses}"
    return [
        ["bindings fired together", f"{count}", "", "", f"setup via HTTP {setup_s:.1f} s"],
        ["all runs done", f"{total_s:8.2f} s", f"< {TARGET_S:g} s", verdict, f"enqueue {enqueue_s:.2f} s"],
        ["runs/s", f"{count / total_s:8.1f}", "", "", f"{len(docs)} executions, status {sorted(statuses)}"],
        ["trigger-to-fill p50", f"{np.percentile(latency, 50):8.0f} ms", "", "", ""],
        ["trigger-to-fill p99", f"{np.percentile(latency, 99):8.0f} ms", "", "", ""],
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bindings", type=int, default=1000)
    args = parser.parse_args()
    rows = asyncio.run(run(args.bindings))
    print_table(["live runs", "value", "target", "", "note"], rows)


if __name__ == "__main__":
    main()
