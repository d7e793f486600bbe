"""The launch form (every setting of a job, Table 4.1 presets) and the run list's filters."""

import uuid

from django import forms
from django.utils.translation import gettext_lazy as _

from experiments.architectures import ARCHITECTURES, KERAS_BACKENDS, LABELS, PRECISIONS
from experiments.jobs.actions import SPEED_DEFAULTS, JobRejected, validate
from experiments.jobs.presets import TABLE_4_1
from experiments.models import Dataset, TrainingJob
from experiments.validation import AsciiFloatField, AsciiIntegerField

ALL_ARCHITECTURES = sorted(
    {a for archs in ARCHITECTURES.values() for a in archs}, key=lambda a: list(LABELS).index(a)
)


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class LaunchForm(forms.Form):
    """Every setting of a job. Choosing a library fills its thesis Table 4.1 preset."""

    library = forms.ChoiceField(label=_("Library"), choices=TrainingJob.LIBRARIES)
    architecture = forms.ChoiceField(
        label=_("Architecture"), choices=[(a, LABELS[a]) for a in ALL_ARCHITECTURES]
    )
    dataset = forms.ModelChoiceField(
        label=_("Dataset"), queryset=Dataset.objects.all(), to_field_name="name", empty_label=None
    )
    image_size = AsciiIntegerField(label=_("Image size (px)"), max_value=2**31 - 1)
    batch_size = AsciiIntegerField(label=_("Batch size"), max_value=2**31 - 1)
    augmentation = forms.BooleanField(label=_("Data augmentation"), required=False)
    weight_decay = AsciiFloatField(label=_("L2 / weight decay"))
    beta1 = AsciiFloatField(label=_("Adam β1"))
    beta2 = AsciiFloatField(label=_("Adam β2"))
    one_cycle = forms.BooleanField(label=_("One-cycle schedule"), required=False)
    discriminative_lr = forms.BooleanField(label=_("Discriminative learning rates"), required=False)
    lr1 = AsciiFloatField(label=_("Learning rate, phase 1"))
    lr2_low = AsciiFloatField(label=_("Learning rate, phase 2 (first layers)"))
    lr2_high = AsciiFloatField(label=_("Learning rate, phase 2 (head)"))
    epochs1 = AsciiIntegerField(label=_("Epochs, phase 1"), max_value=2**31 - 1)
    epochs2 = AsciiIntegerField(label=_("Epochs, phase 2"), max_value=2**31 - 1)
    pretrained = forms.TypedChoiceField(
        label=_("Initialisation"),
        coerce=lambda v: v == "pretrained",
        choices=[("pretrained", _("ImageNet weights")), ("random", _("Random"))],
    )
    seed = AsciiIntegerField(label=_("Seed"), initial=42, max_value=2**31 - 1)
    fair_mode = forms.BooleanField(
        label=_("Keras fair mode (one-cycle + discriminative rates, like fastai)"), required=False
    )
    run_lr_finder = forms.BooleanField(
        label=_("Run the learning-rate finder first"), required=False
    )
    max_batches = AsciiIntegerField(
        label=_("Cap batches per epoch (CPU trial)"), required=False, max_value=2**31 - 1
    )
    keras_backend = forms.ChoiceField(
        label=_("Keras backend"),
        choices=[(b, b) for b in KERAS_BACKENDS],
        help_text=_("auto: TensorFlow if it sees a GPU, else torch if it does, else TensorFlow."),
    )
    precision = forms.ChoiceField(
        label=_("Precision"),
        choices=[(p, p) for p in PRECISIONS],
        required=False,  # unset: auto
        help_text=_("auto: bf16-mixed on a GPU, fp32 on the CPU."),
    )
    channels_last = forms.BooleanField(label=_("Channels-last memory format (GPU)"), required=False)
    decode_cache = forms.BooleanField(label=_("Decode each image once per job"), required=False)
    compile = forms.BooleanField(label=_("Compiled training steps (GPU)"), required=False)
    deterministic = forms.BooleanField(
        label=_("Deterministic kernels (reproducible, slower)"), required=False
    )
    # A fresh key per rendered form: submitting it twice (a retry, a double click) launches once.
    idempotency_key = forms.CharField(
        required=False, max_length=64, widget=forms.HiddenInput, initial=new_idempotency_key
    )

    cloned_from = AsciiIntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )

    def clean_idempotency_key(self):
        from experiments.jobs.actions import IdempotencyKeyInvalid, clean_idempotency_key

        try:
            return clean_idempotency_key(self.cleaned_data.get("idempotency_key"))
        except IdempotencyKeyInvalid as exc:
            raise forms.ValidationError(str(exc)) from exc

    def clean(self):
        cleaned = super().clean()
        if "precision" in cleaned and not cleaned["precision"]:
            cleaned["precision"] = "auto"
        if self.errors:
            return cleaned
        try:
            self.job_values = validate(dict(cleaned))
        except JobRejected as refused:
            for field, message in refused.errors.items():
                self.add_error(field if field in self.fields else None, message)
        return cleaned


def launch_initial(library: str = "keras", architecture: str = "small-cnn") -> dict:
    dataset = Dataset.objects.order_by("-created_at").values_list("name", flat=True).first()
    return {
        **TABLE_4_1[library],
        "library": library,
        "architecture": architecture,
        "dataset": dataset,
        "pretrained": "random" if architecture == "small-cnn" else "pretrained",
        "seed": 42,
        "keras_backend": "auto",
        "run_lr_finder": True,
        **SPEED_DEFAULTS,
    }


class RunFilterForm(forms.Form):
    SORTS = [
        ("-created_at", _("Newest first")),
        ("created_at", _("Oldest first")),
        ("architecture", _("Architecture")),
        ("library", _("Library")),
        ("status", _("Status")),
        ("-test_accuracy", _("Test accuracy")),
    ]
    status = forms.ChoiceField(
        required=False, choices=[("", _("Any status"))] + TrainingJob.STATUSES
    )
    library = forms.ChoiceField(
        required=False, choices=[("", _("Any library"))] + TrainingJob.LIBRARIES
    )
    architecture = forms.ChoiceField(
        required=False,
        choices=[("", _("Any architecture"))] + [(a, LABELS[a]) for a in ALL_ARCHITECTURES],
    )
    dataset = forms.CharField(required=False, max_length=100)
    sort = forms.ChoiceField(required=False, choices=SORTS)
