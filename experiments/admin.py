from django.contrib import admin

from experiments.models import Dataset, DatasetImage, EpochMetric, TrainingJob, WorkerHeartbeat
from experiments.validation import AsciiNumbersAdmin


@admin.register(Dataset)
class DatasetAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = ["name", "layout", "preset", "min_images_per_class", "created_at"]
    list_filter = ["layout", "preset"]
    search_fields = ["name", "root"]
    readonly_fields = ["manifest_hash", "classes", "report", "created_at"]


@admin.register(DatasetImage)
class DatasetImageAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = ["path", "dataset", "label", "split", "excluded_reason"]
    list_filter = ["dataset", "split", "excluded_reason"]
    search_fields = ["path", "label", "sha256"]
    list_select_related = ["dataset"]


class EpochMetricInline(AsciiNumbersAdmin, admin.TabularInline):
    model = EpochMetric
    extra = 0
    can_delete = False
    readonly_fields = EpochMetric.REPORTED_FIELDS


@admin.register(TrainingJob)
class TrainingJobAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = [
        "id",
        "library",
        "architecture",
        "dataset_name",
        "status",
        "seed",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "library", "architecture", "dataset_name"]
    search_fields = ["id", "architecture", "dataset_name", "error", "worker_host"]
    readonly_fields = [
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "task_id",
        "process_id",
        "attempt",
        "manifest",
        "evaluation",
        "lr_finder",
    ]
    inlines = [EpochMetricInline]
    list_select_related = ["launched_by"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(AsciiNumbersAdmin, admin.ModelAdmin):
    list_display = ["hostname", "queues", "gpu_name", "current_job", "last_seen"]
