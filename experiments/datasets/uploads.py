"""Checking what researchers upload: one image to try a model on, a dataset as a zip file.

Nothing uploaded is trusted: an image is decoded completely (with a pixel limit) and stored
again as PNG; a zip is extracted member by member under a fresh folder, refusing paths that
leave it, links, nested archives and over-large members, and skipping what is not an image.
"""

from __future__ import annotations

import errno
import io
import shutil
import stat
import struct
import tempfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from PIL import Image, UnidentifiedImageError

from experiments.datasets.importer import IMAGE_SUFFIXES

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

# Why a member was skipped: stored in English, shown translated (gettext_noop marks them).
SKIP_LINK = gettext_noop("symbolic link")
SKIP_OUTSIDE = gettext_noop("path outside the dataset folder")
SKIP_NESTED = gettext_noop("nested archive")
SKIP_NOT_IMAGE = gettext_noop("not an image")
SKIP_RATIO = gettext_noop("suspicious compression ratio")
SKIP_DAMAGED = gettext_noop("damaged data (checksum or compression error)")
SKIP_LYING = gettext_noop("expands to more than its header declares")
SKIP_LONG_NAME = gettext_noop("a name in its path is longer than 255 bytes")
SKIP_CLASH = gettext_noop("a file and a folder of the archive have the same name")
SKIP_ENCODING = gettext_noop("its name is not valid UTF-8")
SKIP_UNREADABLE = gettext_noop("not a readable image")
SKIP_TOO_LARGE = gettext_noop("image too large")
MAX_NAME_BYTES = 255


@dataclass
class ZipReport:
    extracted: int = 0
    bytes: int = 0
    skipped: list[dict] = field(default_factory=list)  # {"member", "reason"}

    def skip(self, member: str, reason: str) -> None:
        # A member name may hold anything; kept printable and storable (no NUL, no surrogate).
        shown = member.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "")
        self.skipped.append({"member": shown[:300], "reason": reason})

    def as_dict(self) -> dict:
        return {"extracted": self.extracted, "bytes": self.bytes, "skipped": self.skipped}


def size_against_limit(size: int, limit: int) -> tuple[str, str]:
    """Both sizes in MB, with as many decimals as it takes for them to differ (else bytes)."""
    for decimals in (0, 1, 2, 3):
        a, b = (f"{n / 1024 / 1024:.{decimals}f} MB" for n in (size, limit))
        if a != b:
            return a, b
    return f"{size:,} bytes", f"{limit:,} bytes"


def _safe_member_path(name: str) -> PurePosixPath | None:
    """The member's relative path, or None when it is absolute or climbs out (zip slip)."""
    name = name.replace("\\", "/")
    path = PurePosixPath(name)
    if not path.parts or path.is_absolute() or ":" in path.parts[0]:
        return None  # absolute, or a Windows drive
    if ".." in path.parts:
        return None
    return path


def _open_zip(archive) -> tuple[zipfile.ZipFile, set[str]]:
    """Open the archive. Members flagged UTF-8 whose names are not would fail the whole
    archive (UnicodeDecodeError); in a copy their flag is cleared, so they read as cp437, and
    their names are returned, to be skipped and listed."""
    try:
        return zipfile.ZipFile(archive), set()
    except UnicodeDecodeError:
        pass
    copy = tempfile.TemporaryFile()
    if hasattr(archive, "read"):
        archive.seek(0)
        shutil.copyfileobj(archive, copy)
    else:
        with open(archive, "rb") as source:
            shutil.copyfileobj(source, copy)
    end = zipfile._EndRecData(copy)
    if end is None:
        raise zipfile.BadZipFile("no end of central directory")
    size_cd = end[zipfile._ECD_SIZE]
    position = end[zipfile._ECD_LOCATION] - size_cd
    copy.seek(position)
    directory = bytearray(copy.read(size_cd))
    bad, at = set(), 0
    while at + zipfile.sizeCentralDir <= len(directory):
        header = struct.unpack(
            zipfile.structCentralDir, directory[at : at + zipfile.sizeCentralDir]
        )
        if header[zipfile._CD_SIGNATURE] != zipfile.stringCentralDir:
            break
        flags = header[zipfile._CD_FLAG_BITS]
        start = at + zipfile.sizeCentralDir
        raw = bytes(directory[start : start + header[zipfile._CD_FILENAME_LENGTH]])
        if flags & 0x800:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                directory[at + 8 : at + 10] = struct.pack("<H", flags & ~0x800)
                bad.add(raw.decode("cp437"))
        at = (
            start
            + header[zipfile._CD_FILENAME_LENGTH]
            + header[zipfile._CD_EXTRA_FIELD_LENGTH]
            + header[zipfile._CD_COMMENT_LENGTH]
        )
    copy.seek(position)
    copy.write(directory)
    copy.seek(0)
    return zipfile.ZipFile(copy), bad


def extract_dataset_zip(
    archive, target: Path, max_total: int | None = None, alive=None
) -> ZipReport:
    """Extract the images of an uploaded zip under `target` (created, must not exist).

    Refused outright (UploadRefused, nothing left behind): not a zip, too many members, more
    bytes than DATASET_UPLOAD_MAX_EXTRACTED_BYTES once expanded, no usable image at all.
    Skipped and listed, each with a plain reason: paths that leave the target, links, nested
    archives, suspicious compression ratios, damaged data, over-long or non-UTF-8 names,
    file/folder clashes, members that are not readable images. `alive()` is called as members
    are extracted (the import's sign of life)."""
    max_total = max_total or settings.DATASET_UPLOAD_MAX_EXTRACTED_BYTES
    try:
        zf, badly_named = _open_zip(archive)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise UploadRefused(_("The file is not a zip archive.")) from exc
    report = ZipReport()
    target = Path(target)
    with zf:
        members = zf.infolist()
        if len(members) > MAX_MEMBERS:
            raise UploadRefused(
                _("The archive has %(count)s members; at most %(max)s.")
                % {"count": f"{len(members):,}", "max": f"{MAX_MEMBERS:,}"}
            )
        declared = sum(m.file_size for m in members if not m.is_dir())
        if declared > max_total:
            size, limit = size_against_limit(declared, max_total)
            raise UploadRefused(
                _("The archive expands to %(size)s; the limit is %(limit)s.")
                % {"size": size, "limit": limit}
            )
        target.mkdir(parents=True, exist_ok=False)
        root = target.resolve()
        try:
            for index, member in enumerate(members):
                if member.filename in badly_named:
                    report.skip(member.filename, SKIP_ENCODING)
                    continue
                _extract_member(zf, member, root, report, max_total)
                if alive is not None and index % 500 == 0:
                    alive()
        except BaseException:
            shutil.rmtree(target, ignore_errors=True)
            raise
    if not report.extracted:
        shutil.rmtree(target, ignore_errors=True)
        raise UploadRefused(_("The archive holds no readable image."))
    return report


def _extract_member(zf, member, root: Path, report: ZipReport, max_total: int) -> None:
    name = member.filename
    mode = member.external_attr >> 16
    if stat.S_ISLNK(mode):  # before the folder check: a link may be named like a folder
        report.skip(name, SKIP_LINK)
        return
    if member.is_dir():
        return
    relative = _safe_member_path(name)
    if relative is None:
        report.skip(name, SKIP_OUTSIDE)
        return
    if any(len(part.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES for part in relative.parts):
        report.skip(name, SKIP_LONG_NAME)
        return
    destination = (root / relative).resolve()
    if not destination.is_relative_to(root):
        report.skip(name, SKIP_OUTSIDE)
        return
    suffix = relative.suffix.lower()
    if suffix in ARCHIVE_SUFFIXES:
        report.skip(name, SKIP_NESTED)
        return
    if suffix not in IMAGE_SUFFIXES:
        report.skip(name, SKIP_NOT_IMAGE)
        return
    if member.compress_size and member.file_size / member.compress_size > MAX_RATIO:
        report.skip(name, SKIP_RATIO)
        return
    # Read at most the declared size + 1: a lying header cannot make us write more.
    try:
        with zf.open(member) as source:
            data = source.read(member.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError):
        report.skip(name, SKIP_DAMAGED)  # bad CRC, corrupt stream, encrypted, odd compression
        return
    if len(data) > member.file_size:
        report.skip(name, SKIP_LYING)
        return
    if report.bytes + len(data) > max_total:
        raise UploadRefused(_("The archive expands to more than it declares; refused."))
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.size[0] * probe.size[1] > settings.UPLOAD_MAX_IMAGE_PIXELS:
                report.skip(name, SKIP_TOO_LARGE)
                return
            probe.verify()
    except Exception:  # PIL raises many types for damaged files
        report.skip(name, SKIP_UNREADABLE)
        return
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        if destination.is_dir():
            raise IsADirectoryError
        destination.write_bytes(data)
    except (NotADirectoryError, IsADirectoryError, FileExistsError):
        report.skip(name, SKIP_CLASH)
        return
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            report.skip(name, SKIP_LONG_NAME)
            return
        raise
    report.extracted += 1
    report.bytes += len(data)
