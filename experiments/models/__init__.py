from .datasets import Dataset, DatasetImage
from .jobs import EpochMetric, TrainingJob, WorkerHeartbeat
from .research import DatasetImport, Prediction, Study, StudyJob

__all__ = [
    "Dataset",
    "DatasetImage",
    "DatasetImport",
    "EpochMetric",
    "Prediction",
    "Study",
    "StudyJob",
    "TrainingJob",
    "WorkerHeartbeat",
]
