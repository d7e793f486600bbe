"""Static files as `make run` and production serve them: hashed names, gzip over the wire, the
small plotly.js bundle that draws our charts, and a favicon on every page."""

import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

from config.staticfinders import _package_data

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "static" / "vendor" / "plotly-cartesian.min.js"


def _plotly_js_version(path: Path) -> str:
    return re.search(r"plotly\.js.*? v(\d+\.\d+\.\d+)", path.read_text()[:300]).group(1)


def test_the_vendored_bundle_matches_the_plotly_package():
    """Figures are built by the Python package for its own plotly.js version."""
    assert _plotly_js_version(BUNDLE) == _plotly_js_version(_package_data() / "plotly.min.js")
    assert BUNDLE.stat().st_size < 2_000_000  # the full bundle is 4.8 MB


def test_run_sh_collects_static_files_and_serves_them_through_whitenoise():
    script = (ROOT / "scripts" / "run.sh").read_text()
    assert "collectstatic" in script and "--nostatic" in script
    assert "DJANGO_STATIC_MANIFEST=${DJANGO_STATIC_MANIFEST:-1}" in script


@pytest.mark.django_db
def test_compressed_manifest_storage_sends_gzip(settings, tmp_path):
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    # Only the project's own folder: enough for base.html, and seconds rather than the admin's
    # and Swagger's hundreds of files.
    settings.STATICFILES_FINDERS = ["django.contrib.staticfiles.finders.FileSystemFinder"]
    settings.WHITENOISE_USE_FINDERS = False
    settings.WHITENOISE_AUTOREFRESH = True  # as under `make run` (DEBUG): reads STATIC_ROOT
    call_command("collectstatic", interactive=False, verbosity=0)

    client = Client()
    page = client.get("/plan/").content.decode()
    favicon = re.search(r'<link rel="icon" href="([^"]+)"', page).group(1)
    assert re.fullmatch(r"/static/favicon\.[0-9a-f]{12}\.svg", favicon)
    assert client.get(favicon).status_code == 200

    hashed = next((tmp_path / "static" / "vendor").glob("plotly-cartesian.min.*.js"))
    url = f"/static/vendor/{hashed.name}"
    response = client.get(url, HTTP_ACCEPT_ENCODING="gzip, deflate")
    assert response.status_code == 200 and response["Content-Encoding"] == "gzip"
    assert int(response["Content-Length"]) < 600_000
    assert "immutable" in response["Cache-Control"]
