from .catalogue import Library, Mooc
from .glossary import GlossaryTerm
from .learners import GlossaryCard, UnitProgress
from .programmes import CrossReference, Programme, ProgrammePart, Reading, Unit
from .search import SearchDocument
from .study import PipelineStage, ProgrammeComparison, StudyPath, StudyStep
from .topics import Topic

__all__ = [
    "CrossReference",
    "GlossaryCard",
    "GlossaryTerm",
    "Library",
    "Mooc",
    "PipelineStage",
    "Programme",
    "ProgrammeComparison",
    "ProgrammePart",
    "Reading",
    "SearchDocument",
    "StudyPath",
    "StudyStep",
    "Topic",
    "Unit",
    "UnitProgress",
]
