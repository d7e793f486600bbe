"""Load the guide's YAML content into the database, and export it back.

Records are matched by their stable `slug` (or natural key), so loading twice changes nothing and
an edited file updates rows in place. Rows whose key disappeared from the files are deleted.
`export_content` writes the same shape that `load_content` reads, so admin edits can be saved
into the repository (`manage.py export_guide`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import models, transaction

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

CONTENT_DIR = Path(__file__).resolve().parent / "content"
PROGRAMME_FILES = ("programme_ng.yaml", "programme_fastai.yaml")


class ContentError(Exception):
    """The content files are malformed; the message says where."""


@dataclass
class LoadReport:
    created: Counter = field(default_factory=Counter)
    updated: Counter = field(default_factory=Counter)
    deleted: Counter = field(default_factory=Counter)
    total: Counter = field(default_factory=Counter)

    @property
    def changed(self) -> int:
        return sum(self.created.values()) + sum(self.updated.values()) + sum(self.deleted.values())

    def lines(self) -> list[str]:
        out = []
        for name in self.total:
            out.append(
                f"{name:<22} {self.total[name]:>4} records  "
                f"+{self.created[name]} created  ~{self.updated[name]} updated  "
                f"-{self.deleted[name]} deleted"
            )
        return out


# ---------------------------------------------------------------- helpers


def read_yaml(path: Path) -> Any:
    try:
        with path.open(encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError as exc:
        raise ContentError(f"{path.name}: file not found in {path.parent}") from exc
    except yaml.YAMLError as exc:
        raise ContentError(f"{path.name}: not valid YAML: {exc}") from exc


def bilingual(entry: dict, name: str, where: str, required: bool = True) -> dict[str, Any]:
    value = entry.get(name)
    if value is None and not required:
        return {f"{name}_en": "", f"{name}_es": ""}
    if not isinstance(value, dict) or "en" not in value or "es" not in value:
        raise ContentError(f"{where}: '{name}' must be a mapping with 'en' and 'es'")
    return {f"{name}_en": value["en"] or "", f"{name}_es": value["es"] or ""}


def unbilingual(obj: models.Model, name: str) -> dict[str, Any]:
    return {"en": getattr(obj, f"{name}_en"), "es": getattr(obj, f"{name}_es")}


def require(entry: dict, key: str, where: str) -> Any:
    if key not in entry:
        raise ContentError(f"{where}: missing '{key}'")
    return entry[key]


class Syncer:
    """Upserts rows by natural key and counts what really changed."""

    def __init__(self, report: LoadReport):
        self.report = report
        self.seen: dict[type, set[int]] = {}

    def upsert(self, model: type[models.Model], lookup: dict, values: dict) -> models.Model:
        name = model._meta.verbose_name_plural
        obj = model.objects.filter(**lookup).first()
        if obj is None:
            obj = model(**lookup, **values)
            obj.save()
            self.report.created[name] += 1
        else:
            changed = {k: v for k, v in values.items() if getattr(obj, k) != v}
            if changed:
                for key, value in changed.items():
                    setattr(obj, key, value)
                obj.save()
                self.report.updated[name] += 1
        self.report.total[name] += 1
        self.seen.setdefault(model, set()).add(obj.pk)
        return obj

    def set_m2m(self, obj: models.Model, attr: str, targets: list[models.Model]) -> None:
        manager = getattr(obj, attr)
        wanted = {t.pk for t in targets}
        if set(manager.values_list("pk", flat=True)) != wanted:
            manager.set(targets)
            self.report.updated[obj._meta.verbose_name_plural] += 1

    def delete_unseen(self, model: type[models.Model], scope: models.QuerySet | None = None):
        queryset = scope if scope is not None else model.objects.all()
        stale = queryset.exclude(pk__in=self.seen.get(model, set()))
        count = stale.count()
        if count:
            stale.delete()
            self.report.deleted[model._meta.verbose_name_plural] += count


def lookup_all(model: type[models.Model], slugs: list[str], where: str) -> list[models.Model]:
    found = {o.slug: o for o in model.objects.filter(slug__in=slugs)}
    missing = [s for s in slugs if s not in found]
    if missing:
        raise ContentError(f"{where}: unknown {model.__name__} slug(s): {', '.join(missing)}")
    return [found[s] for s in slugs]


# ---------------------------------------------------------------- load


def load_content(directory: Path = CONTENT_DIR) -> LoadReport:
    """Load every content file in `directory`. All or nothing: an error changes no row."""
    from .signals import search_index_paused

    with search_index_paused(), transaction.atomic():
        return _load_all(Path(directory))


def _load_all(directory: Path) -> LoadReport:
    report = LoadReport()
    sync = Syncer(report)
    _load_moocs(sync, read_yaml(directory / "moocs.yaml"))
    for filename in PROGRAMME_FILES:
        _load_programme(sync, read_yaml(directory / filename), filename)
    sync.delete_unseen(Programme)
    sync.delete_unseen(Unit)
    sync.delete_unseen(ProgrammePart)
    sync.delete_unseen(Reading)
    _load_cross_references(sync, read_yaml(directory / "cross_references.yaml"))
    _load_topics(sync, read_yaml(directory / "topics.yaml"))
    _load_glossary(sync, read_yaml(directory / "glossary.yaml"))
    _load_study(sync, read_yaml(directory / "study.yaml"))

    from .search.index import rebuild

    rebuild()
    return report


def _load_moocs(sync: Syncer, data: dict) -> None:
    if not isinstance(data, dict) or "moocs" not in data:
        raise ContentError("moocs.yaml: expected 'libraries' and 'moocs' lists")
    libraries = {}
    for entry in data.get("libraries", []):
        where = f"moocs.yaml library {entry.get('slug')!r}"
        libraries[entry["slug"]] = sync.upsert(
            Library,
            {"slug": require(entry, "slug", where)},
            {"name": require(entry, "name", where)},
        )
    for order, entry in enumerate(data["moocs"]):
        where = f"moocs.yaml course {entry.get('slug')!r}"
        price = require(entry, "price", where)
        hours = entry.get("hours_per_week") or [None, None]
        values = {
            "order": order,
            "name": require(entry, "name", where),
            "name_es": entry.get("name_es") or "",
            "platform": require(entry, "platform", where),
            "instructors": entry.get("instructors") or [],
            "duration_weeks": float(require(entry, "duration_weeks", where)),
            "hours_per_week_min": hours[0],
            "hours_per_week_max": hours[-1],
            "is_free": price.get("free"),
            "monthly_price_eur": price.get("monthly_eur"),
            "certificate_paid": bool(price.get("certificate_paid")),
            "certificate": entry.get("certificate"),
            "url": require(entry, "url", where),
            **bilingual(entry, "provider", where),
            **bilingual(entry, "requirements", where),
            **bilingual(entry, "duration", where),
            **bilingual(entry, "content_areas", where),
            **bilingual(entry, "summary", where),
        }
        status = entry.get("status") or {}
        values.update(
            {
                "status": status.get("state", Mooc.CURRENT),
                "successor_name": status.get("successor_name") or "",
                "successor_url": status.get("successor_url") or "",
                "status_checked": status.get("checked"),
            }
        )
        if values["status"] not in dict(Mooc.STATUSES):
            raise ContentError(f"{where}: unknown status {values['status']!r}")
        note = bilingual(price, "note", where, required=False)
        values["price_note_en"], values["price_note_es"] = note["note_en"], note["note_es"]
        mooc = sync.upsert(Mooc, {"slug": require(entry, "slug", where)}, values)
        unknown = [s for s in entry.get("libraries", []) if s not in libraries]
        if unknown:
            raise ContentError(f"{where}: unknown libraries {unknown}")
        sync.set_m2m(mooc, "libraries", [libraries[s] for s in entry.get("libraries", [])])
        main = entry.get("main_libraries") or []
        if any(s not in entry.get("libraries", []) for s in main):
            raise ContentError(f"{where}: main_libraries must be listed in libraries")
        sync.set_m2m(mooc, "main_libraries", [libraries[s] for s in main])
    sync.delete_unseen(Mooc)
    sync.delete_unseen(Library)


def _load_programme(sync: Syncer, data: dict, filename: str) -> None:
    where = filename
    mooc_slug = data.get("mooc")
    mooc = Mooc.objects.filter(slug=mooc_slug).first() if mooc_slug else None
    if mooc_slug and mooc is None:
        raise ContentError(f"{where}: unknown mooc {mooc_slug!r}")
    programme = sync.upsert(
        Programme,
        {"slug": require(data, "slug", where)},
        {
            "order": PROGRAMME_FILES.index(filename),
            "mooc": mooc,
            "authors": data.get("authors") or [],
            "year": data.get("year"),
            **bilingual(data, "name", where),
            **bilingual(data, "summary", where),
            **bilingual(data, "approach", where),
        },
    )
    for part in data.get("parts") or []:
        sync.upsert(
            ProgrammePart,
            {"programme": programme, "number": require(part, "number", where)},
            {**bilingual(part, "title", where), **bilingual(part, "summary", where, False)},
        )
    for entry in require(data, "units", where):
        unit_where = f"{filename} unit {entry.get('slug')!r}"
        unit = sync.upsert(
            Unit,
            {"slug": require(entry, "slug", unit_where)},
            {
                "programme": programme,
                "number": require(entry, "number", unit_where),
                "part": entry.get("part"),
                **_unit_title(require(entry, "title", unit_where), unit_where),
                "duration_weeks": entry.get("duration_weeks"),
                **bilingual(entry, "summary", unit_where),
                **bilingual(entry, "advice", unit_where),
            },
        )
        for order, reading in enumerate(entry.get("reading") or []):
            sync.upsert(
                Reading,
                {"unit": unit, "order": order},
                {"title": require(reading, "title", unit_where), "url": reading.get("url") or ""},
            )


def _unit_title(value: Any, where: str) -> dict[str, str]:
    """A unit's title: the original English one, or a mapping with 'en' (original) and 'es'."""
    if isinstance(value, str):
        return {"title": value, "title_es": ""}
    titles = bilingual({"title": value}, "title", where)
    return {"title": titles["title_en"], "title_es": titles["title_es"]}


def _unit(slug: str, where: str) -> Unit:
    unit = Unit.objects.filter(slug=slug).first()
    if unit is None:
        raise ContentError(f"{where}: unknown unit {slug!r}")
    return unit


def _load_cross_references(sync: Syncer, data: list) -> None:
    for index, entry in enumerate(data or []):
        where = f"cross_references.yaml entry {index + 1}"
        topic = bilingual(entry, "topic", where)
        relation = entry.get("relation", CrossReference.COMPLEMENTS)
        if relation not in dict(CrossReference.RELATIONS):
            raise ContentError(f"{where}: unknown relation {relation!r}")
        sync.upsert(
            CrossReference,
            {
                "ng_unit": _unit(require(entry, "ng", where), where),
                "fastai_unit": _unit(require(entry, "fastai", where), where),
                "topic_en": topic["topic_en"],
            },
            {
                "topic_es": topic["topic_es"],
                "relation": relation,
                **bilingual(entry, "erratum", where, required=False),
            },
        )
    sync.delete_unseen(CrossReference)


def _load_topics(sync: Syncer, data: list) -> None:
    for order, entry in enumerate(data or []):
        where = f"topics.yaml topic {entry.get('slug')!r}"
        topic = sync.upsert(
            Topic,
            {"slug": require(entry, "slug", where)},
            {
                "order": order,
                "taught_by_ng": bool(entry.get("ng")),
                "taught_by_fastai": bool(entry.get("fastai")),
                **bilingual(entry, "name", where),
            },
        )
        if not (topic.taught_by_ng or topic.taught_by_fastai):
            raise ContentError(f"{where}: taught by neither programme")
        sync.set_m2m(topic, "units", lookup_all(Unit, entry.get("units") or [], where))
    sync.delete_unseen(Topic)


def _load_glossary(sync: Syncer, data: list) -> None:
    for order, entry in enumerate(data or []):
        where = f"glossary.yaml term {entry.get('slug')!r}"
        term = sync.upsert(
            GlossaryTerm,
            {"slug": require(entry, "slug", where)},
            {
                "order": order,
                "term_es": require(entry, "es", where),
                "term_en": require(entry, "en", where),
                "es_alternates": entry.get("es_alternates") or [],
                "en_alternates": entry.get("en_alternates") or [],
                "acronyms": entry.get("acronyms") or [],
                **bilingual(entry, "definition", where),
            },
        )
        sync.set_m2m(term, "topics", lookup_all(Topic, entry.get("topics") or [], where))
        sync.set_m2m(term, "units", lookup_all(Unit, entry.get("units") or [], where))
    sync.delete_unseen(GlossaryTerm)


def _load_study(sync: Syncer, data: dict) -> None:
    for order, entry in enumerate(data.get("comparison") or []):
        where = f"study.yaml comparison {entry.get('slug')!r}"
        sync.upsert(
            ProgrammeComparison,
            {"slug": require(entry, "slug", where)},
            {
                "order": order,
                **bilingual(entry, "title", where),
                **bilingual(entry, "ng", where),
                **bilingual(entry, "fastai", where),
            },
        )
    for order, entry in enumerate(data.get("study_paths") or []):
        where = f"study.yaml study path {entry.get('slug')!r}"
        path = sync.upsert(
            StudyPath,
            {"slug": require(entry, "slug", where)},
            {
                "order": order,
                "suits": require(entry, "suits", where),
                "from_thesis": bool(entry.get("from_thesis")),
                **bilingual(entry, "title", where),
                **bilingual(entry, "description", where),
            },
        )
        for step_order, step in enumerate(require(entry, "steps", where)):
            programme = Programme.objects.filter(slug=step.get("programme")).first()
            if programme is None:
                raise ContentError(f"{where}: unknown programme {step.get('programme')!r}")
            sync.upsert(
                StudyStep,
                {"path": path, "order": step_order},
                {
                    "programme": programme,
                    "part": step.get("part"),
                    **bilingual(step, "note", where, False),
                },
            )
    for order, entry in enumerate(data.get("library_comparison") or []):
        where = f"study.yaml library_comparison {entry.get('slug')!r}"
        sync.upsert(
            PipelineStage,
            {"slug": require(entry, "slug", where)},
            {
                "order": order,
                **bilingual(entry, "stage", where),
                **bilingual(entry, "keras", where),
                **bilingual(entry, "fastai", where),
            },
        )
    for model in (ProgrammeComparison, StudyStep, StudyPath, PipelineStage):
        sync.delete_unseen(model)


# ---------------------------------------------------------------- export


def export_content(directory: Path = CONTENT_DIR) -> list[Path]:
    """Write the database's content as YAML files in `directory`; returns the paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    documents = {
        "moocs.yaml": _export_moocs(),
        "cross_references.yaml": [
            _export_cross_reference(ref)
            for ref in CrossReference.objects.select_related("ng_unit", "fastai_unit")
        ],
        "topics.yaml": [
            {
                "slug": t.slug,
                "name": unbilingual(t, "name"),
                "ng": t.taught_by_ng,
                "fastai": t.taught_by_fastai,
                "units": [u.slug for u in t.units.all()],
            }
            for t in Topic.objects.prefetch_related("units")
        ],
        "glossary.yaml": [
            {
                "slug": g.slug,
                "es": g.term_es,
                "en": g.term_en,
                "es_alternates": g.es_alternates,
                "en_alternates": g.en_alternates,
                "acronyms": g.acronyms,
                "definition": unbilingual(g, "definition"),
                "topics": [t.slug for t in g.topics.all()],
                "units": [u.slug for u in g.units.all()],
            }
            for g in GlossaryTerm.objects.order_by("order").prefetch_related("topics", "units")
        ],
        "study.yaml": _export_study(),
    }
    for programme in Programme.objects.all():
        documents[f"programme_{programme.slug}.yaml"] = _export_programme(programme)
    written = []
    for name, data in documents.items():
        path = directory / name
        with path.open("w", encoding="utf-8") as handle:
            yaml.safe_dump(data, handle, allow_unicode=True, sort_keys=False, width=100)
        written.append(path)
    return written


def _export_cross_reference(ref: CrossReference) -> dict:
    entry = {
        "ng": ref.ng_unit.slug,
        "fastai": ref.fastai_unit.slug,
        "topic": unbilingual(ref, "topic"),
        "relation": ref.relation,
    }
    if ref.erratum_en or ref.erratum_es:
        entry["erratum"] = unbilingual(ref, "erratum")
    return entry


def _export_moocs() -> dict:
    moocs = []
    for m in Mooc.objects.prefetch_related("libraries"):
        hours = None
        if m.hours_per_week_min is not None or m.hours_per_week_max is not None:
            hours = [m.hours_per_week_min, m.hours_per_week_max]
        monthly = m.monthly_price_eur
        if monthly is not None:
            monthly = int(monthly) if monthly == int(monthly) else float(monthly)
        entry = {
            "slug": m.slug,
            "name": m.name,
            "name_es": m.name_es,
            "platform": m.platform,
            "provider": unbilingual(m, "provider"),
            "instructors": m.instructors,
            "requirements": unbilingual(m, "requirements"),
            "duration": unbilingual(m, "duration"),
            "duration_weeks": int(m.duration_weeks)
            if m.duration_weeks == int(m.duration_weeks)
            else m.duration_weeks,
            "hours_per_week": hours,
            "libraries": [lib.slug for lib in m.libraries.all()],
            **(
                {"main_libraries": [lib.slug for lib in m.main_libraries.all()]}
                if m.main_libraries.exists()
                else {}
            ),
            "price": {
                "free": m.is_free,
                "monthly_eur": monthly,
                "certificate_paid": m.certificate_paid,
                "note": unbilingual(m, "price_note"),
            },
            "certificate": m.certificate,
            "content_areas": unbilingual(m, "content_areas"),
            "url": m.url,
            "summary": unbilingual(m, "summary"),
        }
        if m.status != Mooc.CURRENT or m.status_checked:
            entry["status"] = {
                "state": m.status,
                "successor_name": m.successor_name,
                "successor_url": m.successor_url,
                "checked": m.status_checked,
            }
        programme = Programme.objects.filter(mooc=m).values_list("slug", flat=True).first()
        if programme:
            entry["programme"] = programme
        moocs.append(entry)
    return {
        "libraries": [{"slug": lib.slug, "name": lib.name} for lib in Library.objects.all()],
        "moocs": moocs,
    }


def _export_programme(p: Programme) -> dict:
    data = {
        "slug": p.slug,
        "name": unbilingual(p, "name"),
        "mooc": p.mooc.slug if p.mooc else None,
        "authors": p.authors,
        "year": p.year,
        "summary": unbilingual(p, "summary"),
        "approach": unbilingual(p, "approach"),
    }
    parts = [
        {
            "number": part.number,
            "title": unbilingual(part, "title"),
            "summary": unbilingual(part, "summary"),
        }
        for part in p.parts.all()
    ]
    if parts:
        data["parts"] = parts
    data["units"] = [
        {
            "slug": u.slug,
            "number": u.number,
            "part": u.part,
            "title": {"en": u.title, "es": u.title_es},
            "duration_weeks": u.duration_weeks,
            "summary": unbilingual(u, "summary"),
            "advice": unbilingual(u, "advice"),
            "reading": [{"title": r.title, "url": r.url or None} for r in u.readings.all()],
        }
        for u in p.units.prefetch_related("readings")
    ]
    return data


def _export_study() -> dict:
    return {
        "comparison": [
            {
                "slug": c.slug,
                "title": unbilingual(c, "title"),
                "ng": unbilingual(c, "ng"),
                "fastai": unbilingual(c, "fastai"),
            }
            for c in ProgrammeComparison.objects.all()
        ],
        "study_paths": [
            {
                "slug": path.slug,
                "suits": path.suits,
                "from_thesis": path.from_thesis,
                "title": unbilingual(path, "title"),
                "description": unbilingual(path, "description"),
                "steps": [
                    {"programme": s.programme.slug, "part": s.part, "note": unbilingual(s, "note")}
                    for s in path.steps.select_related("programme")
                ],
            }
            for path in StudyPath.objects.prefetch_related("steps")
        ],
        "library_comparison": [
            {
                "slug": s.slug,
                "stage": unbilingual(s, "stage"),
                "keras": unbilingual(s, "keras"),
                "fastai": unbilingual(s, "fastai"),
            }
            for s in PipelineStage.objects.all()
        ],
    }
