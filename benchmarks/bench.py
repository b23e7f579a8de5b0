#!/usr/bin/env python
"""Benchmark: the harness costs nothing over the course recipe.

Plain Python, one process, same data and model for everything::

    python benchmarks/bench.py                 # the numbers to report (long: see README.md)
    python benchmarks/bench.py --quick         # 256 train pairs, 1 epoch: checks it works
    python benchmarks/bench.py --skip-pytest   # leave out the pytest wall times

a) examples/s of the HF course (chapter 3) recipe written inline here -- a stock
   ``transformers.Trainer`` and the manual PyTorch loop -- against the same work done
   through pytest-finetune's runners (``execute_run`` with runner trainer / loop);
b) dynamic padding: real vs padded tokens of the train split at the batch size, in the
   seeded random order and with transformers' ``LengthGroupedSampler``;
c) achieved training FLOP/s (6 x non-embedding parameters x real tokens / train time)
   against this machine's measured dense fp32 matmul FLOP/s;
d) wall time of the repo's fast and full pytest runs and how many models each trained.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import io
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # the checkout's pytest_finetune, and benchmarks.count_runs

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from torch.utils.data import DataLoader, RandomSampler  # noqa: E402
from transformers import (  # noqa: E402
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    get_scheduler,
    set_seed,
)
from transformers.trainer_pt_utils import LengthGroupedSampler  # noqa: E402

from pytest_finetune.mrpc.data import load_mrpc  # noqa: E402
from pytest_finetune.mrpc.metric import LOCAL_MODULE  # noqa: E402
from pytest_finetune.mrpc.modeling import pick_device, resolve_model  # noqa: E402
from pytest_finetune.mrpc.preprocessing import example_lengths, padded_tokens  # noqa: E402
from pytest_finetune.runs import RunConfig, execute_run, profile_config  # noqa: E402
from pytest_finetune.runs.prepare import EVAL_BATCH_SIZE  # noqa: E402
from benchmarks.fast_tier import FAST_TIER, run_pytest  # noqa: E402

QUICK = dict(train_limit=256, eval_limit=128, epochs=1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    default_data = os.environ.get("PYTEST_FINETUNE_MRPC_DIR") or str(REPO.parent / "shared" / "data" / "mrpc")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small slice (256 train / 128 eval pairs, 1 epoch), no `-m full` pytest run")
    parser.add_argument("--data", default=default_data,
                        help="MRPC folder (train.tsv, dev.tsv); default $PYTEST_FINETUNE_MRPC_DIR "
                             "or ../shared/data/mrpc from the repo root (%(default)s)")
    parser.add_argument("--skip-pytest", action="store_true", help="do not time the pytest runs (part d)")
    parser.add_argument("--only-pytest", action="store_true", help="run only part d (the pytest timings)")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each variant; the best counts (2)")
    parser.add_argument("--train-limit", type=int, default=None, help="override: first N train pairs")
    parser.add_argument("--epochs", type=int, default=None, help="override: epochs")
    return parser.parse_args(argv)


# --------------------------------------------------------------------------------------
# Machine facts and the hardware limit
# --------------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_facts(device: str) -> list[tuple[str, str]]:
    from importlib.metadata import version

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    facts = [
        ("cpu", cpu_model()),
        ("cores (os.cpu_count / usable)", f"{os.cpu_count()} / {usable}"),
        ("torch threads (intra / inter-op)", f"{torch.get_num_threads()} / {torch.get_num_interop_threads()}"),
        ("device", device + (f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else "")),
        ("python", platform.python_version()),
    ]
    for name in ("torch", "transformers", "accelerate", "datasets", "evaluate"):
        facts.append((name, version(name)))
    facts.append(("load average (1/5/15 min) at start", " / ".join(f"{x:.2f}" for x in os.getloadavg())))
    return facts


def matmul_flops(device: str, n: int = 2048, reps: int = 10, trials: int = 5) -> float:
    """Dense fp32 matmul FLOP/s: best of ``trials`` timings of ``reps`` n x n matmuls."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(device)
    b = torch.randn(n, n, generator=gen).to(device)
    c = torch.empty(n, n, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    torch.matmul(a, b, out=c)  # warm-up: thread pool, kernels
    sync()
    best = math.inf
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(reps):
            torch.matmul(a, b, out=c)
        sync()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 * reps / best


def non_embedding_params(model: torch.nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    embedding = sum(p.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding)
                    for p in m.parameters(recurse=False))
    return total - embedding, total


# --------------------------------------------------------------------------------------
# The HF course recipe, chapter 3, written inline (no pytest_finetune code in the timed part)
# --------------------------------------------------------------------------------------

@dataclass
class CourseData:
    checkpoint: str
    tokenizer: object
    train: object
    eval: object
    collator: object


def course_data(config: RunConfig) -> CourseData:
    # The course calls load_dataset("glue", "mrpc"); offline, the same splits come from the
    # local GLUE TSV folder through the package's loader (untimed either way).
    raw = load_mrpc(config.data)
    checkpoint = resolve_model(config.model)  # the embedded all-MiniLM-L6-v2 folder
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)

    def tokenize_function(example):
        return tokenizer(example["sentence1"], example["sentence2"], truncation=True)

    splits = {}
    for name in ("train", "validation"):
        ds = raw[name].map(tokenize_function, batched=True, keep_in_memory=True)
        ds = ds.remove_columns(["sentence1", "sentence2", "idx"]).rename_column("label", "labels")
        ds.set_format("torch")
        splits[name] = ds
    train, evaluation = splits["train"], splits["validation"]
    if config.train_limit:
        train = train.select(range(min(config.train_limit, len(train))))
    if config.eval_limit:
        evaluation = evaluation.select(range(min(config.eval_limit, len(evaluation))))
    return CourseData(checkpoint, tokenizer, train, evaluation, DataCollatorWithPadding(tokenizer=tokenizer))


def course_model(config: RunConfig, data: CourseData):
    set_seed(config.seed)  # the new classification head comes from the global RNG, as in the harness
    return AutoModelForSequenceClassification.from_pretrained(data.checkpoint, num_labels=2)


def course_metric():
    # The course: evaluate.load("glue", "mrpc") (a Hub script); offline: the same metric as a
    # local evaluate module, loaded the same way.
    import evaluate

    return evaluate.load(str(LOCAL_MODULE))


@dataclass
class Timing:
    variant: str  # "course Trainer", "harness trainer", ...
    examples_per_s: float
    train_time_s: float
    mean_loss: float
    accuracy: float
    padded_tokens: int | None = None  # tokens the model actually ran on (inline loop only)


def run_course_trainer(config: RunConfig, data: CourseData) -> Timing:
    model = course_model(config, data)

    def compute_metrics(eval_preds):
        metric = course_metric()
        logits, labels = eval_preds
        predictions = np.argmax(logits, axis=-1)
        return metric.compute(predictions=predictions, references=labels)

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-course-trainer-") as output_dir:
        training_args = TrainingArguments(
            output_dir,
            eval_strategy="epoch",
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            num_train_epochs=config.epochs,
            per_device_train_batch_size=config.batch_size,
            per_device_eval_batch_size=EVAL_BATCH_SIZE,
            learning_rate=config.lr,
            weight_decay=0.0,
            max_grad_norm=1.0,
            lr_scheduler_type="linear",
            optim="adamw_torch",  # torch.optim.AdamW, as the harness (stock default here: adamw_torch_fused)
            seed=config.seed,
        )
        trainer = Trainer(
            model,
            training_args,
            train_dataset=data.train,
            eval_dataset=data.eval,
            data_collator=data.collator,
            processing_class=data.tokenizer,
            compute_metrics=compute_metrics,
        )
        output = trainer.train()
    elapsed = time.perf_counter() - start
    accuracy = [e["eval_accuracy"] for e in trainer.state.log_history if "eval_accuracy" in e][-1]
    return Timing("course Trainer (inline)", len(data.train) * config.epochs / elapsed, elapsed,
                  float(output.training_loss), float(accuracy))


def run_course_loop(config: RunConfig, data: CourseData) -> Timing:
    model = course_model(config, data)
    device = pick_device(config.device)

    start = time.perf_counter()
    # Shuffled like accelerate's seedable sampler (what the harness and Trainer use): a
    # generator reseeded with seed + epoch, so all four variants see the same batches.
    generator = torch.Generator()
    train_dataloader = DataLoader(data.train, batch_size=config.batch_size, collate_fn=data.collator,
                                  sampler=RandomSampler(data.train, generator=generator))
    eval_dataloader = DataLoader(data.eval, batch_size=EVAL_BATCH_SIZE, collate_fn=data.collator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=0.0)
    num_training_steps = config.epochs * len(train_dataloader)
    lr_scheduler = get_scheduler("linear", optimizer=optimizer, num_warmup_steps=0,
                                 num_training_steps=num_training_steps)
    model.to(device)
    loss_sum = torch.zeros((), device=device)
    padded = 0
    for epoch in range(config.epochs):
        generator.manual_seed(config.seed + epoch)
        model.train()
        for batch in train_dataloader:
            batch = {k: v.to(device) for k, v in batch.items()}
            padded += batch["input_ids"].numel()
            outputs = model(**batch)
            loss = outputs.loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            lr_scheduler.step()
            optimizer.zero_grad()
            loss_sum += loss.detach()
        metric = course_metric()
        model.eval()
        for batch in eval_dataloader:
            batch = {k: v.to(device) for k, v in batch.items()}
            with torch.no_grad():
                outputs = model(**batch)
            predictions = torch.argmax(outputs.logits, dim=-1)
            metric.add_batch(predictions=predictions, references=batch["labels"])
        scores = metric.compute()
    elapsed = time.perf_counter() - start
    return Timing("course loop (inline)", len(data.train) * config.epochs / elapsed, elapsed,
                  float(loss_sum) / num_training_steps, float(scores["accuracy"]), padded_tokens=padded)


def run_harness(config: RunConfig) -> Timing:
    result = execute_run(config)
    return Timing(f"harness {config.runner}", result.examples_per_s, result.train_time_s,
                  float(np.mean(result.losses)), float(result.accuracy))


def warm_up(config: RunConfig, data: CourseData) -> None:
    """Untimed: pay one-time costs (metric module import, thread pools, allocator) up front."""
    course_metric().compute(predictions=[0, 1], references=[0, 1])
    model = course_model(config, data)
    model.train()
    batch = data.collator([data.train[i] for i in range(min(len(data.train), config.batch_size))])
    model(**batch).loss.backward()
    with torch.no_grad():
        model.eval()
        model(**batch)


# --------------------------------------------------------------------------------------
# Padding
# --------------------------------------------------------------------------------------

def padding_stats(lengths: list[int], batch_size: int, epochs: int, seed: int) -> dict[str, int]:
    real = sum(lengths) * epochs
    random_padded = grouped_padded = 0
    for epoch in range(epochs):
        gen = torch.Generator().manual_seed(seed + epoch)
        random_padded += padded_tokens(lengths, torch.randperm(len(lengths), generator=gen).tolist(), batch_size)
        gen = torch.Generator().manual_seed(seed + epoch)
        grouped = list(LengthGroupedSampler(batch_size, lengths=lengths, generator=gen))
        grouped_padded += padded_tokens(lengths, grouped, batch_size)
    return dict(real=real, random=random_padded, grouped=grouped_padded,
                static=len(lengths) * max(lengths) * epochs)


# --------------------------------------------------------------------------------------
# pytest wall times
# --------------------------------------------------------------------------------------

# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------

def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    return "\n".join([line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def section(title: str) -> None:
    print(f"\n## {title}\n", flush=True)


def si(x: float, unit: str = "FLOP/s") -> str:
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if x >= factor:
            return f"{x / factor:.2f} {prefix}{unit}"
    return f"{x:.0f} {unit}"


def part_d(args: argparse.Namespace, data_dir: str) -> None:
    """Wall time of the fast tier, the slow tests and the full runs, and the models each trained."""
    section("d) pytest wall time and models trained")
    if args.skip_pytest:
        print("skipped (--skip-pytest)")
    else:
        rows = []
        for marker in (FAST_TIER, "slow", "full"):
            cmd = f'python -m pytest -m "{marker}" -q -p no:cacheprovider'
            if marker == "full" and args.quick:
                rows.append([cmd, "skipped (--quick)", "-", "-", "-", "-", "-"])
                continue
            print(f"  running {cmd} -p benchmarks.count_runs ...", flush=True)
            r = run_pytest(marker, data_dir, "-p", "benchmarks.count_runs")
            rows.append([cmd, f"{r['wall_s']:.1f} s", f"{r['cpu_s']:.1f} s",
                         str(r["models"]) if r["models"] is not None else "?",
                         str(r["distinct"]) if r["distinct"] is not None else "?",
                         str(r["rc"]), r["summary"]])
            if r["rc"] not in (0, 5) or r["models"] is None:
                print(f"  (exit {r['rc']}) output tail:\n{r['tail']}")
        print(table(["command (+ -p benchmarks.count_runs)", "wall time", "cpu time", "models trained",
                     "distinct configs", "exit", "pytest summary"], rows))


def quiet_libraries() -> None:
    """No progress bars or info logs from the libraries between the benchmark's lines."""
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()  # "Loading weights" bars
    warnings.filterwarnings("ignore", message=".*pin_memory.*")
    import datasets

    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()


def workload(args: argparse.Namespace, data_dir: str) -> tuple[RunConfig, dict]:
    """The full profile's settings with the command line's overrides, and those overrides."""
    overrides = dict(QUICK) if args.quick else {}
    if args.train_limit is not None:
        overrides["train_limit"] = args.train_limit
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    # The course's inline code shuffles at random, so the harness runs in random order here
    # too (the full profile groups by length; part b measures what that saves).
    base = profile_config("full", runner="trainer", data=data_dir, group_by_length=False, **overrides)
    return base, overrides


def print_machine(args: argparse.Namespace, device: str) -> None:
    print("# pytest-finetune benchmark" + ("  (--quick: a smoke check, not numbers to report)" if args.quick else ""))
    section("Machine")
    print(table(["fact", "value"], [[k, v] for k, v in machine_facts(device)]))
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"\nWARNING: load average {load:.2f} at start: other processes are using the CPU, "
              "so the timings below are noisy; take numbers to report on an idle machine.")


def print_workload(base: RunConfig, data: CourseData, overrides: dict) -> None:
    print(f"\nworkload: MRPC {len(data.train)} train / {len(data.eval)} eval pairs, {base.epochs} epoch(s), batch "
          f"{base.batch_size}, lr {base.lr:g}, weight_decay {base.weight_decay:g}, max_grad_norm "
          f"{base.max_grad_norm:g}, eval batch {EVAL_BATCH_SIZE} each epoch, seed {base.seed}; "
          f"model {data.checkpoint}; profile 'full' settings"
          + (f" with {overrides}" if overrides else ""))


def time_variants(args: argparse.Namespace, base: RunConfig, data: CourseData) -> dict[str, list[Timing]]:
    """Every variant ``args.repeats`` times, inline and harness alternating (ABBA)."""
    variants = {
        "trainer": (lambda: run_course_trainer(base, data), lambda: run_harness(base.replace(runner="trainer"))),
        "loop": (lambda: run_course_loop(base, data), lambda: run_harness(base.replace(runner="loop"))),
    }
    timings: dict[str, list[Timing]] = {}
    for repeat in range(args.repeats):
        for runner, (inline, harness) in variants.items():
            order = [("inline", inline), ("harness", harness)]
            if repeat % 2:
                order.reverse()  # ABBA: drift in machine load hits both sides alike
            for side, fn in order:
                gc.collect()
                # Trainer's PrinterCallback prints every log dict when tqdm is off (the
                # harness logs every step): kept out of the table, for both sides alike.
                with contextlib.redirect_stdout(io.StringIO()):
                    t = fn()
                timings.setdefault(f"{runner}/{side}", []).append(t)
                print(f"  repeat {repeat + 1}: {t.variant:<24} {t.examples_per_s:8.2f} ex/s  "
                      f"train {t.train_time_s:8.1f} s  mean loss {t.mean_loss:.4f}  acc {t.accuracy:.4f}",
                      flush=True)
    return timings


def part_a(args: argparse.Namespace, base: RunConfig, data: CourseData) -> dict[str, Timing]:
    """Course recipe inline vs the harness runners; returns the best run of each variant."""
    section(f"a) Course recipe inline vs pytest-finetune runners (best of {args.repeats}, alternating)")
    warm_up(base, data)
    timings = time_variants(args, base, data)
    best = {k: max(v, key=lambda t: t.examples_per_s) for k, v in timings.items()}
    rows = []
    for runner in ("trainer", "loop"):
        inline, harness = best[f"{runner}/inline"], best[f"{runner}/harness"]
        ratio = harness.examples_per_s / inline.examples_per_s
        spread = lambda k: (lambda xs: f"{min(xs):.2f}-{max(xs):.2f}")([t.examples_per_s for t in timings[k]])  # noqa: E731
        rows.append([runner, f"{inline.examples_per_s:.2f} ({spread(f'{runner}/inline')})",
                     f"{harness.examples_per_s:.2f} ({spread(f'{runner}/harness')})",
                     f"{ratio:.3f}", f"{(1 - ratio) * 100:+.1f} %",
                     f"{inline.mean_loss:.4f} / {harness.mean_loss:.4f}",
                     f"{inline.accuracy:.4f} / {harness.accuracy:.4f}"])
    print()
    print(table(["runner", "inline ex/s (range)", "harness ex/s (range)", "harness/inline",
                 "harness overhead", "mean loss inline / harness", "eval acc inline / harness"], rows))
    print("\nex/s = train examples x epochs / training time (per-epoch eval included), the same "
          "definition for both sides; overhead = 1 - ratio (negative: the harness was faster).")
    return best


def part_b(base: RunConfig, data: CourseData, best: dict[str, Timing]) -> dict[str, int]:
    """Real vs padded tokens of the train split; returns the counts part c needs."""
    section(f"b) Dynamic padding, train split ({len(data.train)} pairs x {base.epochs} epoch(s), batch {base.batch_size})")
    lengths = example_lengths(data.train)
    pad = padding_stats(lengths, base.batch_size, base.epochs, base.seed)
    frac = lambda padded: 1 - pad["real"] / padded  # noqa: E731
    print(table(["batching", "tokens run (padded)", "real tokens", "padding fraction", "vs random order"], [
        ["static: pad all to the longest pair", f"{pad['static']:,}", f"{pad['real']:,}",
         f"{frac(pad['static']) * 100:.1f} %", f"{(pad['static'] / pad['random'] - 1) * 100:+.1f} %"],
        ["dynamic, seeded random order (harness/Trainer)", f"{pad['random']:,}", f"{pad['real']:,}",
         f"{frac(pad['random']) * 100:.1f} %", "-"],
        ["dynamic, LengthGroupedSampler", f"{pad['grouped']:,}", f"{pad['real']:,}",
         f"{frac(pad['grouped']) * 100:.1f} %", f"{(pad['grouped'] / pad['random'] - 1) * 100:+.1f} %"],
    ]))
    print(f"\nlength-grouped batching saves {(1 - pad['grouped'] / pad['random']) * 100:.1f} % of the "
          f"tokens the random order runs (sequence lengths {min(lengths)}-{max(lengths)}, "
          f"mean {sum(lengths) / len(lengths):.1f}).")
    loop_padded = best["loop/inline"].padded_tokens
    if loop_padded is not None:
        print(f"check: the inline loop ran {loop_padded:,} padded train tokens "
              f"({'matches' if loop_padded == pad['random'] else 'DIFFERS from'} the seeded random order above).")
    return pad


def part_c(args: argparse.Namespace, base: RunConfig, data: CourseData, device: str,
           best: dict[str, Timing], pad: dict[str, int]) -> None:
    """Achieved training FLOP/s of each variant's best run against the measured matmul peak."""
    section("c) Achieved training FLOP/s vs dense fp32 matmul")
    peak = matmul_flops(device, reps=5 if args.quick else 10, trials=3 if args.quick else 5)
    probe = course_model(base, data)
    n_params, total_params = non_embedding_params(probe)
    del probe
    print(f"model: {n_params:,} non-embedding parameters ({total_params:,} in all); "
          f"measured peak: {si(peak)} (torch.matmul 2048x2048 fp32 on {device}, best of "
          f"{3 if args.quick else 5})\n")
    rows = []
    for key, t in best.items():
        useful = 6 * n_params * pad["real"] / t.train_time_s
        executed = 6 * n_params * pad["random"] / t.train_time_s
        rows.append([t.variant, f"{t.train_time_s:.1f} s", si(useful), f"{useful / peak * 100:.1f} %",
                     si(executed), f"{executed / peak * 100:.1f} %"])
    print(table(["variant (best run)", "train time", "achieved (real tokens)", "of peak",
                 "achieved (padded tokens)", "of peak"], rows))
    print("\nachieved = 6 x non-embedding params x tokens / train time; the per-epoch eval is in the "
          "train time but not in the FLOP count, and attention's own FLOPs are left out, so this is a "
          "lower bound of the work done.")


def print_load_at_end() -> None:
    print(f"\nload average (1/5/15 min) at end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_libraries()
    data_dir = str(Path(args.data).expanduser().resolve())
    base, overrides = workload(args, data_dir)
    device = pick_device(base.device)
    print_machine(args, device)
    if not args.only_pytest:
        data = course_data(base)
        print_workload(base, data, overrides)
        best = part_a(args, base, data)
        pad = part_b(base, data, best)
        part_c(args, base, data, device, best, pad)
    part_d(args, data_dir)
    print_load_at_end()
    return 0


if __name__ == "__main__":
    sys.exit(main())
