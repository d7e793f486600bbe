#!/usr/bin/env python3
"""Input pipeline vs model step, per library: which one bounds an epoch on this machine.

Per library (keras, fastai), in a fresh helper process each (TensorFlow and torch never share
one), at each image size (default 64 and 256 px), batch 32:

  pipeline  the project's own input code over N batches of the real ISIC images, no model:
            keras:  workers.training.keras_parts.ImageBatches (PIL decode + resize), read
                    1) in one thread (per-core rate) and 2) with a thread pool of the size the
                    backend gives it (min(4, cpu_count) threads, use_multiprocessing=False,
                    as keras_backend.train does); the augmentation layers
                    (keras_parts.augmentation_layers, which run inside the model, i.e. on the
                    GPU in a GPU run) timed separately on those batches;
            fastai: the train DataLoader from fastai_parts.build_dataloaders (on a CPU machine
                    num_workers=0, as data_workers() sets it there): decode + Resize
                    (item_tfms, CPU) and the batch transforms aug_transforms + Normalize
                    (after_batch, on the DataLoader's device: GPU in a GPU run) timed
                    separately inside the same iteration.
  model     forward + backward + optimizer step on in-memory random tensors of the same shape,
            all layers trainable (phase 2), for small-cnn and resnet50 (random init), built
            with the project's helpers (keras_parts.build_model without augmentation +
            ThesisAdam; fastai_parts.build_learner + its optimizer). The first step (graph
            tracing / allocation) is excluded.

Then it says which bound an epoch here (the smaller images/s) and estimates how many CPU decode
workers a GPU run would need, from an ASSUMED GPU training rate (--gpu-ips).

    .venv/bin/python bench/input_pipeline.py [--library keras|fastai|both] [--sizes 64,256]
        [--archs small-cnn,resnet50] [--batches 10] [--gpu-ips 900] [--json out.json]

See bench/README.md. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common
from common import PYTHON, REPO

ISIC_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "skin-cancer-isic-180"
BATCH = 32


def image_items(tmp: Path, n: int) -> tuple[list[str], list[tuple[str, int]], str]:
    """(classes, [(path, label)], source): n ISIC training images, a seeded mix of classes."""
    if ISIC_ROOT.is_dir():
        base = ISIC_ROOT / "Train"
        classes = sorted(p.name for p in base.iterdir() if p.is_dir())
        items = [
            (str(f), i)
            for i, c in enumerate(classes)
            for f in sorted((base / c).iterdir())
            if f.suffix.lower() in {".jpg", ".jpeg", ".png"}
        ]
        source = f"{ISIC_ROOT} (JPEG, 180x180)"
    else:
        sys.path.insert(0, str(REPO))
        from experiments.datasets.demo import write_digits

        write_digits(tmp / "digits")
        classes = [str(d) for d in range(10)]
        items = [(str(f), int(f.parent.name)) for f in sorted((tmp / "digits").rglob("*.png"))]
        source = "scikit-learn digits (PNG, 32x32)"
    random.Random(0).shuffle(items)
    while len(items) < n:
        items += items
    return classes, items[:n], source


def timed_steps(step, max_steps: int, budget_s: float, min_steps: int = 2) -> dict:
    """Run step() once to warm up, then until max_steps or the time budget (at least
    min_steps). Returns seconds per step over the measured ones."""
    t0 = time.perf_counter()
    step()
    warmup = time.perf_counter() - t0
    times = []
    start = time.perf_counter()
    while len(times) < max_steps and (
        len(times) < min_steps or time.perf_counter() - start < budget_s
    ):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    per_step = sum(times) / len(times)
    return {
        "warmup_s": warmup,
        "steps": len(times),
        "s_per_step": per_step,
        "ips": BATCH / per_step,
    }


# --------------------------------------------------------------------------- keras helper


def keras_main(args, classes, items) -> dict:
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    t0 = time.perf_counter()
    from workers.training.keras_backend import load_keras

    keras = load_keras("tensorflow")
    import numpy as np

    from workers.training import keras_parts as kp

    out = {"library": "keras", "import_s": time.perf_counter() - t0, "sizes": {}}
    threads = min(4, os.cpu_count() or 1)  # keras_backend.train's PyDataset workers
    n = args.batches
    for size in args.sizes:
        ds = kp.ImageBatches(items, size, BATCH, shuffle=True, seed=0, limit=n, workers=threads)
        ds[0]  # warm the file cache and PIL
        t = time.perf_counter()
        batches = [ds[i] for i in range(n)]
        one = time.perf_counter() - t
        t = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:  # what PyDataset's thread workers do
            list(pool.map(ds.__getitem__, range(n)))
        pooled = time.perf_counter() - t
        aug = keras.Sequential(kp.augmentation_layers(0))
        xs = [b[0] for b in batches]
        aug(xs[0], training=True)  # build + warm up
        t = time.perf_counter()
        for x in xs:
            keras.ops.convert_to_numpy(aug(x, training=True))
        augment = time.perf_counter() - t
        entry = {
            "decode_resize_1thread_ips": n * BATCH / one,
            "decode_resize_threads": threads,
            "decode_resize_pool_ips": n * BATCH / pooled,
            "augment_ips": n * BATCH / augment,
            # what an epoch's CPU input side costs here: decode in `threads` + aug in-model
            "pipeline_ips": 1 / (pooled / (n * BATCH) + augment / (n * BATCH)),
            "pipeline_gpu_side_excluded_ips": n * BATCH / pooled,
            "per_core_ips": n * BATCH / one,
            "models": {},
        }
        for arch in args.archs:
            model = kp.build_model(
                arch, size, len(classes), pretrained=False, augmentation=False,
                weight_decay=0.01, seed=0,
            )  # fmt: skip
            kp.set_phase(model, 2)
            model.compile(
                optimizer=kp.ThesisAdam(learning_rate=1e-4, beta_1=0.9, beta_2=0.999),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
                jit_compile=False,  # as keras_backend.compile_for
            )
            rng = np.random.default_rng(0)
            x = rng.uniform(0, 255, (BATCH, size, size, 3)).astype(np.float32)
            y = rng.integers(0, len(classes), BATCH).astype(np.int32)
            entry["models"][arch] = timed_steps(
                lambda m=model, x=x, y=y: m.train_on_batch(x, y),
                args.model_batches,
                args.model_seconds,
            )
            del model
            keras.backend.clear_session()
            print(f"  keras {size}px {arch}: {entry['models'][arch]['ips']:.1f} img/s", flush=True)
        out["sizes"][str(size)] = entry
        print(f"  keras {size}px pipeline: {entry['pipeline_ips']:.0f} img/s", flush=True)
    return out


# --------------------------------------------------------------------------- fastai helper


def fastai_main(args, classes, items, tmp: Path) -> dict:
    t0 = time.perf_counter()
    import torch

    from workers.training import fastai_parts as parts
    from workers.training.spec import JobSpec, SplitData

    torch.set_num_threads(max(1, os.cpu_count() or 1))  # as fastai_backend.train
    out = {"library": "fastai", "import_s": time.perf_counter() - t0, "sizes": {}}
    n = args.batches
    data = SplitData(
        classes=classes,
        train=[(Path(p), y) for p, y in items],
        valid=[(Path(p), y) for p, y in items[:BATCH]],
    )

    def spec_for(arch: str, size: int) -> JobSpec:
        return JobSpec(
            job_id=0, library="fastai", architecture=arch, image_size=size, batch_size=BATCH,
            augmentation=True, weight_decay=0.01, beta1=0.95, beta2=0.85, one_cycle=True,
            discriminative_lr=True, lr1=3e-3, lr2_low=5e-6, lr2_high=5e-4, epochs1=1,
            epochs2=1, pretrained=False, seed=0, max_batches=n, run_lr_finder=False,
        )  # fmt: skip

    for size in args.sizes:
        dls = parts.build_dataloaders(spec_for("small-cnn", size), data, tmp / "fastai")
        dl = dls.train
        original = dl.after_batch
        spent = {"after_batch": 0.0}

        def timed_after_batch(b, original=original, spent=spent):
            t = time.perf_counter()
            result = original(b)
            spent["after_batch"] += time.perf_counter() - t
            return result

        dl.after_batch = timed_after_batch
        for _ in dl:  # warm-up pass (first batch builds the pipeline's state)
            break
        spent["after_batch"] = 0.0
        t = time.perf_counter()
        count = sum(1 for _ in dl)
        total = time.perf_counter() - t
        images = count * BATCH
        items_s = total - spent["after_batch"]
        entry = {
            "batches": count,
            "decode_resize_collate_ips": images / items_s,  # item_tfms, main process, 1 core
            "batch_augment_ips": images / spent["after_batch"],  # aug_transforms + Normalize
            "pipeline_ips": images / total,
            "pipeline_gpu_side_excluded_ips": images / items_s,
            "per_core_ips": images / items_s,
            "num_workers": dl.num_workers,
            "models": {},
        }
        for arch in args.archs:
            learn = parts.build_learner(spec_for(arch, size), dls, tmp / "fastai")
            learn.unfreeze()
            learn.create_opt()
            learn.opt.set_hyper("lr", 1e-4)
            model = learn.model.train()
            gen = torch.Generator().manual_seed(0)
            x = torch.randn(BATCH, 3, size, size, generator=gen)
            y = torch.randint(0, len(classes), (BATCH,), generator=gen)

            def step(model=model, learn=learn, x=x, y=y):
                loss = learn.loss_func(model(x), y)
                loss.backward()
                learn.opt.step()
                learn.opt.zero_grad()

            entry["models"][arch] = timed_steps(step, args.model_batches, args.model_seconds)
            del learn, model
            print(f"  fastai {size}px {arch}: {entry['models'][arch]['ips']:.1f} img/s", flush=True)
        out["sizes"][str(size)] = entry
        print(f"  fastai {size}px pipeline: {entry['pipeline_ips']:.0f} img/s", flush=True)
    return out


# --------------------------------------------------------------------------- main


def helper(args) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="pipe-bench-"))
    sys.path.insert(0, str(REPO))
    classes, items, source = image_items(tmp, args.batches * BATCH)
    if args._lib == "keras":
        out = keras_main(args, classes, items)
    else:
        out = fastai_main(args, classes, items, tmp)
    out["source"] = source
    Path(args._out).write_text(json.dumps(out))
    return 0


def fmt(v, spec=".0f") -> str:
    return "-" if v is None else format(v, spec)


def report(results: list[dict], args) -> dict:
    print(
        f"\nbatch {BATCH}; pipeline over {args.batches} batches; model steps: 1 warm-up + up to "
        f"{args.model_batches} (>= 2) within {args.model_seconds:g} s; images/s"
    )
    header = (
        f"{'library':8}{'size':>6}  {'pipeline(CPU)':>13}{'per core':>9}{'aug only':>9}"
        f"  {'arch':10}{'model step':>11}  {'bound here':>13}"
    )
    print(header)
    print("-" * len(header))
    summary = []
    for r in results:
        for size, e in r["sizes"].items():
            aug = e.get("augment_ips", e.get("batch_augment_ips"))
            for arch, m in e["models"].items():
                pipe = e["pipeline_ips"]
                bound = "input" if pipe < m["ips"] else "model"
                bound_text = f"{bound} {min(pipe, m['ips']):.0f}"
                print(
                    f"{r['library']:8}{size:>6}  {fmt(pipe):>13}{fmt(e['per_core_ips']):>9}"
                    f"{fmt(aug):>9}  {arch:10}{fmt(m['ips'], '.1f'):>11}  "
                    f"{bound_text:>13}"
                )
                summary.append(
                    {
                        "library": r["library"],
                        "size": int(size),
                        "arch": arch,
                        "pipeline_ips": pipe,
                        "per_core_ips": e["per_core_ips"],
                        "augment_ips": aug,
                        "model_ips": m["ips"],
                        "bound": bound,
                    }
                )
    print(
        "pipeline(CPU) = everything the CPU does for the input here (keras: decode+resize in "
        "the backend's thread pool, then the augmentation layers; fastai: decode+Resize+collate "
        "in the main process, then aug_transforms+Normalize); per core = decode+resize only, one "
        "thread (the part that stays on the CPU in a GPU run); aug only = augmentation alone "
        "(on the GPU in a GPU run)."
    )
    print(
        f"\nGPU estimate (ASSUMPTION, not measured: a modern GPU trains resnet50 at 256 px, "
        f"batch 32, fp32/TF32 at ~{args.gpu_ips:.0f} img/s; pass --gpu-ips to change it):"
    )
    gpu = []
    for r in results:
        e = r["sizes"].get("256")
        if not e:
            continue
        per_core = e["per_core_ips"]
        need = math.ceil(args.gpu_ips / per_core)
        if r["library"] == "keras":
            threads = min(4, os.cpu_count() or 1)
            have = f"the backend gives ImageBatches min(4, cpu_count) = {threads} threads"
        else:
            have = (
                "fastai_parts.data_workers() gives min(8, cpu_count) = "
                f"{min(8, os.cpu_count() or 1)} DataLoader workers when CUDA is available"
            )
        cap = per_core * (
            min(8, os.cpu_count() or 1) if r["library"] == "fastai" else min(4, os.cpu_count() or 1)
        )
        print(
            f"  {r['library']}: decode+resize {per_core:.0f} img/s per core at 256 px -> needs "
            f"~{need} decode cores/workers for {args.gpu_ips:.0f} img/s; today {have}: at most "
            f"~{cap:.0f} img/s (ideal scaling), i.e. the GPU would be "
            f"~{min(1, cap / args.gpu_ips):.0%} busy"
        )
        gpu.append({"library": r["library"], "per_core_ips": per_core, "workers_needed": need})
    return {"rows": summary, "gpu_estimate": gpu}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library", choices=["keras", "fastai", "both"], default="both")
    ap.add_argument("--sizes", default="64,256")
    ap.add_argument("--archs", default="small-cnn,resnet50")
    ap.add_argument("--batches", type=int, default=10, help="pipeline batches (default 10)")
    ap.add_argument("--model-batches", type=int, default=5, help="max measured model steps")
    ap.add_argument("--model-seconds", type=float, default=6.0, help="time budget per model")
    ap.add_argument("--gpu-ips", type=float, default=900.0, help="ASSUMED GPU img/s (resnet50)")
    common.add_json_arg(ap)
    ap.add_argument("--_lib", help=argparse.SUPPRESS)
    ap.add_argument("--_out", help=argparse.SUPPRESS)
    common.add_smoke_arg(ap)
    args = ap.parse_args()
    if args.smoke:
        args.sizes, args.archs, args.batches = "64", "small-cnn", 2
        args.model_batches, args.model_seconds = 1, 1.0
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.archs = args.archs.split(",")
    if args._lib:
        return helper(args)

    started = time.monotonic()
    print(
        common.machine_line(
            os.cpu_count(), note=" (other processes, e.g. tests, share the CPUs: noisy)"
        )
    )
    libraries = ["keras", "fastai"] if args.library == "both" else [args.library]
    results = []
    with tempfile.TemporaryDirectory(prefix="pipe-bench-") as tmp:
        for lib in libraries:
            out = Path(tmp) / f"{lib}.json"
            cmd = [PYTHON, __file__, "--_lib", lib, "--_out", str(out)]
            cmd += ["--sizes", ",".join(map(str, args.sizes)), "--archs", ",".join(args.archs)]
            cmd += ["--batches", str(args.batches), "--model-batches", str(args.model_batches)]
            cmd += ["--model-seconds", str(args.model_seconds)]
            print(f"running {lib} ...", flush=True)
            proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            if proc.returncode != 0:
                print(f"{lib} helper failed (exit {proc.returncode})", file=sys.stderr)
                return 1
            results.append(json.loads(out.read_text()))
    print(f"images: {results[0]['source']}")
    summary = report(results, args)
    print(f"\ntotal bench time {time.monotonic() - started:.0f} s")
    if args.json:
        payload = {"settings": {k: v for k, v in vars(args).items() if not k.startswith("_")}}
        payload["settings"]["json"] = str(args.json)
        payload.update({"results": results, **summary})
        common.write_json(args.json, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
