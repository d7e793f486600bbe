from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class TrainingJob(models.Model):
    """One transfer-learning run of Keras or fastai, with every setting that produced it."""

    KERAS, FASTAI = "keras", "fastai"
    LIBRARIES = [(KERAS, "Keras"), (FASTAI, "fastai")]
    QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = (
        "queued",
        "running",
        "succeeded",
        "failed",
        "cancelled",
    )
    STATUSES = [
        (QUEUED, _("queued")),
        (RUNNING, _("running")),
        (SUCCEEDED, _("succeeded")),
        (FAILED, _("failed")),
        (CANCELLED, _("cancelled")),
    ]
    FINISHED = (SUCCEEDED, FAILED, CANCELLED)

    library = models.CharField(max_length=10, choices=LIBRARIES)
    architecture = models.CharField(max_length=30)
    dataset = models.ForeignKey(
        "experiments.Dataset", null=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    dataset_name = models.CharField(max_length=100, help_text="Kept if the dataset is deleted.")

    # Hyperparameters (thesis Table 4.1 presets in experiments.presets).
    image_size = models.PositiveSmallIntegerField()
    batch_size = models.PositiveSmallIntegerField()
    augmentation = models.BooleanField(default=True)
    weight_decay = models.FloatField()
    beta1 = models.FloatField()
    beta2 = models.FloatField()
    one_cycle = models.BooleanField()
    discriminative_lr = models.BooleanField()
    lr1 = models.FloatField(help_text="Phase 1 (body frozen) learning rate.")
    lr2_low = models.FloatField(help_text="Phase 2 rate of the first layers (or the only rate).")
    lr2_high = models.FloatField(help_text="Phase 2 rate of the head.")
    epochs1 = models.PositiveIntegerField()
    epochs2 = models.PositiveIntegerField()
    pretrained = models.BooleanField(default=True)
    seed = models.PositiveIntegerField(default=42)
    fair_mode = models.BooleanField(default=False, help_text="Keras: one-cycle + discriminative.")
    keras_backend = models.CharField(
        max_length=12,
        default="auto",
        blank=True,
        help_text="auto: TensorFlow if it sees a GPU, else torch if it does, else TensorFlow.",
    )
    run_lr_finder = models.BooleanField(
        default=True, help_text="Run the learning-rate range test before phase 1."
    )
    max_batches = models.PositiveIntegerField(
        null=True, blank=True, help_text="Cap batches per epoch (smoke tests, CPU trials)."
    )
    # Speed settings, applied alike to both libraries; the manifest records what applied.
    precision = models.CharField(
        max_length=12, default="auto", help_text="auto: bf16-mixed on a GPU, fp32 on the CPU."
    )
    channels_last = models.BooleanField(default=True, help_text="On a GPU only.")
    decode_cache = models.BooleanField(
        default=True, help_text="Decode and resize every image once per job."
    )
    compile = models.BooleanField(
        default=True, help_text="Compiled training steps (XLA / torch.compile), on a GPU only."
    )
    deterministic = models.BooleanField(
        default=False, help_text="Deterministic kernels: reproducible to the bit, slower."
    )

    status = models.CharField(max_length=10, choices=STATUSES, default=QUEUED, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who asked to cancel this job.",
    )
    cloned_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="clones",
        help_text="The run this one was cloned from (launched_by cloned it).",
    )
    idempotency_key = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        help_text="Sent by the launch form or API client: a retried launch returns this job "
        "(unique per user).",
    )
    idempotency_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text="SHA-256 of the launch request: the same key with another request is refused.",
    )
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="Last time its message reached the broker."
    )
    workdir = models.CharField(
        max_length=300, blank=True, help_text="Its own artifact folder, under MEDIA_ROOT."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker_host = models.CharField(max_length=200, blank=True)
    device = models.CharField(max_length=200, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    process_id = models.PositiveIntegerField(null=True, blank=True, help_text="The job's child.")
    attempt = models.PositiveSmallIntegerField(default=0)

    progress_phase = models.PositiveSmallIntegerField(default=0)
    progress_epoch = models.PositiveIntegerField(default=0, help_text="Epochs done, all phases.")
    eta_seconds = models.FloatField(null=True, blank=True)

    manifest = models.JSONField(default=dict, blank=True)
    lr_finder = models.JSONField(default=dict, blank=True)
    evaluation = models.JSONField(default=dict, blank=True)
    phase_seconds = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["library", "architecture", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["launched_by", "idempotency_key"], name="job_idempotency_key_per_user"
            )
        ]
        permissions = [
            ("launch_trainingjob", "Can launch, clone and reproduce training jobs"),
            ("cancel_trainingjob", "Can cancel training jobs"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.library} {self.architecture} on {self.dataset_name}"

    def get_absolute_url(self) -> str:
        return reverse("experiments:job_detail", args=[self.pk])

    @property
    def total_epochs(self) -> int:
        return self.epochs1 + self.epochs2

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class EpochMetric(models.Model):
    """What one epoch of one phase gave. Unique per (job, phase, epoch): a retry overwrites."""

    REPORTED_FIELDS = [
        "phase", "epoch", "train_loss", "valid_loss", "valid_accuracy", "learning_rate",
        "seconds", "images_per_second",
    ]  # fmt: skip

    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="metrics")
    phase = models.PositiveSmallIntegerField()
    epoch = models.PositiveIntegerField(help_text="1-based within the phase.")
    train_loss = models.FloatField(null=True)
    valid_loss = models.FloatField(null=True)
    valid_accuracy = models.FloatField(null=True)
    learning_rate = models.FloatField(null=True)
    seconds = models.FloatField()
    images_per_second = models.FloatField()
    recorded_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["job", "phase", "epoch"]
        constraints = [
            models.UniqueConstraint(fields=["job", "phase", "epoch"], name="unique_job_epoch")
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} phase {self.phase} epoch {self.epoch}"


class WorkerHeartbeat(models.Model):
    """What each worker reported last: queues, current job, GPU."""

    hostname = models.CharField(max_length=200, unique=True)
    queues = models.JSONField(default=list)
    gpu_name = models.CharField(max_length=200, blank=True)
    gpu_memory_mb = models.PositiveIntegerField(null=True, blank=True)
    job_slots = models.PositiveSmallIntegerField(default=1, help_text="Jobs it runs at once.")
    # the figures job_slots came from (workers.training.devices.plan_job_slots)
    job_slots_basis = models.JSONField(default=dict, blank=True)
    warning = models.CharField(max_length=300, blank=True)
    current_job = models.ForeignKey(
        TrainingJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_seen = models.DateTimeField()

    class Meta:
        ordering = ["hostname"]

    def __str__(self) -> str:
        return self.hostname

    def job_slots_reason(self) -> str:
        """Why this worker runs job_slots jobs at once, in the reader's language."""
        b = self.job_slots_basis or {}
        rule = b.get("rule")
        if rule == "no-gpu":
            return gettext("One job at a time: this worker sees no GPU.")
        if rule == "setting":
            text = gettext("Set by GPU_JOBS_PER_WORKER (or the worker's --concurrency).")
        elif rule in ("memory", "cores", "cap", "minimum"):
            if b.get("largest_peak") and not b.get("not_measured"):
                source = gettext(
                    "the largest measured peak, %(arch)s: %(peak)s MiB, plus a quarter"
                ) % {"arch": b["largest_peak"], "peak": b.get("largest_peak_mb")}
            elif b.get("largest_peak"):
                source = gettext("assumed for architectures not measured yet: %(archs)s") % {
                    "archs": ", ".join(b.get("not_measured") or [])
                }
            else:
                source = gettext("assumed: no job has recorded its GPU memory peak yet")
            text = gettext(
                "%(free)s MiB of free GPU memory / %(job)s MiB per job (%(source)s) fit "
                "%(by_memory)s; %(cores)s cores / %(per)s per job fit %(by_cores)s; the "
                "smaller of the two, at most %(max)s, at least 1."
            ) % {
                "free": b.get("free_mb"),
                "job": b.get("job_mb"),
                "source": source,
                "by_memory": b.get("by_memory"),
                "cores": b.get("cores"),
                "per": b.get("cores_per_job"),
                "by_cores": b.get("by_cores"),
                "max": b.get("max_jobs"),
            }
        else:
            return ""
        if b.get("memory_fraction"):
            text += " " + gettext("Each job may use %(percent)s%% of the GPU's memory.") % {
                "percent": round(100 * b["memory_fraction"], 1)
            }
        return text
