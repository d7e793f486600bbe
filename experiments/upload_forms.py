from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _

from .importer import PRESETS
from .validation import AsciiIntegerField


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
