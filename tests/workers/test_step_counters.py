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


def test_the_run_page_shows_the_counters_in_both_languages(client, researcher):
    from tests.conftest import make_job

    counted = {"graphs": 6, "graph_breaks": 2, "recompiles": 0}
    job = make_job(None, manifest={"step_counters": counted})
    client.force_login(researcher)
    url = f"/experiments/runs/{job.pk}/"
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Compiled graphs / graph breaks / recompiles</dt><dd>6 / 2 / 0</dd>" in html
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "Grafos compilados / cortes de grafo / recompilaciones</dt><dd>6 / 2 / 0" in html
    # a manifest from before recompiles were counted; a job that compiled nothing
    job.manifest = {"step_counters": {"graphs": 6, "graph_breaks": 2}}
    job.save(update_fields=["manifest"])
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<dd>6 / 2 / —</dd>" in html
    job.manifest = {"step_counters": {"graphs": None, "graph_breaks": None, "recompiles": None}}
    job.save(update_fields=["manifest"])
    assert "Compiled graphs" not in client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
