"""The dataset forms: import a folder on the server, or upload a zip."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from experiments.datasets.importer import PRESETS
from experiments.models import Dataset, TrainingJob
from experiments.validation import AsciiIntegerField


class DatasetUploadForm(forms.Form):
    """A dataset as a zip of Train/<class>/ + Test/<class>/ (or <class>/) folders."""

    archive = forms.FileField(label=_("Zip file"))
    name = forms.SlugField(label=_("Dataset name"), max_length=80)
    preset = forms.ChoiceField(label=_("Cleaning preset"), choices=[(p, p) for p in PRESETS])
    min_images = AsciiIntegerField(
        label=_("Drop classes with fewer images than"), required=False, min_value=0
    )

    def clean_archive(self):
        archive = self.cleaned_data["archive"]
        limit = settings.DATASET_UPLOAD_MAX_BYTES
        if archive.size > limit:
            raise forms.ValidationError(
                _("The file is %(size)s MB; the limit is %(limit)s MB.")
                % {"size": archive.size // 2**20, "limit": limit // 2**20}
            )
        if not archive.name.lower().endswith(".zip"):
            raise forms.ValidationError(_("Upload a .zip file."))
        return archive


class ImportForm(forms.Form):
    path = forms.CharField(
        label=_("Folder on the server"),
        max_length=500,
        help_text=_("Under one of the allowed data roots."),
    )
    name = forms.SlugField(label=_("Dataset name"), max_length=100)
    preset = forms.ChoiceField(label=_("Cleaning preset"), choices=[(p, p) for p in PRESETS])
    min_images = AsciiIntegerField(
        label=_("Drop classes with fewer images than"),
        required=False,
        min_value=0,
        max_value=2**31 - 1,
    )
    replace = forms.BooleanField(
        label=_("Replace the dataset of this name if there is one"),
        required=False,
        help_text=_("Not possible once training runs have used it: their results depend on it."),
    )

    def clean(self):
        data = super().clean()
        name = data.get("name")
        existing = Dataset.objects.filter(name=name).first() if name else None
        if existing is None:
            return data
        runs = TrainingJob.objects.filter(dataset=existing).count()
        if runs:
            self.add_error(
                "name",
                _(
                    "A dataset named “%(name)s” already exists and %(runs)s training runs used "
                    "it, so it cannot be replaced: choose another name."
                )
                % {"name": name, "runs": runs},
            )
        elif not data.get("replace"):
            self.add_error(
                "name",
                _(
                    "A dataset named “%(name)s” already exists. Choose another name, or tick "
                    "“Replace” to import over it."
                )
                % {"name": name},
            )
        return data
