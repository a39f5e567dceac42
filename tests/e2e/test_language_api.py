"""validate, test-run, dev-guide, and compile checks on program create/update, over real HTTP."""

from __future__ import annotations

import asyncio

import pytest

from tests.harness import Api

BUY = 'fn run(ctx) { ctx.buy("BTC", 0.01) }'
SPIN = "fn run(ctx) { let a = 0..100000; while true { a.contains(-1); } }"
"""Runs until the language's 2 s wall clock stops it (each step scans 100,000 numbers)."""


async def test_reference_example_is_valid(api: Api) -> None:
    status, body = await api.post("/api/programs/validate", {"code": BUY})
    assert status == 200
    assert body == {"valid": True, "errors": [], "warnings": []}


async def test_invalid_code_lists_every_error_with_line_and_column(api: Api) -> None:
    code = "fn run(ctx) {\n    let price = ctx.price;\n    if pricee > 1 { ctx.buy(\"BTC\", 1) }\n    undefined_fn(2);\n}"
    status, body = await api.post("/api/programs/validate", {"code": code})
    assert status == 200
    assert body["valid"] is False
    assert len(body["errors"]) >= 2
    first = body["errors"][0]
    assert (first["line"], first["column"]) == (3, 8)
    assert "pricee" in first["message"] and "price" in first["message"]


async def test_validate_warns_about_unused_variables(api: Api) -> None:
    status, body = await api.post("/api/programs/validate", {"code": 'fn run(ctx) { let unused = 1; ctx.hold("x") }'})
    assert body["valid"] is True and any("unused" in w["message"] for w in body["warnings"])


async def test_create_rejects_code_that_does_not_compile(api: Api) -> None:
    status, body = await api.post("/api/programs/", {"name": "broken", "code": "fn run(ctx) { let = ; }"})
    assert status == 422
    assert body["error"]["code"] == "program_failed"
    assert body["error"]["details"]["field"] == "code"
    assert body["error"]["details"]["errors"][0]["line"] == 1
    assert (await api.get("/api/programs/"))[1] == []


async def test_update_rejects_code_that_does_not_compile_and_keeps_the_old_version(api: Api) -> None:
    _, created = await api.post("/api/programs/", {"name": "ok", "code": BUY})
    status, body = await api.put(f"/api/programs/{created['id']}", {"code": "fn main() {}"})
    assert status == 422 and body["error"]["details"]["errors"]
    assert (await api.get(f"/api/programs/{created['id']}"))[1]["version"] == 1


async def test_test_run_of_a_saved_program(api: Api) -> None:
    _, created = await api.post("/api/programs/", {"name": "buyer", "code": BUY})
    status, body = await api.post("/api/programs/test-run", {"program_id": created["id"], "symbol": "BTC"})
    assert status == 200, body
    assert body["status"] == "ok"
    assert body["result"] == {"action": "buy", "symbol": "BTC", "quantity": 0.01}
    assert body["orders"] == [body["result"]]
    assert body["steps"] >= 1 and body["duration_ms"] >= 0
    assert body["program_id"] == created["id"] and body["version"] == 1


async def test_test_run_of_unsaved_code_with_params_state_and_logs(api: Api) -> None:
    code = """
    fn run(ctx) {
        let qty = ctx.params.get("quantity", 1);
        ctx.state.runs = ctx.state.get("runs", 0) + 1;
        ctx.log("balance " + str(ctx.balance));
        if ctx.position() == null { ctx.buy(ctx.symbol, qty, "first entry") } else { ctx.hold("in position") }
    }
    """
    status, body = await api.post(
        "/api/programs/test-run", {"code": code, "symbol": "ETH", "params": {"quantity": 0.5}, "state": {"runs": 2}}
    )
    assert status == 200 and body["status"] == "ok", body
    assert body["result"] == {"action": "buy", "symbol": "ETH", "quantity": 0.5, "reason": "first entry"}
    assert body["logs"] == ["balance 10000"]
    assert body["state"] == {"runs": 3}


async def test_test_run_sees_a_given_account(api: Api) -> None:
    code = 'fn run(ctx) { let p = ctx.position("BTC"); ctx.log(p.side); ctx.log(ctx.balance); ctx.close("BTC", "exit") }'
    account = {"balance": 500, "positions": [{"symbol": "BTC", "side": "long", "size": 0.1, "entry_price": 1000}]}
    status, body = await api.post("/api/programs/test-run", {"code": code, "symbol": "BTC", "account": account})
    assert body["status"] == "ok", body
    assert body["logs"] == ["long", "500"]
    assert body["result"]["action"] == "close"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("fn run(ctx) { let x = ; }", "compile"),
        ('fn run(ctx) { let a = [1]; ctx.log(a[5]); }', "runtime"),
        ("fn run(ctx) { while true { } }", "limit"),
        ("fn f(n) { f(n + 1) }\nfn run(ctx) { f(0) }", "limit"),
        ('fn run(ctx) { ctx.__class__ }', "compile"),
        ('fn run(ctx) { ctx.log(ctx.market("DOGE").price) }', "runtime"),
        ('fn run(ctx) { ctx.log(ctx.market("ETH", "7m").price) }', "runtime"),
    ],
)
async def test_failing_programs_report_kind_message_and_position(api: Api, code: str, kind: str) -> None:
    status, body = await api.post("/api/programs/test-run", {"code": code, "symbol": "BTC"})
    assert status == 200
    assert body["status"] == "error", body
    assert body["error"]["kind"] == kind
    assert body["error"]["message"] and body["error"]["line"] >= 1 and body["error"]["column"] >= 1
    assert "logs" in body


async def test_test_run_reads_another_market_named_in_the_program(api: Api) -> None:
    code = 'fn run(ctx) { let eth = ctx.market("ETH", "4h"); ctx.log(eth.price > 0); ctx.log(eth.rsi(14) != null); ctx.hold("x") }'
    status, body = await api.post("/api/programs/test-run", {"code": code, "symbol": "BTC"})
    assert status == 200 and body["status"] == "ok", body
    assert body["logs"] == ["true", "true"]


async def test_test_run_of_unknown_program_is_404(api: Api) -> None:
    status, body = await api.post("/api/programs/test-run", {"program_id": 987654, "symbol": "BTC"})
    assert status == 404


async def test_test_run_of_another_owners_program_is_404(api: Api) -> None:
    _, created = await api.post("/api/programs/", {"name": "private", "code": BUY})
    other = Api(api.session, api.base_url)
    status, _ = await other.post("/api/programs/test-run", {"program_id": created["id"], "symbol": "BTC"})
    assert status == 404


@pytest.mark.parametrize(
    "body",
    [
        {"symbol": "BTC"},
        {"symbol": "BTC", "code": BUY, "program_id": 1},
        {"code": BUY},
        {"code": BUY, "symbol": "DOGE"},
    ],
)
async def test_test_run_rejects_bad_requests(api: Api, body: dict) -> None:
    status, reply = await api.post("/api/programs/test-run", body)
    assert status in (404, 422), reply


async def test_dev_guide_is_markdown_for_program_authors(api: Api) -> None:
    status, body = await api.get("/api/programs/dev-guide")
    assert status == 200
    assert body["guide"].startswith("# Program Development Guide")
    assert "## Context Object" in body["guide"]


# ---- issue 8: paper fills, truthful logs, work off the event loop --------------------------------------


async def test_test_run_fills_orders_on_a_paper_account_and_rejects_what_cannot_fill(api: Api) -> None:
    code = """fn run(ctx) {
        ctx.buy("BTC", 0.01, "small");
        ctx.buy("NOPE", 1, "unknown symbol");
        ctx.buy("BTC", 1000000, "far too large");
        ctx.close("ETH", "nothing to close");
    }"""
    status, body = await api.post("/api/programs/test-run", {"code": code, "symbol": "BTC", "account": {"balance": 10000}})
    assert status == 200, body
    assert body["status"] == "ok"
    assert len(body["orders"]) == 4  # what the program recorded, unchanged
    [fill] = body["fills"]
    assert fill["symbol"] == "BTC" and fill["side"] == "buy" and fill["quantity"] == 0.01
    assert fill["price"] == pytest.approx(body["price"]) and fill["fee"] > 0 and fill["order_reason"] == "small"
    reasons = {r["order_reason"]: r["reason"] for r in body["rejected"]}
    assert set(reasons) == {"unknown symbol", "far too large", "nothing to close"}
    assert "unknown symbol NOPE" in reasons["unknown symbol"]
    assert "exceed equity × leverage" in reasons["far too large"]
    assert "no open position in ETH" in reasons["nothing to close"]
    assert "paper account" in body["account_note"] and "3 of 4 orders could not be filled" in body["account_note"]


async def test_test_run_account_positions_and_leverage_are_used(api: Api) -> None:
    code = 'fn run(ctx) { ctx.log(ctx.position("BTC").size); ctx.close("BTC", "take it off"); }'
    account = {"balance": 1000, "leverage": 2, "positions": [{"symbol": "BTC", "side": "long", "size": 0.001, "entry_price": 1}]}
    status, body = await api.post("/api/programs/test-run", {"code": code, "symbol": "BTC", "account": account})
    assert status == 200 and body["status"] == "ok", body
    assert body["logs"] == ["0.001"]
    [fill] = body["fills"]
    assert fill["side"] == "sell" and fill["quantity"] == 0.001 and fill["realized_pnl"] > 0
    assert body["rejected"] == []
    status, body = await api.post("/api/programs/test-run", {"code": code, "symbol": "BTC", "account": {"leverage": 0.5}})
    assert status == 422 and body["error"]["details"]["field"].startswith("account")


async def test_test_run_refuses_two_positions_in_one_symbol(api: Api) -> None:
    position = {"symbol": "BTC", "side": "long", "size": 0.1, "entry_price": 1000}
    account = {"positions": [position, {**position, "side": "short"}]}
    status, body = await api.post("/api/programs/test-run", {"code": "fn run(ctx) { ctx.hold() }", "symbol": "BTC", "account": account})
    assert status == 422 and body["error"]["details"]["field"] == "account.positions[1].symbol"


async def test_test_run_logs_are_cut_with_a_marker_and_the_reply_fits(api: Api) -> None:
    code = 'fn run(ctx) { let s = "0123456789"; for i in 0..16 { s = s + s; } for i in 0..10 { ctx.log(s); } }'
    status, body = await api.post("/api/programs/test-run", {"code": code, "symbol": "BTC"})
    assert status == 200 and body["status"] == "ok", body
    assert body["logs"][-1].startswith("… 9 more log lines were not kept")
    assert sum(len(line.encode()) for line in body["logs"][:-1]) <= 256 * 1024


async def test_test_run_state_of_shared_strings_is_a_limit_error_not_gigabytes(api: Api) -> None:
    code = 'fn run(ctx) { let s = "0123456789"; for i in 0..16 { s = s + s; } let a = []; for i in 0..10000 { a.push(s); } ctx.state.a = a; }'
    status, body = await api.post("/api/programs/test-run", {"code": code, "symbol": "BTC"})
    assert status == 200
    assert body["status"] == "error" and body["error"]["kind"] == "limit"
    assert "characters of text" in body["error"]["message"]


async def test_a_long_run_does_not_block_the_executor(api: Api, platform: object) -> None:
    """While one test run spins for its whole time budget in a worker, the executor's `$SRV.PING`,
    a market query and a validate all answer first."""
    from tests.harness import RunningPlatform

    assert isinstance(platform, RunningPlatform)
    nc = platform.services[0].nc
    order: list[str] = []

    async def heavy() -> None:
        status, body = await api.post("/api/programs/test-run", {"code": SPIN, "symbol": "BTC"})
        assert status == 200 and body["status"] == "error" and body["error"]["kind"] == "limit", body
        order.append("heavy")

    async def light() -> None:
        await asyncio.sleep(0.3)  # let the heavy run reach its worker
        reply = await nc.request("$SRV.PING.executor", b"", timeout=5)
        assert b"executor" in reply.data
        status, _ = await api.get("/api/programs/available-symbols")
        assert status == 200
        status, body = await api.post("/api/programs/validate", {"code": BUY})
        assert status == 200 and body["valid"] is True
        order.append("light")

    await asyncio.gather(heavy(), light())
    assert order == ["light", "heavy"]


async def test_saving_a_large_program_does_not_block_the_registry(api: Api, platform: object) -> None:
    from tests.harness import RunningPlatform

    assert isinstance(platform, RunningPlatform)
    nc = platform.services[0].nc
    big = "const A = [" + ",".join(["1"] * 30_000) + "];\nfn run(ctx) { ctx.log(len(A)); }\n"
    order: list[str] = []

    async def save() -> None:
        status, body = await api.post("/api/programs/", {"name": "big", "code": big})
        assert status == 201, body
        order.append("saved")

    async def ping() -> None:
        reply = await nc.request("$SRV.PING.registry", b"", timeout=5)
        assert b"registry" in reply.data
        order.append("ping")

    await asyncio.gather(save(), ping())
    assert sorted(order) == ["ping", "saved"]


async def test_a_test_run_beyond_worker_capacity_is_a_503_that_says_retry(settings, tmp_path, http_session) -> None:  # type: ignore[no-untyped-def]
    """queue-wait: with the only executor worker busy, a test run waits `WORKER_QUEUE_TIMEOUT_S` for it
    and is then answered 503 `unavailable` in the JSON envelope (never a 504 at the gateway's deadline,
    never a 500); once the worker is free again, test runs work as before."""
    import msgspec

    from services.executor.service import build as build_executor
    from shared.natsserver import NatsServer
    from tests.harness import start_platform

    with NatsServer(tmp_path / "js") as server:
        own = msgspec.structs.replace(
            settings, nats_url=server.url, data_dir=str(tmp_path / "data"),
            worker_processes=1, worker_queue_timeout_s=0.2, run_timeout_s=30.0, request_timeout_s=30.0,
        )
        running = await start_platform(own, [build_executor])
        api = Api(http_session, running.base_url)
        try:
            for _ in range(300):  # the worker starts in the background: until then test runs are 503s too
                status, body = await api.post("/api/programs/test-run", {"code": BUY, "symbol": "BTC"})
                if status == 200:
                    break
                assert status == 503 and body["error"]["code"] == "unavailable", body
            busy: tuple[int, dict, str | None] | None = None
            for _attempt in range(3):  # SPIN holds the worker for the language's 2 s wall clock
                holder = asyncio.create_task(api.post("/api/programs/test-run", {"code": SPIN, "symbol": "BTC"}))
                while busy is None and not holder.done():
                    status, body = await api.post("/api/programs/test-run", {"code": BUY, "symbol": "BTC"})
                    if status != 200:  # 200: the probe got the worker before the holder did
                        busy = (status, body, api.last_headers.get("Retry-After"))
                status, body = await holder
                if status == 503:  # the holder itself found a probe on the worker: try again
                    busy = None
                    continue
                assert status == 200 and body["status"] == "error" and body["error"]["kind"] == "limit", body
                if busy is not None:
                    break
            assert busy is not None, "the probe never found the worker busy"
            status, body, retry_after = busy
            assert status == 503 and retry_after == "1", (body, retry_after)
            assert body["error"]["code"] == "unavailable"
            assert "the one executor worker is busy; retry shortly" in body["error"]["message"]
            details = body["error"]["details"]
            assert details["reason"] == "workers_busy" and details["workers"] == 1 and details["retry_after_s"] == 1
            assert details["waited_s"] >= 0.2
            status, body = await api.post("/api/programs/test-run", {"code": BUY, "symbol": "BTC"})
            assert status == 200 and body["status"] == "ok", body
        finally:
            await running.stop()
