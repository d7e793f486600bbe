"""Worker code never reaches for a file of the web host: only the storage layer knows where
files live (the "datasets" and "artifacts" storages, the worker's own cache)."""

import ast
from pathlib import Path

WORKERS = Path(__file__).resolve().parents[2] / "workers"
STORAGE_LAYER = {"training/storage.py", "training/dataset_cache.py"}
WEB_HOST_PATHS = {
    "MEDIA_ROOT",
    "DATA_ROOTS",
    "DATASET_UPLOAD_ROOT",
    "BASE_DIR",
    "VAR_DIR",
    "STATIC_ROOT",
}


def web_host_paths(source: str) -> list[str]:
    """Each use of a web-host path in `source`: a setting (attribute, name or string such as
    an environment key) or a dataset's import folder (`dataset.root`)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in WEB_HOST_PATHS:
            found.append(f"line {node.lineno}: .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in WEB_HOST_PATHS:
            found.append(f"line {node.lineno}: {node.id}")
        elif isinstance(node, ast.Constant) and node.value in WEB_HOST_PATHS:
            found.append(f"line {node.lineno}: {node.value!r}")
        elif isinstance(node, ast.Attribute) and node.attr == "root":
            owner = node.value
            name = getattr(owner, "attr", getattr(owner, "id", ""))
            if name == "dataset":
                found.append(f"line {node.lineno}: dataset.root")
    return found


def test_the_check_finds_each_kind_of_use():
    source = (
        "from django.conf import settings\n"
        "a = settings.MEDIA_ROOT\n"
        "b = job.dataset.root / 'x'\n"
        "env = {'DATA_ROOTS': '/data'}\n"
        "c = dataset.root\n"
        "d = settings.JOB_NICE\n"
    )
    assert len(web_host_paths(source)) == 4


def test_worker_code_uses_no_web_host_path_outside_the_storage_layer():
    offenders = {}
    for path in sorted(WORKERS.rglob("*.py")):
        relative = path.relative_to(WORKERS).as_posix()
        if relative in STORAGE_LAYER:
            continue
        found = web_host_paths(path.read_text())
        if found:
            offenders[relative] = found
    assert offenders == {}, "use workers.training.storage / dataset_cache instead"
