"""Checking what researchers upload: one image to try a model on, a dataset as a zip file.

Nothing uploaded is trusted: an image is decoded completely (with a pixel limit) and stored
again as PNG; a zip is extracted member by member under a fresh folder, refusing paths that
leave it, links, nested archives and over-large members, and skipping what is not an image.
"""

from __future__ import annotations

import io
import shutil
import stat
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.utils.translation import gettext as _
from PIL import Image, UnidentifiedImageError

from .importer import IMAGE_SUFFIXES

ARCHIVE_SUFFIXES = {".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar"}
MAX_MEMBERS = 200_000
MAX_RATIO = 200  # a member expanding more than this from its compressed size is a bomb


class UploadRefused(Exception):
    """The upload is not accepted; the message says why (shown to the user, 4xx)."""


def _mb(n: int) -> str:
    return f"{n / 1024 / 1024:.0f} MB"


def read_image_upload(upload, max_bytes: int | None = None) -> Image.Image:
    """Decode an uploaded image fully; refuse empty, too large, not an image, truncated, or
    more pixels than UPLOAD_MAX_IMAGE_PIXELS (a decompression bomb). Returns an RGB image."""
    max_bytes = max_bytes or settings.PREDICT_UPLOAD_MAX_BYTES
    size = getattr(upload, "size", None)
    if size is None:
        raise UploadRefused(_("Attach an image file."))
    if size == 0:
        raise UploadRefused(_("The file is empty (0 bytes)."))
    if size > max_bytes:
        raise UploadRefused(
            _("The file is %(size)s; the limit is %(limit)s.")
            % {"size": _mb(size), "limit": _mb(max_bytes)}
        )
    data = upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise UploadRefused(
            _("The file is larger than the limit of %(limit)s.") % {"limit": _mb(max_bytes)}
        )
    return decode_image(data)


def decode_image(data: bytes) -> Image.Image:
    limit = settings.UPLOAD_MAX_IMAGE_PIXELS
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if width * height > limit:
                raise UploadRefused(
                    _(
                        "The image is %(width)sx%(height)s pixels, over the limit of %(limit)s "
                        "pixels (a decompression bomb, or simply too large)."
                    )
                    % {"width": width, "height": height, "limit": f"{limit:,}"}
                )
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                probe.load()  # decodes every byte: a truncated file fails here
                return probe.convert("RGB")
    except UploadRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UploadRefused(
            _("The image is too large to decode safely (%(detail)s).") % {"detail": exc}
        ) from exc
    except UnidentifiedImageError as exc:
        raise UploadRefused(_("The file is not an image PIL can read (JPEG, PNG, ...).")) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise UploadRefused(
            _("The image is damaged or truncated (%(detail)s).") % {"detail": exc}
        ) from exc


# ------------------------------------------------------------------ zip datasets


@dataclass
class ZipReport:
    extracted: int = 0
    bytes: int = 0
    skipped: list[dict] = field(default_factory=list)  # {"member", "reason"}

    def skip(self, member: str, reason: str) -> None:
        self.skipped.append({"member": member[:300], "reason": reason})

    def as_dict(self) -> dict:
        return {"extracted": self.extracted, "bytes": self.bytes, "skipped": self.skipped}


def _safe_member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is absolute or climbs out (zip slip)."""
    name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if not path.parts or path.is_absolute() or ":" in path.parts[0]:
        return None  # absolute, or a Windows drive
    if ".." in path.parts:
        return None
    return path


def extract_dataset_zip(archive, target: Path, max_total: int | None = None) -> ZipReport:
    """Extract the images of an uploaded zip under `target` (created, must not exist).

    Refused outright (UploadRefused, nothing left behind): not a zip, too many members, more
    bytes than DATASET_UPLOAD_MAX_EXTRACTED_BYTES once expanded. Skipped and listed: paths that
    leave the target, symbolic links, nested archives, suspicious compression ratios,
    non-image members, files that are not readable images."""
    max_total = max_total or settings.DATASET_UPLOAD_MAX_EXTRACTED_BYTES
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UploadRefused(f"The file is not a zip archive ({exc}).") from exc
    report = ZipReport()
    target = Path(target)
    with zf:
        members = zf.infolist()
        if len(members) > MAX_MEMBERS:
            raise UploadRefused(
                f"The archive has {len(members):,} members; at most {MAX_MEMBERS:,}."
            )
        declared = sum(m.file_size for m in members if not m.is_dir())
        if declared > max_total:
            raise UploadRefused(
                f"The archive expands to {_mb(declared)}; the limit is {_mb(max_total)}."
            )
        target.mkdir(parents=True, exist_ok=False)
        root = target.resolve()
        try:
            for member in members:
                _extract_member(zf, member, root, report, max_total)
        except UploadRefused:
            shutil.rmtree(target, ignore_errors=True)
            raise
    if not report.extracted:
        shutil.rmtree(target, ignore_errors=True)
        raise UploadRefused("The archive holds no readable image.")
    return report


def _extract_member(zf, member, root: Path, report: ZipReport, max_total: int) -> None:
    name = member.filename
    if member.is_dir():
        return
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):
        report.skip(name, "symbolic link")
        return
    relative = _safe_member_path(name)
    if relative is None:
        report.skip(name, "path outside the dataset folder")
        return
    destination = (root / relative).resolve()
    if not destination.is_relative_to(root):
        report.skip(name, "path outside the dataset folder")
        return
    suffix = relative.suffix.lower()
    if suffix in ARCHIVE_SUFFIXES:
        report.skip(name, "nested archive")
        return
    if suffix not in IMAGE_SUFFIXES:
        report.skip(name, "not an image")
        return
    if member.compress_size and member.file_size / member.compress_size > MAX_RATIO:
        report.skip(name, "suspicious compression ratio")
        return
    # Read at most the declared size + 1: a lying header cannot make us write more.
    with zf.open(member) as source:
        data = source.read(member.file_size + 1)
    if len(data) > member.file_size or report.bytes + len(data) > max_total:
        raise UploadRefused("The archive expands to more than it declares; refused.")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.size[0] * probe.size[1] > settings.UPLOAD_MAX_IMAGE_PIXELS:
                report.skip(name, "image too large")
                return
            probe.verify()
    except Exception:  # PIL raises many types for damaged files
        report.skip(name, "not a readable image")
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(data)
    report.extracted += 1
    report.bytes += len(data)
