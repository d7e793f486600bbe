"""Jobs per GPU from measurement: a pure function of free memory, cores and the memory peaks
earlier jobs recorded (no GPU needed), and the Workers page saying why."""

from __future__ import annotations

import pytest
from django.utils import translation

from experiments.models import WorkerHeartbeat
from workers.training.devices import (
    ASSUMED_JOB_MEMORY_MB,
    THESIS_ARCHITECTURES,
    plan_job_slots,
)

H200_FREE, H200_TOTAL = 140_000, 143_771
ALL_MEASURED = {f"{arch}@256": 4_000.0 for arch in THESIS_ARCHITECTURES} | {"vgg19@256": 9_000.0}


def test_an_h200_is_bound_by_cores_at_two_per_job():
    plan = plan_job_slots(H200_FREE, H200_TOTAL, 16, ALL_MEASURED)
    assert plan.jobs == 8 and plan.basis["rule"] == "cores"
    assert plan.basis["job_mb"] == 11_250  # the largest peak (VGG19) + a quarter
    assert plan.basis["by_memory"] == 11 and plan.basis["largest_peak"] == "vgg19@256"
    # each child's cap: its equal share of the free memory, above its need
    assert plan.memory_fraction * H200_TOTAL >= plan.basis["job_mb"]
    assert plan.memory_fraction * H200_TOTAL * plan.jobs <= H200_FREE


def test_a_small_gpu_is_bound_by_memory():
    plan = plan_job_slots(24_000, 24_576, 16, ALL_MEASURED)
    assert plan.jobs == 2 and plan.basis["rule"] == "memory"


def test_architectures_not_measured_count_at_the_assumed_size():
    plan = plan_job_slots(H200_FREE, H200_TOTAL, 64, {"resnet50@256": 5_000.0})
    assert plan.basis["job_mb"] == ASSUMED_JOB_MEMORY_MB
    assert "vgg19" in plan.basis["not_measured"] and "resnet50" not in plan.basis["not_measured"]
    assert plan.jobs == H200_FREE * 95 // 100 // ASSUMED_JOB_MEMORY_MB


def test_small_measured_peaks_pack_up_to_the_cap():
    small = {f"{arch}@64": 500.0 for arch in THESIS_ARCHITECTURES}
    plan = plan_job_slots(H200_FREE, H200_TOTAL, 128, small)
    assert plan.jobs == plan.basis["max_jobs"] and plan.basis["rule"] == "cap"


def test_a_number_wins_and_no_gpu_means_one_job_uncapped():
    fixed = plan_job_slots(H200_FREE, H200_TOTAL, 16, {}, setting="3")
    assert fixed.jobs == 3 and fixed.basis["rule"] == "setting"
    assert fixed.memory_fraction == pytest.approx(0.95 * H200_FREE / 3 / H200_TOTAL, abs=1e-3)
    cpu = plan_job_slots(None, None, 2, {})
    assert cpu.jobs == 1 and cpu.memory_fraction is None and cpu.basis["rule"] == "no-gpu"
    assert plan_job_slots(H200_FREE, H200_TOTAL, 1, {}).jobs == 1  # never 0


def test_the_workers_page_says_why_in_both_languages(client, researcher):
    plan = plan_job_slots(H200_FREE, H200_TOTAL, 16, ALL_MEASURED)
    from django.utils import timezone

    WorkerHeartbeat.objects.create(
        hostname="gpu@h200",
        queues=["gpu"],
        job_slots=plan.jobs,
        job_slots_basis=plan.basis,
        last_seen=timezone.now(),
    )
    page = client.get("/experiments/workers/").content.decode()
    assert "8 jobs at a time" in page and "16 cores / 2 per job fit 8" in page
    assert "vgg19@256: 9000 MiB" in page
    with translation.override("es"):
        reason = WorkerHeartbeat.objects.get().job_slots_reason()
    assert "núcleos" in reason


def test_a_suppressed_compile_failure_is_not_recorded_as_compiled():
    """The runner sets suppress_errors (a job must not fail for a speed setting): a step whose
    compile failed then runs eager, and the manifest must say so (dynamo's frame counter)."""
    import torch
    import torch._dynamo

    from workers.training.devices import torch_job_figures

    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()

    def broken_compiler(graph, inputs):
        raise RuntimeError("no compiler on this host")

    # config.patch, not monkeypatch: undoing a monkeypatch of a torch config entry whose old
    # value getattr hides deletes the entry, and every later torch.compile then fails
    with torch._dynamo.config.patch(suppress_errors=True):
        assert torch.compile(lambda x: x * 2, backend=broken_compiler)(torch.ones(2)).sum() == 4
        assert torch_job_figures(compile_requested=True)["compile_happened"] is False
        torch.compile(lambda x: x + 1, backend="eager")(torch.ones(2))
        assert torch_job_figures(compile_requested=True)["compile_happened"] is True
        assert "compile_happened" not in torch_job_figures(compile_requested=False)
    torch._dynamo.reset()
