"""The services' use of worker pools: timeouts become clear answers, caches are bounded by bytes."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from services.executor import work
from services.executor.runs import TestRunner as ExecutorTestRunner
from services.executor.runs import Validator
from services.registry.service import PooledCompileCheck
from shared.context import RequestContext
from shared.errors import LimitExceeded
from shared.lang.cache import estimate_bytes
from shared.messages.runs import TestRunRequest as RunRequest
from shared.messages.runs import ValidateRequest
from shared.settings import Settings
from shared.workers import WorkerPool

MIB = 1024 * 1024
SPIN = "fn run(ctx) { let a = 0..100000; while true { a.contains(-1); } }"
BIG = "const A = [" + ",".join(["1"] * 30_000) + "];\nfn run(ctx) { ctx.log(len(A)); }\n"

pytestmark = pytest.mark.timeout(120)


class NoPrograms:
    async def code_of(self, program_id: int, ctx: RequestContext) -> tuple[str, int]:
        raise AssertionError("not used")


@pytest_asyncio.fixture(loop_scope="function")
async def executor_pool(settings: Settings) -> AsyncIterator[WorkerPool]:
    pool = WorkerPool("executor-test", size=1, memory_limit_bytes=1024 * MIB, initializer=work.init, initargs=(settings,))
    pool.start()
    await pool.ready()
    yield pool
    await pool.close()


def ctx() -> RequestContext:
    return RequestContext(owner="t-work", request_id="r-1")


@pytest.mark.asyncio(loop_scope="function")
async def test_a_test_run_that_outlives_its_timeout_is_a_limit_error(executor_pool: WorkerPool) -> None:
    runner = ExecutorTestRunner(NoPrograms(), executor_pool, timeout_s=0.5)
    result = await runner.test_run(RunRequest(symbol="BTC", code=SPIN), ctx())
    assert result.status == "error"
    assert result.error is not None and result.error.kind == "limit"
    assert "longer than 0.5 s" in result.error.message
    assert executor_pool.kills == 1
    ok = await ExecutorTestRunner(NoPrograms(), executor_pool, timeout_s=30).test_run(
        RunRequest(symbol="BTC", code='fn run(ctx) { ctx.buy("BTC", 0.001, "x"); }'), ctx()
    )
    assert ok.status == "ok" and ok.fills is not None and len(ok.fills) == 1


@pytest.mark.asyncio(loop_scope="function")
async def test_validate_that_outlives_its_timeout_says_so(executor_pool: WorkerPool) -> None:
    result = await Validator(executor_pool, timeout_s=0.001).validate(ValidateRequest(code=BIG))
    assert result.valid is False
    assert "longer than 0.001 s to compile" in result.errors[0].message
    assert (await Validator(executor_pool, timeout_s=30).validate(ValidateRequest(code=BIG))).valid


@pytest.mark.asyncio(loop_scope="function")
async def test_the_registry_compile_check_times_out_as_a_limit() -> None:
    pool = WorkerPool("registry-test", size=1, memory_limit_bytes=512 * MIB)
    pool.start()
    try:
        await pool.ready()
        with pytest.raises(LimitExceeded) as caught:
            await PooledCompileCheck(pool, timeout_s=0.001)(BIG)
        assert caught.value.status == 422 and caught.value.code == "limit_exceeded"
        assert caught.value.details["field"] == "code" and caught.value.details["limit"] == "compile_timeout_s"
        assert await PooledCompileCheck(pool, timeout_s=30)(BIG) == []
        errors = await PooledCompileCheck(pool, timeout_s=30)("fn run(ctx) { let = ; }")
        assert errors and errors[0].line == 1
    finally:
        await pool.close()


def test_the_compile_cache_is_bounded_by_bytes() -> None:
    cache = work.CompileCache(max_bytes=4 * MIB)
    programs = [f"const A = [{','.join([str(i)] * 20_000)}];\nfn run(ctx) {{ ctx.log(len(A)); }}\n" for i in range(10)]
    sizes = [estimate_bytes(p, cache.get(p)) for p in programs]
    assert all(size > 1 * MIB for size in sizes)  # a 20,000-element constant is counted as such
    assert cache.used <= cache.max_bytes
    assert 1 <= len(cache) < len(programs)
    assert cache.get(programs[-1]) is cache.get(programs[-1])  # the most recent stays
    small = 'fn run(ctx) { ctx.hold("x"); }'
    assert cache.get(small) is cache.get(small)
    huge = work.CompileCache(max_bytes=1024)
    huge.get(programs[0])
    assert len(huge) == 0 and huge.used == 0
