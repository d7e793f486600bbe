from .datasets import Dataset, DatasetImage
from .jobs import EpochMetric, TrainingJob, WorkerHeartbeat

__all__ = ["Dataset", "DatasetImage", "EpochMetric", "TrainingJob", "WorkerHeartbeat"]
