"""Keep the search index in step with admin edits."""

from contextlib import contextmanager

from django.db import connection, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from .models import (
    CrossReference,
    GlossaryTerm,
    Library,
    Mooc,
    PipelineStage,
    Programme,
    ProgrammeComparison,
    ProgrammePart,
    Reading,
    StudyPath,
    StudyStep,
    Topic,
    Unit,
)

INDEXED = (Mooc, Unit, Topic, GlossaryTerm)
_paused = {"depth": 0}


@contextmanager
def search_index_paused():
    """For bulk loads that rebuild the index once at the end themselves."""
    _paused["depth"] += 1
    try:
        yield
    finally:
        _paused["depth"] -= 1


def _rebuild_after_commit() -> None:
    from .search.index import rebuild

    rebuild()


def schedule_rebuild(sender, **kwargs) -> None:
    if kwargs.get("raw") or _paused["depth"]:
        return
    # One rebuild per transaction, however many rows it saved. (The pending list belongs to
    # the transaction, so a rolled-back one leaves nothing behind.)
    pending = getattr(connection, "run_on_commit", [])
    if not any(entry[1] is _rebuild_after_commit for entry in pending):
        transaction.on_commit(_rebuild_after_commit)


for model in INDEXED:
    post_save.connect(schedule_rebuild, sender=model, dispatch_uid=f"search-save-{model.__name__}")
    post_delete.connect(
        schedule_rebuild, sender=model, dispatch_uid=f"search-delete-{model.__name__}"
    )
m2m_changed.connect(schedule_rebuild, sender=Mooc.libraries.through, dispatch_uid="search-m2m")
# The rest of the content is not searched, but guide pages are kept per index version
# (guide/page_cache.py): an edit of it changes the version too.
for model in (
    Library, Programme, ProgrammePart, Reading, CrossReference, ProgrammeComparison, StudyPath,
    StudyStep, PipelineStage,
):  # fmt: skip
    post_save.connect(schedule_rebuild, sender=model, dispatch_uid=f"page-save-{model.__name__}")
    post_delete.connect(
        schedule_rebuild, sender=model, dispatch_uid=f"page-delete-{model.__name__}"
    )
