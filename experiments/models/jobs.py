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

    library = models.CharField(max_length=10, choices=LIBRARIES, verbose_name=_("library"))
    architecture = models.CharField(max_length=30, verbose_name=_("architecture"))
    dataset = models.ForeignKey(
        "experiments.Dataset",
        null=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
        verbose_name=_("dataset"),
    )
    dataset_name = models.CharField(
        max_length=100,
        help_text=_("Kept if the dataset is deleted."),
        verbose_name=_("dataset name"),
    )

    # Hyperparameters (thesis Table 4.1 presets in experiments.jobs.presets).
    image_size = models.PositiveSmallIntegerField(verbose_name=_("image size"))
    batch_size = models.PositiveSmallIntegerField(verbose_name=_("batch size"))
    augmentation = models.BooleanField(default=True, verbose_name=_("augmentation"))
    weight_decay = models.FloatField(verbose_name=_("weight decay"))
    beta1 = models.FloatField(verbose_name=_("beta 1"))
    beta2 = models.FloatField(verbose_name=_("beta 2"))
    one_cycle = models.BooleanField(verbose_name=_("one cycle"))
    discriminative_lr = models.BooleanField(verbose_name=_("discriminative learning rates"))
    lr1 = models.FloatField(
        help_text=_("Phase 1 (body frozen) learning rate."), verbose_name=_("phase 1 learning rate")
    )
    lr2_low = models.FloatField(
        help_text=_("Phase 2 rate of the first layers (or the only rate)."),
        verbose_name=_("phase 2 lowest learning rate"),
    )
    lr2_high = models.FloatField(
        help_text=_("Phase 2 rate of the head."), verbose_name=_("phase 2 highest learning rate")
    )
    epochs1 = models.PositiveIntegerField(verbose_name=_("phase 1 epochs"))
    epochs2 = models.PositiveIntegerField(verbose_name=_("phase 2 epochs"))
    pretrained = models.BooleanField(default=True, verbose_name=_("pretrained"))
    seed = models.PositiveIntegerField(default=42, verbose_name=_("seed"))
    fair_mode = models.BooleanField(
        default=False,
        help_text=_("Keras: one-cycle + discriminative."),
        verbose_name=_("fair mode"),
    )
    keras_backend = models.CharField(
        max_length=12,
        default="auto",
        blank=True,
        help_text=_("auto: TensorFlow if it sees a GPU, else torch if it does, else TensorFlow."),
        verbose_name=_("keras backend"),
    )
    run_lr_finder = models.BooleanField(
        default=True,
        help_text=_("Run the learning-rate range test before phase 1."),
        verbose_name=_("run the LR finder"),
    )
    max_batches = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Cap batches per epoch (smoke tests, CPU trials)."),
        verbose_name=_("max batches"),
    )
    # Speed settings, applied alike to both libraries; the manifest records what applied.
    precision = models.CharField(
        max_length=12,
        default="auto",
        help_text=_("auto: bf16-mixed on a GPU, fp32 on the CPU."),
        verbose_name=_("precision"),
    )
    channels_last = models.BooleanField(
        default=True, help_text=_("On a GPU only."), verbose_name=_("channels last")
    )
    decode_cache = models.BooleanField(
        default=True,
        help_text=_("Decode and resize every image once per job."),
        verbose_name=_("decode cache"),
    )
    compile = models.BooleanField(
        default=True,
        help_text=_("Compiled training steps (XLA / torch.compile), on a GPU only."),
        verbose_name=_("compile"),
    )
    deterministic = models.BooleanField(
        default=False,
        help_text=_("Deterministic kernels: reproducible to the bit, slower."),
        verbose_name=_("deterministic"),
    )

    status = models.CharField(
        max_length=10, choices=STATUSES, default=QUEUED, db_index=True, verbose_name=_("status")
    )
    cancel_requested = models.BooleanField(default=False, verbose_name=_("cancel requested"))
    error = models.TextField(blank=True, verbose_name=_("error"))
    launched_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("launched by"),
    )
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Who asked to cancel this job."),
        verbose_name=_("cancelled by"),
    )
    cloned_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="clones",
        help_text=_("The run this one was cloned from (launched_by cloned it)."),
        verbose_name=_("cloned from"),
    )
    idempotency_key = models.CharField(
        max_length=64,
        null=True,
        blank=True,
        help_text=_(
            "Sent by the launch form or API client: a retried launch returns this job "
            "(unique per user)."
        ),
        verbose_name=_("idempotency key"),
    )
    idempotency_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text=_("SHA-256 of the launch request: the same key with another request is refused."),
        verbose_name=_("idempotency hash"),
    )
    dispatched_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text=_("Last time its message reached the broker."),
        verbose_name=_("dispatched at"),
    )
    workdir = models.CharField(
        max_length=300,
        blank=True,
        help_text=_("Its own artifact folder, under MEDIA_ROOT."),
        verbose_name=_("working folder"),
    )
    created_at = models.DateTimeField(
        auto_now_add=True, db_index=True, verbose_name=_("created at")
    )
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    heartbeat_at = models.DateTimeField(null=True, blank=True, verbose_name=_("heartbeat at"))
    worker_host = models.CharField(max_length=200, blank=True, verbose_name=_("worker host"))
    device = models.CharField(max_length=200, blank=True, verbose_name=_("device"))
    task_id = models.CharField(max_length=64, blank=True, verbose_name=_("task ID"))
    process_id = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("The job's child."), verbose_name=_("process ID")
    )
    attempt = models.PositiveSmallIntegerField(default=0, verbose_name=_("attempt"))

    progress_phase = models.PositiveSmallIntegerField(default=0, verbose_name=_("progress phase"))
    progress_epoch = models.PositiveIntegerField(
        default=0, help_text=_("Epochs done, all phases."), verbose_name=_("progress epoch")
    )
    eta_seconds = models.FloatField(null=True, blank=True, verbose_name=_("ETA (seconds)"))

    manifest = models.JSONField(default=dict, blank=True, verbose_name=_("manifest"))
    lr_finder = models.JSONField(default=dict, blank=True, verbose_name=_("LR finder"))
    evaluation = models.JSONField(default=dict, blank=True, verbose_name=_("evaluation"))
    phase_seconds = models.JSONField(default=dict, blank=True, verbose_name=_("phase seconds"))

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
        verbose_name = _("training job")
        verbose_name_plural = _("training jobs")

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

    job = models.ForeignKey(
        TrainingJob, on_delete=models.CASCADE, related_name="metrics", verbose_name=_("job")
    )
    phase = models.PositiveSmallIntegerField(verbose_name=_("phase"))
    epoch = models.PositiveIntegerField(
        help_text=_("1-based within the phase."), verbose_name=_("epoch")
    )
    train_loss = models.FloatField(null=True, verbose_name=_("training loss"))
    valid_loss = models.FloatField(null=True, verbose_name=_("validation loss"))
    valid_accuracy = models.FloatField(null=True, verbose_name=_("validation accuracy"))
    learning_rate = models.FloatField(null=True, verbose_name=_("learning rate"))
    seconds = models.FloatField(verbose_name=_("seconds"))
    images_per_second = models.FloatField(verbose_name=_("images per second"))
    recorded_at = models.DateTimeField(auto_now=True, verbose_name=_("recorded at"))

    class Meta:
        ordering = ["job", "phase", "epoch"]
        constraints = [
            models.UniqueConstraint(fields=["job", "phase", "epoch"], name="unique_job_epoch")
        ]
        verbose_name = _("epoch metric")
        verbose_name_plural = _("epoch metrics")

    def __str__(self) -> str:
        return f"job {self.job_id} phase {self.phase} epoch {self.epoch}"


class WorkerHeartbeat(models.Model):
    """What each worker reported last: queues, current job, GPU."""

    hostname = models.CharField(max_length=200, unique=True, verbose_name=_("hostname"))
    queues = models.JSONField(default=list, verbose_name=_("queues"))
    gpu_name = models.CharField(max_length=200, blank=True, verbose_name=_("GPU name"))
    gpu_memory_mb = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=_("GPU memory (MB)")
    )
    job_slots = models.PositiveSmallIntegerField(
        default=1, help_text=_("Jobs it runs at once."), verbose_name=_("job slots")
    )
    # the figures job_slots came from (workers.training.devices.plan_job_slots)
    job_slots_basis = models.JSONField(default=dict, blank=True, verbose_name=_("job slots basis"))
    warning = models.CharField(max_length=300, blank=True, verbose_name=_("warning"))
    current_job = models.ForeignKey(
        TrainingJob,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("current job"),
    )
    last_seen = models.DateTimeField(verbose_name=_("last seen"))

    class Meta:
        ordering = ["hostname"]
        verbose_name = _("worker heartbeat")
        verbose_name_plural = _("worker heartbeats")

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
