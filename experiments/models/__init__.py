from .datasets import Dataset, DatasetImage, DatasetImport
from .figures import RunFigures, StudyFigures
from .jobs import EpochMetric, TrainingJob, WorkerHeartbeat
from .research import ImagePrediction, Prediction, Study, StudyJob

__all__ = [
    "Dataset",
    "DatasetImage",
    "DatasetImport",
    "EpochMetric",
    "ImagePrediction",
    "Prediction",
    "RunFigures",
    "Study",
    "StudyFigures",
    "StudyJob",
    "TrainingJob",
    "WorkerHeartbeat",
]
