"""The study form (the grid as checkboxes and short comma-separated lists) and the form that
reproduces the thesis's Table 4.2 runs."""

from __future__ import annotations

import re

from django import forms
from django.utils.translation import gettext_lazy as _

from experiments.architectures import LABELS
from experiments.jobs.forms import ALL_ARCHITECTURES
from experiments.models import Dataset, TrainingJob
from experiments.research.studies import StudyRejected, expand
from experiments.validation import AsciiFloatField, AsciiIntegerField


def _numbers(text: str, kind, name: str) -> list:
    values = []
    for part in re.split(r"[,\s]+", text.strip()):
        if not part:
            continue
        try:
            number = float(part)
        except ValueError:
            raise forms.ValidationError(
                _("%(value)s is not a number.") % {"value": part[:20]}
            ) from None
        if kind is int:
            if not number.is_integer():
                raise forms.ValidationError(_("%(value)s is not a whole number.") % {"value": part})
            number = int(number)
        values.append(number)
    if len(values) > 50:
        raise forms.ValidationError(_("At most 50 values."))
    return values


class StudyForm(forms.Form):
    FAIR_CHOICES = [("off", _("Off")), ("on", _("On")), ("both", _("Both (two Keras cells)"))]

    name = forms.CharField(label=_("Name"), max_length=200, required=False)
    dataset = forms.ModelChoiceField(
        label=_("Dataset"), queryset=Dataset.objects.all(), to_field_name="name", empty_label=None
    )
    libraries = forms.MultipleChoiceField(
        label=_("Libraries"),
        choices=TrainingJob.LIBRARIES,
        widget=forms.CheckboxSelectMultiple,
        initial=["keras", "fastai"],
    )
    architectures = forms.MultipleChoiceField(
        label=_("Architectures"),
        choices=[(a, LABELS[a]) for a in ALL_ARCHITECTURES],
        widget=forms.CheckboxSelectMultiple,
    )
    seeds = forms.CharField(
        label=_("Seeds"),
        initial="0, 1, 2",
        max_length=400,
        help_text=_("Comma-separated; every cell is trained once per seed."),
    )
    lr1 = forms.CharField(
        label=_("Phase-1 learning rates (optional)"), required=False, max_length=200
    )
    image_sizes = forms.CharField(label=_("Image sizes (optional)"), required=False, max_length=200)
    epochs = forms.CharField(
        label=_("Epochs (optional)"),
        required=False,
        max_length=200,
        help_text=_("Pairs phase 1 + phase 2, e.g. 1+1, 2+3. Empty: the library's preset."),
    )
    fair_mode = forms.ChoiceField(label=_("Keras fair mode"), choices=FAIR_CHOICES, initial="off")
    image_size = AsciiIntegerField(label=_("Image size (px)"), initial=224, min_value=32)
    batch_size = AsciiIntegerField(label=_("Batch size"), initial=32, min_value=1)
    epoch_scale = AsciiFloatField(
        label=_("Scale the preset epoch counts"),
        required=False,
        min_value=0.001,
        max_value=1.0,
        help_text=_("Used when no epochs are listed; 1 = the thesis."),
    )
    pretrained = forms.TypedChoiceField(
        label=_("Initialisation"),
        coerce=lambda v: v == "pretrained",
        choices=[("pretrained", _("ImageNet weights")), ("random", _("Random"))],
    )
    max_batches = AsciiIntegerField(
        label=_("Cap batches per epoch (CPU trial)"), required=False, min_value=1
    )

    def clean_seeds(self):
        seeds = _numbers(self.cleaned_data["seeds"], int, "seeds")
        if not seeds:
            raise forms.ValidationError(_("Give at least one seed."))
        if any(s < 0 for s in seeds):
            raise forms.ValidationError(_("Seeds must not be negative."))
        return seeds

    def clean_lr1(self):
        return _numbers(self.cleaned_data["lr1"], float, "lr1")

    def clean_image_sizes(self):
        return _numbers(self.cleaned_data["image_sizes"], int, "image_sizes")

    def clean_epochs(self):
        pairs = []
        for part in re.split(r"[,;]+", self.cleaned_data["epochs"]):
            part = part.strip()
            if not part:
                continue
            match = re.fullmatch(r"([0-9]{1,4})\s*\+\s*([0-9]{1,4})", part)
            if not match:
                raise forms.ValidationError(
                    _("Write epochs as phase 1 + phase 2, e.g. 1+2 (not %(value)s).")
                    % {"value": part[:20]}
                )
            pairs.append([int(match[1]), int(match[2])])
        return pairs

    def grid(self) -> dict:
        data = self.cleaned_data
        base = {
            "image_size": data["image_size"],
            "batch_size": data["batch_size"],
            "pretrained": data["pretrained"],
            "max_batches": data["max_batches"],
        }
        if data.get("epoch_scale") is not None and not data["epochs"]:
            base["epoch_scale"] = data["epoch_scale"]
        grid = {
            "name": data["name"],
            "dataset": data["dataset"],
            "libraries": data["libraries"],
            "architectures": data["architectures"],
            "seeds": data["seeds"],
            "base": base,
        }
        optional = {"lr1": data["lr1"], "image_size": data["image_sizes"], "epochs": data["epochs"]}
        grid.update({k: v for k, v in optional.items() if v})
        if data["fair_mode"] != "off":
            grid["fair_mode"] = {"on": [True], "both": [False, True]}[data["fair_mode"]]
        if "image_size" in grid:
            base.pop("image_size")
        return grid

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        try:
            expand(self.grid())
        except StudyRejected as refused:
            for field, message in refused.errors.items():
                self.add_error(field if field in self.fields else None, f"{field}: {message}")
        return cleaned


class ReproduceForm(forms.Form):
    dataset = forms.ModelChoiceField(
        label=_("Dataset"), queryset=Dataset.objects.all(), to_field_name="name", empty_label=None
    )
    epoch_scale = AsciiFloatField(
        label=_("Scale the epoch counts"),
        initial=1.0,
        min_value=0.001,
        max_value=1.0,
        help_text=_(
            "1 = the thesis (Keras 50 + 100, fastai 15 + 40). Use e.g. 0.02 for a CPU "
            "trial; each phase keeps at least one epoch."
        ),
    )
    image_size = AsciiIntegerField(
        label=_("Image size (px)"), initial=256, min_value=32, max_value=1024
    )
    pretrained = forms.TypedChoiceField(
        label=_("Initialisation"),
        coerce=lambda v: v == "pretrained",
        choices=[("pretrained", _("ImageNet weights")), ("random", _("Random"))],
    )
    max_batches = AsciiIntegerField(
        label=_("Cap batches per epoch (CPU trial)"),
        required=False,
        min_value=1,
        max_value=2**31 - 1,
    )
    seed = AsciiIntegerField(label=_("Seed"), initial=42, min_value=0, max_value=2**31 - 1)
    seeds = AsciiIntegerField(
        label=_("Seeds per run"),
        initial=1,
        required=False,
        min_value=1,
        max_value=10,
        help_text=_("Each of the 12 runs is trained with seeds seed, seed + 1, …"),
    )
