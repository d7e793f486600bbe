"""Compiled-step counters of a job's process, recorded in its manifest and on the run page.

torch's dynamo counts every graph it compiles and every graph break, whichever library called
torch.compile (fastai, or Keras on torch). They cost nothing to read at the end of a job; the
per-step operator and host-sync counts need a profiler and come from bench/step_profile.py.
"""

from __future__ import annotations

import sys


def compile_counters(compiled: bool) -> dict:
    """{"graphs", "graph_breaks"}: None where no step was compiled with torch.compile
    (compile off, or Keras on TensorFlow: this never imports torch)."""
    dynamo = sys.modules.get("torch._dynamo.utils")
    if not compiled or dynamo is None:
        return {"graphs": None, "graph_breaks": None}
    counters = dynamo.counters
    return {
        "graphs": int(counters["stats"]["unique_graphs"]),
        "graph_breaks": int(sum(counters["graph_break"].values())),
    }
