"""The importer's and the workers' stored words in the visitor's language.

An import runs in a worker with no visitor and no language, and what it says is stored (the
cleaning steps in the dataset's report, a skipped file's reason, a refused import's error).
Those texts keep their English form in the database and in the CLI; pages translate them here
when they show them. A text no pattern knows (an exception's own message) passes through.
"""

from __future__ import annotations

import re

from django.utils.translation import gettext_lazy as _

STEP_LABELS = {
    "found": _("found"),
    "cross-class duplicates removed": _("cross-class duplicates removed"),
    "within-class duplicates": _("within-class duplicates"),
    "rare classes dropped": _("rare classes dropped"),
}

# (English text as the importer writes it, with (?P<name>...) for its variable parts; Spanish.)
PATTERNS = [
    (
        r"symbolic link pointing outside the data root \(not followed\)",
        _("symbolic link pointing outside the data root (not followed)"),
    ),
    (
        r"file name is not valid UTF-8 \(or is too long\); rename it",
        _("file name is not valid UTF-8 (or is too long); rename it"),
    ),
    (r"not an image file \(unknown extension\)", _("not an image file (unknown extension)")),
    (r"unreadable file \((?P<detail>.*)\)", _("unreadable file (%(detail)s)")),
    (r"empty file", _("empty file")),
    (
        r"too large: (?P<width>\d+)x(?P<height>\d+) px is over the (?P<limit>[\d,]+) px limit "
        r"\(IMPORT_MAX_PIXELS\)",
        _("too large: %(width)sx%(height)s px is over the %(limit)s px limit (IMPORT_MAX_PIXELS)"),
    ),
    (r"not a readable image", _("not a readable image")),
    (
        r"decompression bomb refused \((?P<detail>.*)\)",
        _("decompression bomb refused (%(detail)s)"),
    ),
    (
        r"corrupt or truncated image \((?P<detail>.*)\)",
        _("corrupt or truncated image (%(detail)s)"),
    ),
    (r"unreadable image \((?P<detail>.*)\)", _("unreadable image (%(detail)s)")),
    # Zip uploads (experiments/datasets/uploads.py).
    (r"symbolic link", _("symbolic link")),
    (r"path outside the dataset folder", _("path outside the dataset folder")),
    (r"nested archive", _("nested archive")),
    (r"not an image", _("not an image")),
    (r"suspicious compression ratio", _("suspicious compression ratio")),
    (r"image too large", _("image too large")),
    # Refused imports (ImportRefused).
    (
        r"(?P<path>.+) is outside the allowed data roots \((?P<roots>.*)\)\. Move the data under "
        r"one of them or add its folder to DATA_ROOTS\.",
        _(
            "%(path)s is outside the allowed data roots (%(roots)s). Move the data under one of "
            "them or add its folder to DATA_ROOTS."
        ),
    ),
    (r"(?P<path>.+) is not a folder\.", _("%(path)s is not a folder.")),
    (
        r"(?P<path>.+) has neither Train/ and Test/ folders nor one folder per class\.",
        _("%(path)s has neither Train/ and Test/ folders nor one folder per class."),
    ),
    (
        r"A dataset named (?P<name>.+) already exists and (?P<runs>\d+) training run\(s\) used "
        r"it; import under another name \(or replace it explicitly\)\.",
        _(
            "A dataset named %(name)s already exists and %(runs)s training run(s) used it; "
            "import under another name (or replace it explicitly)."
        ),
    ),
    (
        r"(?P<path>.+) contains no usable files \((?P<n>\d+) skipped: (?P<reason>.*)\.\.\.\)\.",
        _("%(path)s contains no usable files (%(n)s skipped: %(reason)s...)."),
    ),
    (r"(?P<path>.+) contains no usable files\.", _("%(path)s contains no usable files.")),
    (
        r"None of the (?P<n>\d+) files in (?P<path>.+) is a readable image\.",
        _("None of the %(n)s files in %(path)s is a readable image."),
    ),
    (
        r"No images left in (?P<path>.+) after cleaning; nothing to train on\.",
        _("No images left in %(path)s after cleaning; nothing to train on."),
    ),
    (
        r"Class\(es\) (?P<classes>.+) would have no training image after the split; add images, "
        r"lower the test/validation fraction or raise the minimum class size\.",
        _(
            "Class(es) %(classes)s would have no training image after the split; add images, "
            "lower the test/validation fraction or raise the minimum class size."
        ),
    ),
    (
        r"The test split of (?P<path>.+) is empty \(an empty Test/ folder, or too few images for "
        r"the test fraction\); the runs could not be evaluated\.",
        _(
            "The test split of %(path)s is empty (an empty Test/ folder, or too few images for "
            "the test fraction); the runs could not be evaluated."
        ),
    ),
]
# What workers store: the Workers page's GPU warning (workers/heartbeat.py) and why a Keras job
# got its backend (workers/training/devices.py, shown on the run page).
PATTERNS += [
    (
        r"This worker takes the gpu queue but sees no GPU: its jobs will train on the CPU "
        r"\(check the NVIDIA driver, CUDA_VISIBLE_DEVICES and the container's GPU access\)\.",
        _(
            "This worker takes the gpu queue but sees no GPU: its jobs will train on the CPU "
            "(check the NVIDIA driver, CUDA_VISIBLE_DEVICES and the container's GPU access)."
        ),
    ),
    (
        r"torch sees no GPU on this GPU host: fastai jobs will train on the CPU \(install a "
        r"CUDA build of torch\)\.",
        _(
            "torch sees no GPU on this GPU host: fastai jobs will train on the CPU (install a "
            "CUDA build of torch)."
        ),
    ),
    (
        r"TensorFlow sees no GPU here \(its CUDA libraries are missing\): Keras jobs on 'auto' "
        r"use torch; install requirements-gpu.txt for TensorFlow on the GPU\.",
        _(
            "TensorFlow sees no GPU here (its CUDA libraries are missing): Keras jobs on 'auto' "
            "use torch; install requirements-gpu.txt for TensorFlow on the GPU."
        ),
    ),
    (r"chosen in the job settings", _("chosen in the job settings")),
    (r"auto: TensorFlow sees a GPU", _("auto: TensorFlow sees a GPU")),
    (
        r"auto: torch sees a GPU; TensorFlow does not \(install requirements-gpu.txt for its "
        r"CUDA libraries\)",
        _(
            "auto: torch sees a GPU; TensorFlow does not (install requirements-gpu.txt for its "
            "CUDA libraries)"
        ),
    ),
    (
        r"auto: torch sees a GPU; TensorFlow is not installed",
        _("auto: torch sees a GPU; TensorFlow is not installed"),
    ),
    (r"auto: no GPU, TensorFlow on the CPU", _("auto: no GPU, TensorFlow on the CPU")),
    (
        r"auto: no GPU and no TensorFlow, torch on the CPU",
        _("auto: no GPU and no TensorFlow, torch on the CPU"),
    ),
]
_COMPILED = [(re.compile(pattern, re.DOTALL), message) for pattern, message in PATTERNS]
# A nested reason (the first skipped file's) is translated too.
_NESTED = {"reason"}


def translate_reason(text: str) -> str:
    """The importer's English text in the active language (unknown text unchanged)."""
    if not text:
        return text
    for pattern, message in _COMPILED:
        match = pattern.fullmatch(text.strip())
        if match:
            values = {
                key: translate_reason(value) if key in _NESTED else value
                for key, value in match.groupdict().items()
            }
            return str(message) % values if values else str(message)
    return text


def step_label(step: str) -> str:
    return str(STEP_LABELS.get(step, step))
