"""Settings of bench/pages.py: the project's, with a URLconf that adds a trivial view."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "pages_urls"
