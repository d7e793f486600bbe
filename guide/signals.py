"""Keep the search index in step with admin edits."""

from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from .models import GlossaryTerm, Mooc, Topic, Unit

INDEXED = (Mooc, Unit, Topic, GlossaryTerm)
_pending = {"scheduled": False}


def _rebuild_after_commit() -> None:
    from .search.index import rebuild

    _pending["scheduled"] = False
    rebuild()


def schedule_rebuild(sender, **kwargs) -> None:
    if kwargs.get("raw"):  # fixtures being loaded: the loader rebuilds once at the end
        return
    if not _pending["scheduled"]:
        _pending["scheduled"] = True
        transaction.on_commit(_rebuild_after_commit)


for model in INDEXED:
    post_save.connect(schedule_rebuild, sender=model, dispatch_uid=f"search-save-{model.__name__}")
    post_delete.connect(
        schedule_rebuild, sender=model, dispatch_uid=f"search-delete-{model.__name__}"
    )
m2m_changed.connect(schedule_rebuild, sender=Mooc.libraries.through, dispatch_uid="search-m2m")
