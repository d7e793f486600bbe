"""step_counters: the compiled-step counters a torch job records in its manifest, read from
torch._dynamo after real compiles (dynamo's "eager" backend: it traces, nothing is built)."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from workers.training.step_counters import (  # noqa: E402
    compile_counters,
    keep_every_compile_record,
)


def test_null_without_compile():
    assert compile_counters(False) == {"graphs": None, "graph_breaks": None, "recompiles": None}


def test_graphs_graph_breaks_and_recompiles_come_from_dynamo():
    torch.compile(lambda x: x, backend="eager")(torch.ones(1))  # dynamo loaded, counting
    before = compile_counters(True)

    def broken(x):
        y = x + 1
        torch._dynamo.graph_break()
        return y * 2

    torch.compile(broken, backend="eager")(torch.ones(2))  # two graphs, one break
    twice = torch.compile(lambda x: x * 2, backend="eager", dynamic=False)
    twice(torch.ones(3))
    twice(torch.ones(3))  # the same shape: the compiled graph is reused
    twice(torch.ones(4))  # another shape: its guard fails, dynamo compiles again
    after = compile_counters(True)
    assert after["graphs"] - before["graphs"] == 4
    assert after["graph_breaks"] - before["graph_breaks"] == 1
    assert after["recompiles"] - before["recompiles"] == 1


def test_no_recompile_is_lost_past_dynamos_own_record_limit():
    keep_every_compile_record()
    before = compile_counters(True)["recompiles"]
    grow = torch.compile(lambda x: x + 1, backend="eager", dynamic=False)
    # one compile per shape: 71 shapes, 70 recompiles (dynamo keeps 64 records by default)
    with torch._dynamo.config.patch(recompile_limit=100, accumulated_recompile_limit=100):
        for size in range(1, 72):
            grow(torch.ones(size))
    assert compile_counters(True)["recompiles"] - before == 70
