"""validate, test-run, dev-guide, and compile checks on program create/update, over real HTTP."""

from __future__ import annotations

import pytest

from tests.harness import Api

BUY = 'fn run(ctx) { ctx.buy("BTC", 0.01) }'


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
