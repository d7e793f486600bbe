"""A web process serving guide pages never loads scipy, Plotly or numpy (~100 MiB per worker)."""

import json
import subprocess
import sys
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
GUIDE_URLS = [
    "/",
    "/courses/",
    "/courses/?platform=Udacity&price=free",
    "/compare/",
    "/glossary/",
    "/keras-vs-fastai/",
    "/recommend/",
    "/search/?q=transfer+learning",
    "/api/courses/",
    "/api/glossary/",
]
# A fresh process: the WSGI module (as gunicorn loads it), then the guide pages through the test
# client, on the test database (its guide content is committed when the database is set up).
SERVE = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
from config.wsgi import application
from django.db import connection
connection.settings_dict["NAME"] = sys.argv[1]
from django.test import Client
client = Client()
statuses = {url: client.get(url, secure=True).status_code for url in json.loads(sys.argv[2])}
print(json.dumps({"statuses": statuses, "modules": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def test_guide_requests_never_import_scipy_plotly_or_numpy(db):
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            SERVE,
            settings.DATABASES["default"]["NAME"],
            json.dumps(GUIDE_URLS),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(result["statuses"].values()) == {200}, result["statuses"]
    assert not {"scipy", "plotly", "numpy"} & set(result["modules"])
