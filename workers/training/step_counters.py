"""Compiled-step counters of a job's process, recorded in its manifest and on the run page.

torch's dynamo counts every graph it compiles and every graph break, whichever library called
torch.compile (fastai, or Keras on torch), and keeps a record of each compile, which says
whether it was a recompile (a compiled frame whose guards failed, compiled again). They cost
nothing to read at the end of a job; the per-step operator and host-sync counts need a
profiler and come from bench/step_profile.py.
"""

from __future__ import annotations

import sys

# dynamo keeps its last 64 compile records; a job's are a few dozen at most, but a job whose
# steps recompile over and over must not lose count
COMPILE_RECORDS = 100_000


def keep_every_compile_record() -> None:
    """Before a compiled torch job starts: keep each compile's record for recompiles()."""
    from torch._dynamo.utils import set_compilation_metrics_limit

    set_compilation_metrics_limit(COMPILE_RECORDS)


def compile_counters(compiled: bool) -> dict:
    """{"graphs", "graph_breaks", "recompiles"}: None where no step was compiled with
    torch.compile (compile off, or Keras on TensorFlow: this never imports torch)."""
    dynamo = sys.modules.get("torch._dynamo.utils")
    if not compiled or dynamo is None:
        return {"graphs": None, "graph_breaks": None, "recompiles": None}
    counters = dynamo.counters
    return {
        "graphs": int(counters["stats"]["unique_graphs"]),
        "graph_breaks": int(sum(counters["graph_break"].values())),
        "recompiles": recompiles(dynamo),
    }


def recompiles(dynamo) -> int:
    """Compiles dynamo made again for a frame it had compiled (it has no counter for them:
    each compile's record carries the reason of a recompile)."""
    return sum(m.recompile_reason is not None for m in dynamo.get_compilation_metrics())
