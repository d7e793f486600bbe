import socket

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from experiments.architectures import ARCHITECTURES, KERAS_BACKENDS, PRECISIONS
from experiments.jobs.actions import JobRejected, create_job, enqueue
from workers.supervisor import supervise


class Command(BaseCommand):
    help = (
        "Create a training job and run it in the foreground (same code path as a worker: "
        "a child process per job), or --queue it for the workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--library", required=True, choices=sorted(ARCHITECTURES))
        parser.add_argument("--arch", required=True, help="architecture, e.g. small-cnn, resnet50")
        parser.add_argument("--dataset", required=True, help="dataset name, e.g. demo or isic")
        parser.add_argument("--epochs", nargs=2, type=int, metavar=("PHASE1", "PHASE2"))
        parser.add_argument("--size", type=int, help="input image size (pixels)")
        parser.add_argument("--batch-size", type=int)
        parser.add_argument("--lr1", type=float)
        parser.add_argument("--lr2", nargs=2, type=float, metavar=("LOW", "HIGH"))
        parser.add_argument("--weight-decay", type=float)
        parser.add_argument("--seed", type=int)
        parser.add_argument("--max-batches", type=int, help="cap batches per epoch (CPU trials)")
        parser.add_argument("--no-augmentation", action="store_true")
        init = parser.add_mutually_exclusive_group()
        init.add_argument("--pretrained", action="store_true", default=None)
        init.add_argument("--random-init", action="store_true")
        parser.add_argument(
            "--fair-mode",
            action="store_true",
            help="Keras: one-cycle + discriminative rates, like fastai",
        )
        parser.add_argument(
            "--keras-backend",
            choices=KERAS_BACKENDS,
            help="auto (default): TensorFlow if it sees a GPU, else torch if it does",
        )
        parser.add_argument("--precision", choices=PRECISIONS, help="auto (default): bf16 on GPU")
        parser.add_argument("--no-channels-last", action="store_true")
        parser.add_argument("--no-decode-cache", action="store_true", help="decode every epoch")
        parser.add_argument("--no-compile", action="store_true", help="no XLA / torch.compile")
        parser.add_argument("--deterministic", action="store_true", help="reproducible kernels")
        parser.add_argument(
            "--no-lr-finder", action="store_true", help="skip the learning-rate range test"
        )
        parser.add_argument("--queue", action="store_true", help="send to the gpu queue instead")

    def handle(self, *args, **o):
        params = {
            "library": o["library"],
            "architecture": o["arch"],
            "dataset": o["dataset"],
            "image_size": o["size"],
            "batch_size": o["batch_size"],
            "lr1": o["lr1"],
            "weight_decay": o["weight_decay"],
            "seed": o["seed"],
            "max_batches": o["max_batches"],
            "keras_backend": o["keras_backend"],
            "precision": o["precision"],
        }
        for flag, field in (
            ("no_channels_last", "channels_last"),
            ("no_decode_cache", "decode_cache"),
            ("no_compile", "compile"),
        ):
            if o[flag]:
                params[field] = False
        if o["deterministic"]:
            params["deterministic"] = True
        if o["epochs"]:
            params["epochs1"], params["epochs2"] = o["epochs"]
        if o["lr2"]:
            params["lr2_low"], params["lr2_high"] = o["lr2"]
        if o["no_augmentation"]:
            params["augmentation"] = False
        if o["random_init"]:
            params["pretrained"] = False
        elif o["pretrained"]:
            params["pretrained"] = True
        if o["no_lr_finder"]:
            params["run_lr_finder"] = False
        if o["fair_mode"]:
            params["fair_mode"] = True
        try:
            job = create_job(params)
        except JobRejected as exc:
            lines = "\n".join(f"  {field}: {message}" for field, message in exc.errors.items())
            raise CommandError(f"Job refused, nothing was queued:\n{lines}") from exc
        if o["queue"]:
            enqueue(job)
            self.stdout.write(self.style.SUCCESS(f"Queued job #{job.pk} on the gpu queue."))
            return
        self.stdout.write(
            f"Job #{job.pk}: {job.library} {job.architecture} on {job.dataset_name}"
            f" ({job.epochs1}+{job.epochs2} epochs); log in media/jobs/{job.pk}-*/job.log"
        )
        bar = tqdm(total=job.total_epochs, unit="epoch", desc=f"job #{job.pk}")

        def tick(current):
            bar.update(current.progress_epoch - bar.n)
            eta = f"{current.eta_seconds:.0f}s" if current.eta_seconds else "?"
            bar.set_postfix(phase=current.progress_phase, eta=eta, status=current.status)

        try:
            outcome = supervise(
                job.pk, task_id="foreground", hostname=socket.gethostname(), on_tick=tick
            )
        finally:
            bar.close()
        job.refresh_from_db()
        if outcome == "succeeded":
            acc = job.evaluation.get("accuracy")
            self.stdout.write(
                self.style.SUCCESS(f"Job #{job.pk} succeeded: test accuracy {acc:.3f}")
            )
        else:
            raise CommandError(f"Job #{job.pk} {job.status}: {job.error}")
