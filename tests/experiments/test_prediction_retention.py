"""Old "try the model" predictions go with their files; nothing else is ever touched."""

import logging
import os
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.utils import timezone

from config.settings import env_days
from experiments.models import ImagePrediction
from experiments.research.retention import prune_predictions
from tests.conftest import ROOT, make_job


@pytest.fixture
def media(settings) -> Path:
    settings.PREDICTION_RETENTION_DAYS = 30
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def job(db):
    evaluation = {"accuracy": 0.5, "classes": ["a", "b"], "model_file": "jobs/1/model.pkl"}
    return make_job(None, evaluation=evaluation)


def predict(job, media, days_old, status="succeeded", heatmap=True, **fields):
    """A prediction row `days_old` days old with its files, as request_image_prediction and
    the worker leave them: MEDIA_ROOT/predict/<uuid>/image.png and heatmap.png."""
    folder = Path("predict") / uuid.uuid4().hex
    (media / folder).mkdir(parents=True)
    (media / folder / "image.png").write_bytes(b"image")
    if heatmap:
        (media / folder / "heatmap.png").write_bytes(b"heatmap")
    values = {
        "image": str(folder / "image.png"),
        "heatmap": str(folder / "heatmap.png") if heatmap else "",
        "source": "mole.png",
        "status": status,
        **fields,
    }
    row = ImagePrediction.objects.create(job=job, **values)
    ImagePrediction.objects.filter(pk=row.pk).update(
        created_at=timezone.now() - timedelta(days=days_old)
    )
    return row


def point(row, **paths) -> None:
    """Make a row name other paths (an update: save() would also reset its age)."""
    ImagePrediction.objects.filter(pk=row.pk).update(**paths)
    row.refresh_from_db()


def folder_of(row) -> Path:
    return Path(row.image).parent


def remaining() -> set[int]:
    return set(ImagePrediction.objects.values_list("pk", flat=True))


def test_old_finished_predictions_go_with_their_files(job, media):
    old_ok = predict(job, media, 31)
    old_failed = predict(job, media, 45, status="failed", heatmap=False)
    recent = predict(job, media, 29)
    running = predict(job, media, 90, status="running")
    queued = predict(job, media, 90, status="queued", heatmap=False)

    result = prune_predictions()

    assert {r.id for r in result.removed} == {old_ok.pk, old_failed.pk}
    assert remaining() == {recent.pk, running.pk, queued.pk}
    assert not (media / folder_of(old_ok)).exists()
    assert not (media / folder_of(old_failed)).exists()
    for kept in (recent, running):
        assert (media / kept.image).is_file() and (media / kept.heatmap).is_file()
    assert (media / queued.image).is_file()
    assert (media / "predict").is_dir()  # only the per-prediction folders go
    assert result.skipped == []


def test_files_outside_the_prediction_folder_are_never_touched(job, media, tmp_path, caplog):
    outside = tmp_path / "outside.png"  # outside MEDIA_ROOT
    outside.write_bytes(b"not ours")
    model = media / "jobs" / "1" / "model.pkl"  # inside MEDIA_ROOT, another folder
    model.parent.mkdir(parents=True)
    model.write_bytes(b"a trained model")
    stray = media / "predict" / "notes.txt"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"beside the prediction folders")

    climbing_heatmap = predict(job, media, 40)
    point(climbing_heatmap, heatmap=f"{folder_of(climbing_heatmap)}/../../jobs/1/model.pkl")
    absolute_image = predict(job, media, 40, heatmap=False)
    point(absolute_image, image=str(outside))
    linked = predict(job, media, 40, heatmap=False)
    (media / linked.image).unlink()
    (media / linked.image).symlink_to(outside)
    extra = predict(job, media, 40)
    planted = media / folder_of(extra) / "planted.txt"
    planted.write_bytes(b"not the prediction's")
    in_model_folder = predict(job, media, 40, heatmap=False)
    point(in_model_folder, image="jobs/1/model.pkl")

    with caplog.at_level(logging.WARNING, logger="experiments.research.retention"):
        result = prune_predictions()

    assert outside.read_bytes() == b"not ours"
    assert model.read_bytes() == b"a trained model"
    assert stray.read_bytes() == b"beside the prediction folders"
    assert planted.read_bytes() == b"not the prediction's"  # so its folder stays too
    assert not (media / extra.image).exists() and not (media / extra.heatmap).exists()
    assert (media / linked.image).is_symlink()  # resolves outside: left alone
    assert not (media / climbing_heatmap.image).exists()  # its own file still goes
    # The rows are past retention: they go; what they point to outside stays.
    assert remaining() == set()
    assert len(result.removed) == 5 and len(result.skipped) == 4
    logged = caplog.text
    for row in (climbing_heatmap, absolute_image, linked, in_model_folder):
        assert f"prediction {row.pk}:" in logged


def test_missing_files_do_not_stop_a_prune(job, media):
    gone = predict(job, media, 60)
    for name in ("image.png", "heatmap.png"):
        (media / folder_of(gone) / name).unlink()
    (media / folder_of(gone)).rmdir()
    half = predict(job, media, 60)
    (media / half.heatmap).unlink()
    never_had_a_folder = predict(job, media, 60, heatmap=False)
    (media / never_had_a_folder.image).unlink()
    (media / folder_of(never_had_a_folder)).rmdir()

    result = prune_predictions()

    assert remaining() == set()
    assert {r.id: r.files for r in result.removed} == {
        gone.pk: [],
        half.pk: [half.image],
        never_had_a_folder.pk: [],
    }
    assert not (media / folder_of(half)).exists()


def test_retention_zero_keeps_everything(job, media, settings):
    rows = {predict(job, media, 3650).pk, predict(job, media, 400, status="failed").pk}
    settings.PREDICTION_RETENTION_DAYS = 0

    assert prune_predictions().removed == []
    call_command("prune_predictions")
    assert remaining() == rows
    assert all((media / row.image).is_file() for row in ImagePrediction.objects.all())


def test_the_command_lists_in_a_dry_run_then_removes(job, media, capsys):
    old = predict(job, media, 10)
    young = predict(job, media, 2)

    call_command("prune_predictions", "--older-than", "7", "--dry-run")
    out = capsys.readouterr().out
    assert f"Would remove prediction {old.pk} (run #{job.pk}, succeeded" in out
    assert old.image in out and old.heatmap in out
    assert f"prediction {young.pk} " not in out
    assert "Would remove 1 prediction(s) older than 7 days, 2 file(s)." in out
    assert remaining() == {old.pk, young.pk}
    assert (media / old.image).is_file() and (media / old.heatmap).is_file()

    call_command("prune_predictions", "--older-than", "7")
    out = capsys.readouterr().out
    assert f"Removed prediction {old.pk}" in out and "Removed 1 prediction(s)" in out
    assert remaining() == {young.pk}
    assert not (media / folder_of(old)).exists()

    call_command("prune_predictions")  # the setting's 30 days: the young one stays
    assert "Removed 0 prediction(s) older than 30 days" in capsys.readouterr().out
    assert remaining() == {young.pk}


@pytest.mark.parametrize("value", ["abc", "0", "-3", "1.5", ""])
def test_bad_arguments_are_a_command_error(job, media, value):
    row = predict(job, media, 100)
    with pytest.raises(CommandError, match="--older-than must be a whole number of days"):
        call_command("prune_predictions", "--older-than", value)
    assert remaining() == {row.pk}


def test_a_bad_argument_on_the_command_line_exits_non_zero_without_traceback():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "prune_predictions", "--older-than", "soon"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "--older-than must be a whole number of days, 1 or more: 'soon'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("raw,days", [(None, 30), ("", 30), ("0", 0), (" 7 ", 7)])
def test_the_retention_setting(monkeypatch, raw, days):
    if raw is None:
        monkeypatch.delenv("PREDICTION_RETENTION_DAYS", raising=False)
    else:
        monkeypatch.setenv("PREDICTION_RETENTION_DAYS", raw)
    assert env_days("PREDICTION_RETENTION_DAYS", 30) == days


@pytest.mark.parametrize("raw", ["thirty", "-1", "1.5"])
def test_a_bad_retention_setting_is_improperly_configured(monkeypatch, raw):
    monkeypatch.setenv("PREDICTION_RETENTION_DAYS", raw)
    with pytest.raises(ImproperlyConfigured, match="PREDICTION_RETENTION_DAYS must be a whole"):
        env_days("PREDICTION_RETENTION_DAYS", 30)


def test_the_scheduler_prunes_once_a_day(job, media):
    import workers.tasks  # noqa: F401  (registers the tasks)
    from workers.celery import app

    entry = app.conf.beat_schedule["prune-predictions"]
    assert entry["task"] == "workers.prune_predictions"
    assert isinstance(entry["schedule"], crontab)
    assert entry["schedule"].hour == {3} and entry["schedule"].minute == {30}
    assert entry["schedule"].day_of_week == set(range(7))
    old, young = predict(job, media, 31), predict(job, media, 1)
    assert app.tasks["workers.prune_predictions"].apply().get() == 1
    assert remaining() == {young.pk} and not (media / old.image).exists()


def test_the_run_page_says_how_long_uploads_are_kept(client, researcher, job, settings):
    settings.PREDICTION_RETENTION_DAYS = 30
    client.force_login(researcher)
    url = f"/experiments/runs/{job.pk}/"
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="try-model"' in html
    assert "Images tried here and their heatmaps are deleted after 30 days." in html
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="es").content.decode()
    assert "se borran al cabo de 30 días." in html
    settings.PREDICTION_RETENTION_DAYS = 1
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "deleted after 1 day." in html
    settings.PREDICTION_RETENTION_DAYS = 0
    html = client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="try-model"' in html and "deleted after" not in html
