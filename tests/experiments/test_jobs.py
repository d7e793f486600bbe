"""Job settings: thesis presets, validation before anything is queued, cancel, clone."""

import pytest
from django.core.management import CommandError, call_command

from experiments.jobs.actions import (
    ActionRefused,
    JobRejected,
    cancel,
    clone_params,
    create_job,
    validate,
)
from experiments.jobs.presets import ONE_CYCLE_MOMENTA, TABLE_4_1
from experiments.models import TrainingJob

pytestmark = pytest.mark.django_db


def test_presets_are_table_4_1():
    keras, fastai = TABLE_4_1["keras"], TABLE_4_1["fastai"]
    for preset in (keras, fastai):
        assert (
            preset["image_size"],
            preset["batch_size"],
            preset["augmentation"],
            preset["weight_decay"],
            preset["lr1"],
        ) == (256, 32, True, 0.01, 3e-3)
    assert (keras["beta1"], keras["beta2"], keras["one_cycle"], keras["discriminative_lr"]) == (
        0.9,
        0.999,
        False,
        False,
    )
    assert (keras["lr2_low"], keras["epochs1"], keras["epochs2"]) == (3e-5, 50, 100)
    # what fastai's Adam really uses; one-cycle moves β1 over ONE_CYCLE_MOMENTA (Table 4.1)
    assert (fastai["beta1"], fastai["beta2"], fastai["one_cycle"], fastai["discriminative_lr"]) == (
        0.9,
        0.99,
        True,
        True,
    )
    assert ONE_CYCLE_MOMENTA == (0.95, 0.85, 0.95)
    assert (fastai["lr2_low"], fastai["lr2_high"], fastai["epochs1"], fastai["epochs2"]) == (
        5e-6,
        5e-4,
        15,
        40,
    )


def test_choosing_a_library_fills_its_preset(tiny_dataset):
    job = create_job({"library": "fastai", "architecture": "resnet50", "dataset": "tiny"})
    assert (job.lr2_low, job.lr2_high, job.epochs1, job.epochs2, job.one_cycle) == (
        5e-6,
        5e-4,
        15,
        40,
        True,
    )
    assert job.pretrained is True and job.status == TrainingJob.QUEUED
    job = create_job({"library": "keras", "architecture": "small-cnn", "dataset": tiny_dataset})
    assert (job.beta1, job.epochs2, job.pretrained) == (0.9, 100, False)
    fair = create_job(
        {"library": "keras", "architecture": "vgg16", "dataset": "tiny", "fair_mode": True}
    )
    assert fair.one_cycle and fair.discriminative_lr


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"lr1": -0.1}, "lr1"),
        ({"lr2_low": 0}, "lr2_low"),
        ({"epochs1": 0}, "epochs1"),
        ({"batch_size": 0}, "batch_size"),
        ({"image_size": 7}, "image_size"),
        ({"architecture": "alexnet"}, "architecture"),
        ({"dataset": "nope"}, "dataset"),
        ({"beta1": 1.5}, "beta1"),
        ({"lr2_low": 1e-3, "lr2_high": 1e-5}, "lr2_high"),
        ({"epochs2": "many"}, "epochs2"),
        ({"weight_decay": float("nan")}, "weight_decay"),
        ({"architecture": "small-cnn", "pretrained": True}, "pretrained"),
    ],
)
def test_bad_settings_are_refused_before_anything_is_queued(tiny_dataset, changes, field):
    params = {"library": "fastai", "architecture": "resnet50", "dataset": "tiny", **changes}
    with pytest.raises(JobRejected) as refused:
        validate(params)
    assert field in refused.value.errors
    assert refused.value.errors[field]
    assert not TrainingJob.objects.exists()


def test_unknown_library_is_refused():
    with pytest.raises(JobRejected, match="Unknown library"):
        validate({"library": "caffe", "architecture": "vgg16", "dataset": "x"})


def test_train_command_refuses_bad_input_with_every_message(tiny_dataset):
    with pytest.raises(CommandError) as error:
        call_command(
            "train",
            "--library",
            "keras",
            "--arch",
            "small-cnn",
            "--dataset",
            "nope",
            "--epochs",
            "0",
            "1",
            "--size",
            "7",
        )
    message = str(error.value)
    assert "dataset: No dataset named 'nope'" in message
    assert "epochs1" in message and "image_size" in message
    assert not TrainingJob.objects.exists()


def test_cancel_a_queued_job_and_refuse_to_cancel_a_finished_one(tiny_dataset):
    job = create_job({"library": "fastai", "architecture": "small-cnn", "dataset": "tiny"})
    assert cancel(job) == "cancelled"
    job.refresh_from_db()
    assert job.status == TrainingJob.CANCELLED and job.finished_at
    with pytest.raises(ActionRefused, match="already cancelled"):
        cancel(job)
    with pytest.raises(CommandError, match="No job #999"):
        call_command("cancel_job", "999")


def test_clone_copies_settings_and_refuses_without_dataset(tiny_dataset):
    job = create_job(
        {"library": "keras", "architecture": "small-cnn", "dataset": "tiny", "lr1": 0.01, "seed": 7}
    )
    params = clone_params(job)
    assert params["lr1"] == 0.01 and params["seed"] == 7 and params["dataset"] == tiny_dataset
    tiny_dataset.delete()
    job.refresh_from_db()
    assert job.dataset is None and job.dataset_name == "tiny"
    from experiments.jobs.actions import clone

    with pytest.raises(ActionRefused, match="has been deleted"):
        clone(job)
