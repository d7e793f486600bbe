"""Plotly figures for jobs, datasets and comparisons, as plain JSON-ready dicts.

Every function takes database rows or values and returns ``{"data": [...], "layout": {...}}``
with plain Python numbers and strings, so one function serves an HTML page (``Plotly.newPlot``)
and an API response alike, and tests can assert on the data. Metrics may be ``EpochMetric``
instances or dicts with the same keys.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from django.utils.translation import gettext as _

if TYPE_CHECKING:
    import plotly.graph_objects as go


def _go():
    """plotly.graph_objects, imported on the first figure: guide pages never load Plotly."""
    import plotly.graph_objects as go

    return go


HEIGHT = 360
OVERLAY_METRICS = ("valid_loss", "valid_accuracy", "train_loss")


def _get(row: Any, name: str, default: Any = None) -> Any:
    if isinstance(row, Mapping):
        return row.get(name, default)
    return getattr(row, name, default)


def _num(value: Any) -> float | None:
    """A finite plain float, or None (a gap in the line) for missing, NaN or infinite values."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _plain(fig: go.Figure) -> dict:
    """The figure as plain JSON types, without the (large) default template."""
    import plotly.io as pio

    out = json.loads(pio.to_json(fig, validate=True))
    out.setdefault("data", [])
    out.setdefault("layout", {}).pop("template", None)
    return out


def _layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x_title}, "automargin": True},
        "yaxis": {"title": {"text": y_title}, "automargin": True},
        "height": HEIGHT,
        # The legend sits in the bottom margin, under the x-axis title rather than on it.
        "margin": {"l": 60, "r": 20, "t": 50, "b": 100},
        "legend": {
            "orientation": "h",
            "x": 0,
            "xanchor": "left",
            "yref": "container",
            "y": 0,
            "yanchor": "bottom",
        },
        **extra,
    }


def _empty(title: str, message: str) -> dict:
    go = _go()
    fig = go.Figure(layout=_layout(title, "", ""))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    return _plain(fig)


def _epoch_series(metrics: Iterable[Any], epochs1: int, field: str) -> tuple[list, list]:
    """(global epochs, values) of one field: phase 1 epochs 1..epochs1, then phase 2."""
    rows = sorted(metrics, key=lambda m: (int(_get(m, "phase")), int(_get(m, "epoch"))))
    xs, ys = [], []
    for m in rows:
        phase, epoch = int(_get(m, "phase")), int(_get(m, "epoch"))
        xs.append(epoch if phase == 1 else int(epochs1) + epoch)
        ys.append(_num(_get(m, field)))
    return xs, ys


def _phase_boundary(fig: go.Figure, epochs1: int, label: bool = True) -> None:
    """A dashed vertical line between the last phase 1 epoch and the first phase 2 epoch."""
    x = int(epochs1) + 0.5
    fig.add_shape(
        type="line",
        x0=x,
        x1=x,
        y0=0,
        y1=1,
        xref="x",
        yref="paper",
        line={"dash": "dash", "width": 1, "color": "grey"},
    )
    if label:
        fig.add_annotation(
            text=_("phase 2 (fine-tuning)"),
            x=x,
            y=1,
            xref="x",
            yref="paper",
            xanchor="left",
            yanchor="top",
            showarrow=False,
        )


def loss_curves(metrics: Iterable[Any], epochs1: int) -> dict:
    """Train and valid loss per global epoch, phase boundary marked (thesis Appendix A)."""
    go = _go()
    metrics = list(metrics)
    fig = go.Figure(layout=_layout(_("Loss"), _("epoch"), _("loss")))
    for field, name in (("train_loss", _("train loss")), ("valid_loss", _("valid loss"))):
        xs, ys = _epoch_series(metrics, epochs1, field)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=name))
    _phase_boundary(fig, epochs1)
    return _plain(fig)


def accuracy_curve(metrics: Iterable[Any], epochs1: int) -> dict:
    """Valid accuracy per global epoch, phase boundary marked."""
    go = _go()
    fig = go.Figure(layout=_layout(_("Accuracy"), _("epoch"), _("valid accuracy")))
    fig.update_yaxes(rangemode="nonnegative")  # an accuracy is never below 0
    xs, ys = _epoch_series(metrics, epochs1, "valid_accuracy")
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines+markers", name=_("valid accuracy")))
    _phase_boundary(fig, epochs1)
    return _plain(fig)


def lr_finder_curve(lr_finder: Mapping[str, Any] | None) -> dict:
    """Loss against learning rate on a log axis, with the suggested rate marked."""
    go = _go()
    title = _("Learning-rate finder")
    lrs = list((lr_finder or {}).get("lrs") or [])
    losses = list((lr_finder or {}).get("losses") or [])
    if not lrs or not losses:
        return _empty(title, _("no learning-rate finder data"))
    pairs = [(_num(lr), _num(loss)) for lr, loss in zip(lrs, losses, strict=False)]
    pairs = [(lr, loss) for lr, loss in pairs if lr is not None and lr > 0]
    fig = go.Figure(layout=_layout(title, _("learning rate"), _("loss")))
    fig.update_xaxes(type="log")
    fig.add_trace(
        go.Scatter(x=[p[0] for p in pairs], y=[p[1] for p in pairs], mode="lines", name=_("loss"))
    )
    suggestion = _num(lr_finder.get("suggestion"))
    finite = [loss for _lr, loss in pairs if loss is not None]
    if suggestion is not None and suggestion > 0 and finite:
        # Traces, not a shape: their x is a data value on the log axis, with no conversion.
        fig.add_trace(
            go.Scatter(
                x=[suggestion, suggestion],
                y=[min(finite), max(finite)],
                mode="lines",
                line={"dash": "dash", "color": "grey"},
                name=_("suggestion"),
                hoverinfo="x",
            )
        )
        nearest = min(
            (p for p in pairs if p[1] is not None),
            key=lambda p: abs(math.log10(p[0]) - math.log10(suggestion)),
        )
        fig.add_trace(
            go.Scatter(
                x=[suggestion],
                y=[nearest[1]],
                mode="markers",
                marker={"size": 10, "color": "red"},
                showlegend=False,
                name=_("suggestion"),
            )
        )
    return _plain(fig)


def confusion_heatmap(evaluation: Mapping[str, Any] | None) -> dict:
    """Confusion matrix of the test set: rows actual classes, columns predicted, counts as text."""
    go = _go()
    title = _("Confusion matrix")
    classes = [str(c) for c in (evaluation or {}).get("classes") or []]
    matrix = (evaluation or {}).get("confusion_matrix") or []
    if not classes or not matrix:
        return _empty(title, _("no evaluation data"))
    z = [[int(v) for v in row] for row in matrix]
    fig = go.Figure(layout=_layout(title, _("predicted"), _("actual")))
    fig.add_trace(
        go.Heatmap(
            z=z,
            x=classes,
            y=classes,
            text=z,
            texttemplate="%{text}",
            colorscale="Blues",
            hovertemplate=(
                _("actual")
                + ": %{y}<br>"
                + _("predicted")
                + ": %{x}<br>"
                + _("count")
                + ": %{z}<extra></extra>"
            ),
        )
    )
    # Categories keep class names such as "0" from being read as numbers; first class on top.
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category", autorange="reversed")
    return _plain(fig)


def per_class_bars(evaluation: Mapping[str, Any] | None) -> dict:
    """Grouped bars of precision, recall and F1 per class."""
    go = _go()
    title = _("Per-class metrics")
    per_class = list((evaluation or {}).get("per_class") or [])
    if not per_class:
        return _empty(title, _("no evaluation data"))
    classes = [str(row["class"]) for row in per_class]
    fig = go.Figure(layout=_layout(title, _("class"), _("score"), barmode="group"))
    for field, name in (("precision", _("precision")), ("recall", _("recall")), ("f1", _("F1"))):
        fig.add_trace(go.Bar(x=classes, y=[_num(row.get(field)) for row in per_class], name=name))
    fig.update_xaxes(type="category")
    fig.update_yaxes(range=[0, 1])
    return _plain(fig)


def dataset_class_counts(report: Mapping[str, Any] | None) -> dict:
    """Images per class before cleaning and after the last cleaning step (thesis Figure 4.1)."""
    go = _go()
    title = _("Images per class")
    steps = list((report or {}).get("steps") or [])
    if not steps:
        return _empty(title, _("no import report"))
    found = steps[0].get("per_class") or {}
    after = steps[-1].get("per_class") or {}
    classes = list(found)
    fig = go.Figure(layout=_layout(title, _("class"), _("images"), barmode="group"))
    fig.add_trace(go.Bar(x=classes, y=[int(found[c]) for c in classes], name=_("before cleaning")))
    fig.add_trace(
        go.Bar(x=classes, y=[int(after.get(c, 0)) for c in classes], name=_("after cleaning"))
    )
    fig.update_xaxes(type="category")
    return _plain(fig)


def overlay_runs(
    runs: Sequence[tuple[str, Iterable[Any], int]], metric: str = "valid_loss"
) -> dict:
    """One line per run of one metric per global epoch; runs are (label, metrics, epochs1)."""
    go = _go()
    if metric not in OVERLAY_METRICS:
        raise ValueError(f"metric must be one of {', '.join(OVERLAY_METRICS)}, not {metric!r}")
    names = {
        "valid_loss": _("valid loss"),
        "valid_accuracy": _("valid accuracy"),
        "train_loss": _("train loss"),
    }
    fig = go.Figure(layout=_layout(names[metric], _("epoch"), names[metric]))
    for label, metrics, epochs1 in runs:
        xs, ys = _epoch_series(metrics, epochs1, metric)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name=str(label)))
    boundaries = sorted({int(epochs1) for _label, _metrics, epochs1 in runs})
    for i, epochs1 in enumerate(boundaries):
        _phase_boundary(fig, epochs1, label=i == 0)
    return _plain(fig)
