"""Plotly figures of a study, as plain dicts (same conventions as experiments.figures.runs)."""

from __future__ import annotations

from collections import defaultdict

from django.utils.translation import gettext as _

from experiments.figures.runs import _empty, _go, _layout, _num, _plain

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]


def accuracy_by_cell(cells: list[dict]) -> dict:
    """Box with every seed's test accuracy as a point, one box per cell."""
    title = _("Test accuracy per cell (one point per seed)")
    if not any(j["test_accuracy"] is not None for c in cells for j in c["jobs"]):
        return _empty(title, _("No finished run yet."))
    go = _go()
    fig = go.Figure(layout=_layout(title, "", _("test accuracy"), showlegend=False))
    fig.update_yaxes(rangemode="nonnegative")
    for i, cell in enumerate(cells):
        values = [_num(j["test_accuracy"]) for j in cell["jobs"] if j["test_accuracy"] is not None]
        fig.add_trace(
            go.Box(
                y=values,
                name=cell["cell"],
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"color": PALETTE[i % len(PALETTE)]},
                text=[f"#{j['id']} seed {j['seed']}" for j in cell["jobs"]],
            )
        )
    return _plain(fig)


def curves_by_cell(
    cells: list[dict],
    metrics: list[tuple[int, int, int, float | None]],
    epochs1: dict[int, int],
    field_title: str,
) -> dict:
    """Mean valid accuracy per global epoch for each cell, with a ± 1 std band over seeds.

    `metrics` holds (job id, phase, epoch, value); `epochs1` each job's phase-1 epoch count.
    """
    title = _("Validation accuracy over epochs (mean ± std over seeds)")
    by_job: dict[int, dict[int, float]] = defaultdict(dict)
    for job_id, phase, epoch, value in metrics:
        if value is not None:
            x = epoch if phase == 1 else epochs1.get(job_id, 0) + epoch
            by_job[job_id][x] = float(value)
    if not by_job:
        return _empty(title, _("No epoch finished yet."))
    import numpy as np

    go = _go()
    fig = go.Figure(layout=_layout(title, _("epoch"), field_title))
    fig.update_yaxes(rangemode="nonnegative")  # accuracies: the band stops at 0
    for i, cell in enumerate(cells):
        series = [by_job[j["id"]] for j in cell["jobs"] if by_job.get(j["id"])]
        if not series:
            continue
        xs = sorted({x for s in series for x in s})
        stacked = [[s[x] for s in series if x in s] for x in xs]
        mean = [float(np.mean(v)) for v in stacked]
        std = [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in stacked]
        color = PALETTE[i % len(PALETTE)]
        upper = [m + s for m, s in zip(mean, std, strict=True)]
        lower = [max(0.0, m - s) for m, s in zip(mean, std, strict=True)]
        fig.add_trace(
            go.Scatter(
                x=xs + xs[::-1],
                y=upper + lower[::-1],
                fill="toself",
                fillcolor=color,
                opacity=0.2,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                name=cell["cell"] + " ± std",
            )
        )
        fig.add_trace(
            go.Scatter(x=xs, y=mean, mode="lines+markers", name=cell["cell"], line={"color": color})
        )
    return _plain(fig)
