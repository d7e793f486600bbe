"""Postgres only: unaccent and pg_trgm, GIN indexes for the search vectors and title trigrams.

SQLite has none of these; the search falls back to Python there (guide.search.query).
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX IF NOT EXISTS guide_search_title_vec ON guide_searchdocument "
    "USING gin (title_vector)",
    "CREATE INDEX IF NOT EXISTS guide_search_body_vec ON guide_searchdocument "
    "USING gin (body_vector)",
    "CREATE INDEX IF NOT EXISTS guide_search_title_trgm ON guide_searchdocument "
    "USING gin (title_plain gin_trgm_ops)",
]
BACKWARD = [
    "DROP INDEX IF EXISTS guide_search_title_trgm",
    "DROP INDEX IF EXISTS guide_search_body_vec",
    "DROP INDEX IF EXISTS guide_search_title_vec",
]


def run(statements):
    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql)

    return apply


class Migration(migrations.Migration):
    dependencies = [("guide", "0001_initial")]

    operations = [migrations.RunPython(run(FORWARD), run(BACKWARD))]
