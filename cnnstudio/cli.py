"""The ``cnnstudio`` command: the GUI with no arguments, headless subcommands otherwise.

Every subcommand exits 0 on success; bad input exits 2 with one line on stderr (no traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cnnstudio import __version__
from cnnstudio.core.config import (
    ACTIVATIONS,
    LR_SCHEDULES,
    OPTIMIZERS,
    PADDING_MODES,
    POOLING_TYPES,
    Experiment,
    ModelOptions,
    TrainOptions,
)
from cnnstudio.core.data.datasets import BUILTIN_NAMES
from cnnstudio.core.errors import CnnStudioError, has_controls, one_line, plural, printable, shown_epochs
from cnnstudio.core.logs import debug_enabled, native_sink, setup_logging
from cnnstudio.core.network.architectures import PRESET_ARCHITECTURES, default_learning_rate
from cnnstudio.core.paths import user_path
from cnnstudio.stop_signals import end_like_ctrl_c, ending_at_once, stop_requested

log = logging.getLogger("cnnstudio.cli")

EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 1
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a pipeline writer stopped by its reader
NAME_MAX_BYTES = 255  # of one file name, on the usual file systems (ext4, APFS, NTFS)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message}\n")


# Training images of the built-in datasets (digits: 80% of 1,797), for the time estimate before loading.
TRAIN_IMAGES = {"digits": 1438, "mnist": 60_000, "fashion_mnist": 60_000, "cifar10": 50_000}
DEFAULT_VALIDATION_SPLIT = 0.1
MAX_DIGITS = 30  # a whole-number option longer than this is refused as too large before it is read


def _arch_argument(value: str) -> str:
    """``--arch``: a preset's name, or a design file (checked when the command runs)."""
    name = value.strip().lower().replace("-", "_")
    if name in PRESET_ARCHITECTURES:
        return name
    value = _input_path(value)
    if value.lower().endswith(".json") or os.sep in value or "/" in value or _is_file(value):
        return value
    raise argparse.ArgumentTypeError(f"invalid choice: {printable(repr(value), 60)} (choose from "
                                     f"{', '.join(PRESET_ARCHITECTURES)}, or a design file NAME.cnn.json)")


def _input_path(text: str) -> str:
    """A file to read, its leading ``~`` or ``~user`` expanded (as a shell would have, had it not been quoted)."""
    if not text.startswith("~"):
        return text
    try:
        return str(user_path(text))
    except CnnStudioError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _is_file(value: str) -> bool:
    """Whether ``value`` names a file; a name the system cannot even look up (too long, say) does not."""
    try:
        return Path(value).is_file()
    except (OSError, ValueError):
        return False


def _design_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--arch", type=_arch_argument, metavar="NAME|FILE.cnn.json",
                        help=f"a preset ({', '.join(PRESET_ARCHITECTURES)}; default lenet5) or a design file")
    parser.add_argument("--layers", metavar="TEXT",
                        help="a design written inline, e.g. \"pad 2, conv 6 5, pool 2, conv 16 5, pool 2, flatten, "
                        "dense 120, dense 84\" (the output layer is added)")


def _model_arguments(parser: argparse.ArgumentParser) -> None:
    _design_arguments(parser)
    # None when not given, so that train --resume can tell "not asked" from a default (it refuses any of these)
    parser.add_argument("--pooling", type=str.lower, choices=POOLING_TYPES, help="pooling type (default: max)")
    parser.add_argument("--padding", help="valid | same | N (a zero border of N pixels) (default: valid)")
    parser.add_argument("--pool-size", type=_whole_number, help="pooling window (default: the architecture's)")
    parser.add_argument("--pool-stride", type=_whole_number, help="pooling stride (default: the architecture's)")
    parser.add_argument("--activation", choices=ACTIVATIONS,
                        help="activation of the convolutions and hidden dense layers (default: relu)")
    parser.add_argument("--dropout", type=_number, help="dropout rate of the dense layers (default: the architecture's)")
    parser.add_argument("--batch-norm", action="store_true", help="batch normalization after each convolution")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cnnstudio", description="CNN Studio: learn and experiment with convolutional networks. "
                     "Without a command it opens the desktop application.")
    parser.add_argument("--version", action="version", version=f"cnnstudio {__version__}")
    parser.add_argument("--smoke-test", action="store_true",
                        help="open the window, train one epoch on digits, save, reopen, exit 0 (or 1 with the reason)")
    parser.add_argument("--report-startup", action="store_true", help=argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", parser_class=_Parser, metavar="COMMAND")

    summary = commands.add_parser("summary", help="per-layer shapes, parameters and MACs (no training)")
    _model_arguments(summary)
    summary.add_argument("--dataset", default="mnist", help="dataset name or path (sets image shape and classes)")
    summary.add_argument("--json", action="store_true", help="print one JSON object")
    summary.add_argument("--calibrate", action="store_true",
                         help="measure this machine's training speed first (a few seconds; loads TensorFlow) and "
                         "cache it for the time estimates")
    summary.add_argument("--save-design", metavar="FILE.cnn.json",
                         help="also save the network as an editable design file")

    train = commands.add_parser("train", help="train a network and report test accuracy")
    _model_arguments(train)
    train.add_argument("--dataset", help=f"{' | '.join(BUILTIN_NAMES)} | PATH "
                       "(default: mnist, downloaded once, or the built-in digits when it cannot be; with --resume "
                       "the dataset the model was trained on)")
    train.add_argument("--epochs", type=_whole_number, default=5, help="epochs to train (more epochs with --resume)")
    unset = " (default: %s; with --resume the model's latest setting)"
    train.add_argument("--batch-size", type=_whole_number, help="batch size" + unset % 64)
    train.add_argument("--optimizer", choices=OPTIMIZERS, help="optimizer" + unset % "adam")
    train.add_argument("--learning-rate", type=_number, help="learning rate" + unset % "0.002, AlexNet's 0.0001")
    train.add_argument("--lr-schedule", choices=LR_SCHEDULES, help="learning-rate schedule" + unset % "cosine")
    train.add_argument("--validation-split", type=_number, help="share of training images held out" + unset % 0.1)
    train.add_argument("--patience", type=_whole_number, help="early stopping patience in epochs, 0: off" + unset % 0)
    train.add_argument("--seed", type=_whole_number, help="random seed" + unset % 0)
    train.add_argument("--out", help="save the model here (.keras); it is also checkpointed after every epoch")
    train.add_argument("--resume", type=_input_path, metavar="MODEL",
                       help="continue training this saved model; its optimizer state carries on unless the optimizer, "
                       "learning rate or schedule change (a cosine schedule always starts anew)")
    _execution_arguments(train, workers=True)
    train.add_argument("--json", action="store_true", help="end with one JSON line of results on stdout")

    study = commands.add_parser("study", help="train one network per pooling × padding (× activation) choice, fairly")
    _design_arguments(study)
    study.add_argument("--pooling", default=",".join(POOLING_TYPES),
                       help=f"pooling types to compare, comma-separated, from {','.join(POOLING_TYPES)} "
                       "(default: all three)")
    study.add_argument("--padding", default=",".join(PADDING_MODES),
                       help=f"paddings to compare, comma-separated: {', '.join(PADDING_MODES)} or N (a zero border "
                       f"of N pixels) (default: {','.join(PADDING_MODES)})")
    study.add_argument("--activation", help=f"activations to compare too, comma-separated, from {','.join(ACTIVATIONS)}"
                       " (default: relu only)")
    study.add_argument("--dataset", help="dataset name or path (default: mnist, or the built-in digits when it "
                       "cannot be downloaded)")
    study.add_argument("--epochs", type=_whole_number, default=3, help="epochs per run (default: 3)")
    study.add_argument("--batch-size", type=_whole_number, default=64, help="batch size of every run (default: 64)")
    study.add_argument("--seed", type=_whole_number, default=0,
                       help="random seed, the same for every run so that they compare fairly (default: 0)")
    study.add_argument("--report", metavar="FILE.md", help="write a Markdown report (and a PNG of the curves beside it)")
    _execution_arguments(study)
    study.add_argument("--ray", type=_ray_argument, metavar="local|auto|ADDRESS",
                       help="run each study run as a Ray task: 'local' starts Ray on this machine, 'auto' joins "
                       "this machine's cluster, HOST:PORT or ray://HOST:PORT joins another (pip install -e "
                       "\".[cluster]\")")
    study.add_argument("--json", action="store_true", help="end with one JSON line: a list with one object per run")

    evaluate = commands.add_parser("evaluate", help="test a saved model on a dataset")
    evaluate.add_argument("model", type=_input_path, help="a model file saved by CNN Studio (.keras)")
    evaluate.add_argument("--dataset", help="dataset name or path (default: the one it was trained on)")
    evaluate.add_argument("--device", type=_device_argument, default="auto", metavar="cpu|gpu:N|auto",
                          help="where to evaluate (default: auto, the best single device; all-gpus: the first)")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")

    info = commands.add_parser("info", help="show what a saved model is and how it was trained")
    info.add_argument("model", type=_input_path, help="a model file saved by CNN Studio (.keras); TensorFlow is not loaded")
    info.add_argument("--json", action="store_true", help="print one JSON object")

    predict = commands.add_parser("predict", help="classify image files (digits are preprocessed like MNIST)")
    predict.add_argument("model", type=_input_path, help="a model file saved by CNN Studio (.keras)")
    predict.add_argument("images", type=_input_path, nargs="+", help="one or more image files (PNG, JPEG, BMP, ...)")
    predict.add_argument("--json", action="store_true", help="print one JSON list with one object per image")

    explain = commands.add_parser("explain", help="draw which pixels one prediction depends on (a heat map PNG)")
    explain.add_argument("model", type=_input_path, help="a model file saved by CNN Studio (.keras)")
    explain.add_argument("image", type=_input_path, help="the image file to explain")
    explain.add_argument("--method", choices=("gradcam", "saliency", "smoothgrad", "occlusion"), default="gradcam",
                         help="Grad-CAM, gradient saliency, SmoothGrad or occlusion (default: gradcam)")
    explain.add_argument("--class", dest="class_index", type=_whole_number, metavar="N",
                         help="the class to explain (default: the predicted one)")
    explain.add_argument("--layer", help="the convolution layer for gradcam (default: the last one)")
    explain.add_argument("--patch", type=_whole_number, default=4, help="occlusion patch size in pixels (default: 4)")
    explain.add_argument("--stride", type=_whole_number, default=2, help="occlusion stride in pixels (default: 2)")
    explain.add_argument("--fill", type=_number, metavar="PIXEL",
                         help="occlusion patch value, 0 (black) to 255 (white) (default: 127.5, mid-grey)")
    explain.add_argument("--samples", type=_whole_number, default=25, help="smoothgrad: noisy copies averaged (default: 25)")
    explain.add_argument("--noise", type=_number, default=0.15, metavar="FRACTION",
                         help="smoothgrad: noise standard deviation as a fraction of the pixel range (default: 0.15)")
    explain.add_argument("--out", required=True, metavar="HEAT.png", help="write the heat map over the image here")
    explain.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def _design(args: argparse.Namespace) -> Any:
    """The design that ``--layers`` or a design file in ``--arch`` gives, else None (a preset)."""
    from cnnstudio.core.network.design import load_design
    from cnnstudio.core.network.design_text import parse_layers

    if args.layers is not None and args.arch is not None:
        raise CnnStudioError("give --arch or --layers, not both")
    if args.layers is not None:
        return parse_layers(args.layers, name="custom")
    if args.arch is not None and args.arch not in PRESET_ARCHITECTURES:
        return load_design(args.arch)
    return None


def _model_options(args: argparse.Namespace) -> ModelOptions:
    design = _design(args)
    if design is not None:
        for flag, value in (("--pool-size", args.pool_size), ("--pool-stride", args.pool_stride)):
            if value is not None:
                raise CnnStudioError(f"{flag} applies to the presets only: each pooling layer of a design has its own "
                                     "window and stride (pool SIZE stride S)")
    given = {name: getattr(args, name) for name in ("pooling", "padding", "activation") if getattr(args, name) is not None}
    return ModelOptions(arch=args.arch if design is None and args.arch else "lenet5", pool_size=args.pool_size,
                        pool_stride=args.pool_stride, dropout=args.dropout, batch_norm=args.batch_norm, design=design,
                        **given)


NETWORK_FLAGS = ("arch", "layers", "pooling", "padding", "pool_size", "pool_stride", "activation", "dropout",
                 "batch_norm")  # what builds the network: --resume keeps the saved one


def _network_flags_given(args: argparse.Namespace) -> list[str]:
    """The network options given on the command line, as flags (``--pool-size``), in the order of --help."""
    return [f"--{name.replace('_', '-')}" for name in NETWORK_FLAGS if getattr(args, name) not in (None, False)]


def _cost(table: Any, train_images: int | None, measure: bool = False) -> Any:
    """The network's cost with this machine's cached calibration (measured first when asked); warns on stderr."""
    from cnnstudio.core.network.cost import cached_calibration, calibrate, network_cost

    if measure:
        _err("calibrating: timing a few training steps of two reference networks…")
        calibration, problem = calibrate()
    else:
        calibration, problem = cached_calibration()
    if problem:
        _err(f"warning: {printable(problem, 400)}")
    validation = round(train_images * DEFAULT_VALIDATION_SPLIT) if train_images else 0
    return network_cost(table, train_images - validation if train_images else None, validation, calibration)


def _print_json(value: Any) -> None:
    """One line of strict JSON: NaN and infinities (which JSON lacks) are written as null."""
    from cnnstudio.core.json_output import dumps

    print(dumps(value), flush=True)


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cmd_summary(args: argparse.Namespace) -> int:
    from cnnstudio.core.data.datasets import dataset_key, load_dataset
    from cnnstudio.core.network.shape_table import shape_table

    options = _model_options(args)
    target = _writable_target(args.save_design, "", "--save-design") if args.save_design is not None else None
    name = _dataset_argument(args.dataset)
    if dataset_key(name) in TRAIN_IMAGES:
        from cnnstudio.core.data.datasets import dataset_shape

        (input_shape, classes), train_images = dataset_shape(name), TRAIN_IMAGES[dataset_key(name)]
    else:
        dataset = load_dataset(name)
        input_shape, classes, train_images = dataset.input_shape, dataset.num_classes, len(dataset.x_train)
    table = shape_table(options, input_shape, classes)
    cost = _cost(table, train_images, measure=args.calibrate)
    if target is not None:
        _err(f"design saved: {printable(str(_save_design(options, input_shape, target)), 400)}")
    if args.json:
        _print_json({**table.to_json(), "cost": cost.to_json()})
    else:
        print(table.format())
        print(cost.format())
    return 0


def _save_design(options: ModelOptions, input_shape: tuple[int, int, int], target: Path) -> Path:
    from cnnstudio.core.network.design import save_design
    from cnnstudio.core.network.design_presets import preset_design

    return save_design(options.design or preset_design(options.arch, input_shape), target)


class _DownloadProgress:
    """Download progress on stderr: a carriage-return line on a terminal, a line per quarter otherwise."""

    def __init__(self, name: str) -> None:
        self.name, self.tty, self.last, self.shown = name, sys.stderr.isatty(), 0.0, -1

    def __call__(self, done: int, total: int | None) -> None:
        import time

        size = f"{done / 1e6:.1f} of {total / 1e6:.1f} MB" if total else f"{done / 1e6:.1f} MB"
        finished = total is not None and done >= total
        if self.tty:
            if finished or time.monotonic() - self.last >= 0.2:
                self.last = time.monotonic()
                sys.stderr.write(f"\rdownloading {self.name}: {size}" + ("\n" if finished else ""))
                sys.stderr.flush()
        elif total and (quarter := 4 * done // total) > self.shown:
            self.shown = quarter
            _err(f"downloading {self.name}: {size}")


def _load_dataset(given: str | None, default: str = "mnist") -> Any:
    """The dataset asked for; without one, MNIST (downloaded once), or the built-in digits when it cannot be."""
    from cnnstudio.core.data.datasets import load_dataset
    from cnnstudio.core.data.downloads import DownloadError

    name = given or default
    try:
        return load_dataset(name, progress=_DownloadProgress(name))
    except DownloadError as exc:
        if given:
            raise
        _err(f"{exc}; using the built-in digits instead")
        return load_dataset("digits")


class _StderrProgress:
    """Prints training progress on stderr: a line per epoch, a carriage-return line per update.

    With ``runs`` (a study whose runs overlap, on Ray), :meth:`on_run` says which run the next lines
    are about, and each line starts with its number ("run 2/6  epoch 1/3 …").

    With ``reclaim_signals`` (``--device workers``) every update puts the stop handlers back: TensorFlow
    takes SIGTERM for its preemption notices at some point after the strategy is made (once its first
    collective runs, not at a fixed moment), and a ``kill`` would then be swallowed for the whole run.
    """

    def __init__(self, runs: int | None = None, reclaim_signals: bool = False) -> None:
        self.tty, self.runs, self.run = sys.stderr.isatty(), runs, ""
        self.seen: dict[str, int] = {}  # epochs seen, per run
        self.reclaim_signals = reclaim_signals

    def on_run(self, index: int) -> None:
        if self.runs is not None:
            self.run = f"run {index + 1}/{self.runs}  "

    def on_batch(self, p) -> None:  # noqa: ANN001
        if self.reclaim_signals:
            end_like_ctrl_c()
        if self.tty:
            sys.stderr.write(f"\r{self.run}epoch {p.epoch + 1}/{p.epochs}  batch {p.step}/{p.steps}  "
                             f"loss {p.logs.get('loss', float('nan')):.4f}  acc {p.logs.get('accuracy', 0):.4f}  ")
            sys.stderr.flush()

    def on_epoch(self, r) -> None:  # noqa: ANN001
        if self.reclaim_signals:
            end_like_ctrl_c()
        metrics = "  ".join(f"{k} {v:.4f}" for k, v in r.metrics.items())
        sys.stderr.write(("\r" if self.tty else "") + f"{self.run}epoch {r.epoch + 1}/{r.epochs}  {r.seconds:.1f}s  "
                         f"{metrics}\n")
        seen = self.seen[self.run] = self.seen.get(self.run, 0) + 1
        remaining = r.epochs - r.epoch - 1
        # The first epoch includes compiling (often several times a later one), so the estimate waits for the
        # second; a run of two epochs gets none.
        if remaining > 0 and seen == 2 and not r.partial:
            sys.stderr.write(f"{self.run}estimated time for the remaining {plural(remaining, 'epoch')}: about "
                             f"{_duration(remaining * r.seconds)} at {r.seconds:.1f} s per epoch\n")
        sys.stderr.flush()


def _duration(seconds: float) -> str:
    """A rough duration for people: '40 s', '12 min', '3 h 05 min', '2 days 4 h'."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} days {hours} h"


@dataclasses.dataclass
class _TrainSoFar:
    """What ``train`` knows so far, for the ``--json`` object of a run interrupted at any point."""

    dataset: str | None = None
    experiment: Experiment | None = None
    out: Path | None = None
    started: float | None = None  # when training began (a checkpoint older than that is not this run's)
    helper: bool = False  # a worker other than the chief: it prints nothing on stdout


def cmd_train(args: argparse.Namespace) -> int:
    so_far = _TrainSoFar(dataset=args.dataset)
    try:
        return _train(args, so_far)
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM or SIGHUP: a script reading --json still learns what was kept
        if args.json and not so_far.helper:
            _print_json(_interrupted_summary(so_far))
        raise
    except Exception as exc:
        if args.device != "workers" or not _lost_worker(exc):
            raise
        log.warning("cnnstudio train: lost contact with another worker", exc_info=True)
        raise CnnStudioError("lost contact with another worker (it stopped, or the network between them failed), "
                             f"so this one stops too (TensorFlow's {type(exc).__name__}; its details are in the log)") from exc


def _lost_worker(exc: BaseException) -> bool:
    """Whether ``exc`` is TensorFlow saying another worker is gone (unavailable, aborted, or too slow to answer)."""
    errors = getattr(sys.modules.get("tensorflow"), "errors", None)
    kinds = tuple(kind for name in ("UnavailableError", "AbortedError", "DeadlineExceededError")
                  if isinstance(kind := getattr(errors, name, None), type))
    return bool(kinds) and isinstance(exc, kinds)


def _train(args: argparse.Namespace, so_far: _TrainSoFar) -> int:
    from cnnstudio.core.files.persistence import check_model_file

    # Everything that can be checked without TensorFlow is checked first (it takes seconds to load).
    given = _dataset_argument(args.dataset)
    record = None
    if args.resume:
        record = check_model_file(args.resume)
        if record is None:
            raise CnnStudioError(f"{args.resume}: no CNN Studio experiment inside, so it cannot be continued here")
    if record is not None and (full := record.room_problem(args.epochs)) is not None:
        raise CnnStudioError(f"{args.resume} cannot be continued: {full}")
    if record is not None and (flags := _network_flags_given(args)):
        raise CnnStudioError(f"--resume continues the saved network as it was built: {', '.join(flags)} cannot "
                             "change it (train a new network to try other options)")
    model_options = record.experiment.model if record else _model_options(args)
    options = _train_options(args, record.experiment.train if record else None, model_options.preset)
    helper = _helper_worker(args)  # with --device workers, any worker but the chief (worker 0)
    out = _writable_target(args.out, ".keras", "--out") if args.out is not None and not helper else None
    so_far.out, so_far.helper = out, bool(helper)
    name = given or (record.experiment.dataset if record else None)
    if record is not None and given is None:
        name = _record_dataset(args.resume, record, "train --resume")
    history = _run_history() if not helper else None

    from cnnstudio.core.data.datasets import KNOWN_SHAPES, dataset_key, dataset_shape
    from cnnstudio.core.network.shape_table import shape_table

    if record is None and dataset_key(name or "mnist") in KNOWN_SHAPES:  # an impossible network costs no download
        from cnnstudio.core.training.memory import check_training_memory

        check_training_memory(shape_table(model_options, *dataset_shape(name or "mnist")), options.batch_size)
    execution = _execution(args)  # TensorFlow loads here
    from cnnstudio.core.experiments.runner import run_experiment
    from cnnstudio.core.files.persistence import load_model
    from cnnstudio.core.training.execution import model_policy

    model = None
    if record is not None:
        if dataset_key(name) in KNOWN_SHAPES:  # refuse before any download
            _refuse_other_shapes(args.resume, record.input_shape, len(record.class_names), name,
                                 *dataset_shape(name))
        model, record = load_model(args.resume)
    dataset = _load_dataset(name)
    name = name or dataset.name
    policy = model_policy(model) if model is not None else None  # a continued model keeps its precision
    if policy is not None and policy != execution.policy:
        _err(f"notice: a continued model keeps the precision it was built with ({policy}), not {execution.policy}")
    if record is not None:
        _refuse_other_shapes(args.resume, record.input_shape, len(record.class_names), name, dataset.input_shape,
                             dataset.num_classes)
        experiment = Experiment(record.experiment.model, options, name)
        doing = (f"continuing {printable(experiment.model.network_name, 120)} after "
                 f"{plural(shown_epochs(record.epochs_trained), 'epoch')}")
    else:
        experiment = Experiment(model_options, options, name)
        doing = f"training {printable(experiment.model.network_name, 120)}"
    _err(f"{printable(dataset.describe(), 400)}; {doing} ({experiment.model.pooling} pooling, "
         f"{experiment.model.padding} padding) for {plural(options.epochs, 'epoch')} ({options.optimizer}, learning rate "
         f"{options.learning_rate:g} {options.lr_schedule}) on {execution.describe(options.batch_size, policy)}")
    _print_notes(dataset)
    if record is None:
        _estimate(experiment, dataset)
    so_far.dataset, so_far.experiment = name, experiment
    if helper:  # it trains its share and saves only to a folder of its own, deleted after
        return _train_helper(experiment, dataset, execution, helper)
    so_far.started = time.time()
    progress = _StderrProgress(reclaim_signals=args.device == "workers")
    outcome = run_experiment(experiment, dataset, listener=progress, checkpoint=out, model=model, record=record,
                             history=history, execution=execution)
    for warning in outcome.warnings:
        _err(f"warning: {printable(warning, 400)}")
    if out is None and outcome.entry is None:
        _err("warning: the trained model was not kept anywhere (the run history could not record it): "
             "train again with --out FILE.keras to keep it")
    result = outcome.result
    if record is not None:
        _err("the optimizer's state carried on" if outcome.fresh_optimizer is None else
             f"a fresh optimizer trained these epochs ({outcome.fresh_optimizer})")
    if result.end.reason.early:
        _err(f"training ended early: {result.end.message}")
    tested = (f"test accuracy {result.test_accuracy:.4f}, test loss {result.test_loss:.4f}" if result.evaluated
              else "not evaluated on the test set")
    _err(tested + (f"; saved {out}" if out else ""))
    if args.json:
        _print_json({
            "test_accuracy": result.test_accuracy, "test_loss": result.test_loss, "evaluated": result.evaluated,
            "epochs": outcome.record.epochs_trained, "seconds_per_epoch": result.seconds_per_epoch,
            "epoch_ends": outcome.record.epoch_ends, "segments": [s.to_json() for s in outcome.record.segments],
            "params": int(outcome.model.count_params()), "history": outcome.record.history,
            "stop_reason": result.end.reason.value if result.end.reason.early else None,
            "stop_message": result.end.message if result.end.reason.early else None, "kept_epoch": result.kept_epoch,
            "model": _kept_model(out, outcome),
            "dataset": name, "experiment": experiment.to_dict(), "device": outcome.device,
        })
    return 0


def _interrupted_summary(so_far: _TrainSoFar) -> dict[str, Any]:
    """``train --json``'s object for an interrupted run: what ``--out`` holds if this run checkpointed it."""
    from cnnstudio.core.files.persistence import read_record

    kept, out = None, so_far.out
    with contextlib.suppress(Exception):  # no checkpoint yet, or one that cannot be read: nothing kept
        if out is not None and so_far.started is not None and out.stat().st_mtime >= so_far.started:
            kept = read_record(out)
    when = ("after the checkpoint of its last finished epoch" if kept else
            "before training began: nothing was kept" if so_far.started is None else
            "before any epoch was checkpointed" if out is not None else "without --out: nothing was kept")
    return {"test_accuracy": None, "test_loss": None, "evaluated": False,
            "epochs": kept.epochs_trained if kept else None, "stop_reason": "interrupted",
            "stop_message": f"interrupted (Ctrl-C or a signal) {when}", "model": str(out) if kept else None,
            "dataset": so_far.dataset, "experiment": so_far.experiment.to_dict() if so_far.experiment else None}


def _helper_worker(args: argparse.Namespace) -> str:
    """For ``--device workers`` on a worker other than the chief, "worker I of N"; else "" (TF_CONFIG, no TensorFlow)."""
    if args.device != "workers":
        return ""
    from cnnstudio.core.training.workers import worker_cluster

    if args.resume:
        raise CnnStudioError("--resume cannot continue a model over several workers: train a new one with "
                             "--device workers, or continue it on one machine")
    cluster = worker_cluster()
    return "" if cluster.chief else f"worker {cluster.index} of {len(cluster.workers)}"


def _train_helper(experiment: Experiment, dataset: Any, execution: Any, helper: str) -> int:
    """Train as a worker other than the chief: the same run, its checkpoints in a temporary folder, nothing kept."""
    import tempfile

    from cnnstudio.core.experiments.runner import run_experiment

    with tempfile.TemporaryDirectory(prefix="cnnstudio-worker-") as folder:
        outcome = run_experiment(experiment, dataset, listener=_StderrProgress(reclaim_signals=True),
                                 checkpoint=Path(folder) / "worker.keras", execution=execution)
    result = outcome.result
    tested = f"test accuracy {result.test_accuracy:.4f}" if result.evaluated else "not evaluated"
    _err(f"{helper} done ({tested}): worker 0, the chief, keeps the model, the run record and --json")
    return 0


def _estimate(experiment: Experiment, dataset: Any) -> None:
    """The time per epoch the cost model expects (a warning past 10 minutes), on stderr."""
    from cnnstudio.core.network.cost import cached_calibration, duration, network_cost
    from cnnstudio.core.network.shape_table import shape_table
    from cnnstudio.core.training.trainer import validation_count

    table = shape_table(experiment.model, dataset.input_shape, dataset.num_classes)
    validation = validation_count(len(dataset.x_train), experiment.train.validation_split)
    calibration, _ = cached_calibration()
    cost = network_cost(table, len(dataset.x_train) - validation, validation, calibration)
    if cost.warning:
        _err(f"warning: {cost.warning}")
    elif cost.calibrated and cost.seconds_per_epoch is not None:
        _err(f"estimated time per epoch: about {duration(cost.seconds_per_epoch)} ({table.params:,} parameters, "
             f"{table.macs:,} MACs per image)")


def _record_dataset(path: str, record: Any, command: str) -> str:
    """The dataset a model's record names, when it is a built-in name; a path there is never read unasked."""
    from cnnstudio.core.data.datasets import BUILTIN_NAMES, dataset_key

    name = record.experiment.dataset
    if dataset_key(name) in BUILTIN_NAMES:
        return name
    raise CnnStudioError(f"{Path(path).name} was trained on {printable(name)!r}, a path named inside the file, "
                         f"which is not read unless you ask: pass --dataset to {command} (that path or another)")


def _print_notes(dataset: Any) -> None:
    """What loading did to the data (labels converted, pixels rescaled), one line each."""
    for note in dataset.notes:
        _err(f"note: {printable(note, 400)}")


def _run_history() -> Any:
    """The run history, or None (with a warning) when its folder cannot be written: training goes on."""
    from cnnstudio.core.experiments.run_history import RunHistory

    history = RunHistory()
    if problem := history.check_writable():
        _err(f"warning: {printable(problem, 400)}; training goes on without recording in the run history")
        return None
    return history


def _kept_model(out: Path | None, outcome: Any) -> str | None:
    """Where the trained model is: ``--out``, else the copy the run history keeps."""
    if out is not None:
        return str(out)
    return outcome.entry.model_path if outcome.entry is not None else None


def _ray_argument(text: str) -> str:
    """``--ray``: local, auto, host:port or ray://host:port, checked at once (before Ray or TensorFlow loads)."""
    from cnnstudio.core.experiments.ray_study import ray_address_problem

    problem = ray_address_problem(text)
    if problem is not None:
        raise argparse.ArgumentTypeError(f"{printable(repr(text), 60)} is {problem}")
    return text.strip()


def _device_argument(text: str, workers: bool = False) -> str:
    """``--device``: checked at once, without TensorFlow (``workers`` with its TF_CONFIG, where it is offered)."""
    from cnnstudio.core.training.devices import parse_device
    from cnnstudio.core.training.workers import worker_cluster

    try:
        if parse_device(text, workers).kind == "workers" and (problem := worker_cluster().listen_problem()):
            raise ValueError(problem)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def _execution_arguments(parser: argparse.ArgumentParser, workers: bool = False) -> None:
    parser.add_argument("--device", type=(lambda text: _device_argument(text, True)) if workers else _device_argument,
                        default="auto", metavar="cpu|gpu:N|all-gpus|auto" + ("|workers" if workers else ""),
                        help="where to train: auto (the best single device, default), cpu, gpu:N, or all-gpus "
                        "(MirroredStrategy; --batch-size is then per GPU); a GPU that is not there falls back to "
                        "the CPU with a notice" + ("; workers: one model over several machines "
                        "(MultiWorkerMirroredStrategy, the cluster in TF_CONFIG; the same command on each, worker 0 "
                        "keeps --out, the run history and --json)" if workers else ""))
    parser.add_argument("--mixed-precision", action="store_true",
                        help="train in float16 with a float32 output layer on GPUs of compute capability 7.0 or "
                        "newer, in bfloat16 on CPUs with bfloat16 instructions (AVX-512 BF16 or AMX); elsewhere "
                        "float32 with a notice")
    parser.add_argument("--xla", choices=("auto", "on", "off"), default="auto",
                        help="compile training with XLA: auto (Keras' choice: on GPUs), on or off")


def _execution(args: argparse.Namespace) -> Any:
    """The execution ``--device``, ``--mixed-precision`` and ``--xla`` ask for; each notice printed (TensorFlow loads)."""
    from cnnstudio.core.training.execution import plan_execution, start_workers
    from cnnstudio.core.training.gpu_check import prepare_gpus

    problems = prepare_gpus()  # before TensorFlow's first operation; why a GPU here is unusable, if one is
    xla = {"auto": None, "on": True, "off": False}[getattr(args, "xla", "auto")]
    try:
        execution = plan_execution(args.device, getattr(args, "mixed_precision", False), xla)
    except ValueError as exc:  # TF_CONFIG changed since --device was read
        raise CnnStudioError(f"--device {args.device}: {exc}") from exc
    if execution.plan.kind == "multiworker":  # the workers wait for each other, silently, for as long as it takes
        from cnnstudio.core.training.workers import worker_cluster

        cluster = worker_cluster()
        others = ", ".join(address for i, address in enumerate(cluster.workers) if i != cluster.index)
        _err(f"notice: worker {cluster.index} of {len(cluster.workers)}: waiting for the other workers to join "
             f"({printable(others, 300)}); start them now with the same command (Ctrl-C gives up)")
    # MultiWorkerMirroredStrategy: made now, before anything else runs on TensorFlow. It waits for the other
    # workers keeping Python's lock, so no handler could run meanwhile: a stop signal ends the process at once.
    with ending_at_once() if execution.plan.kind == "multiworker" else contextlib.nullcontext():
        start_workers(execution)
    for line in (*problems, *execution.notices):
        _err(f"notice: {printable(line, 400)}")
    return execution


def _train_options(args: argparse.Namespace, base: TrainOptions | None, arch: str | None = "lenet5") -> TrainOptions:
    """The training flags given; the others from ``base`` (a resumed model's latest settings) or the defaults.

    A new network's default learning rate is its architecture's (AlexNet's is 0.0001).
    """
    import dataclasses

    flags = {"batch_size": args.batch_size, "optimizer": args.optimizer, "learning_rate": args.learning_rate,
             "lr_schedule": args.lr_schedule, "validation_split": args.validation_split,
             "early_stopping_patience": args.patience, "seed": args.seed}
    given = {key: value for key, value in flags.items() if value is not None}
    given["epochs"] = args.epochs
    if base is not None:
        return dataclasses.replace(base, **given)
    return TrainOptions(**{"learning_rate": default_learning_rate(arch), **given})


def _refuse_other_shapes(path: str, takes: tuple[int, ...], outputs: int, name: str, shape: tuple[int, ...],
                         classes: int) -> None:
    """A resumed model trains only on images of its input shape with its number of classes."""
    takes = tuple(takes)
    if tuple(shape) != takes or classes != outputs:
        raise CnnStudioError(
            f"{Path(path).name} takes {'×'.join(map(str, takes))} images in {outputs} classes, but {printable(name)} has "
            f"{'×'.join(map(str, shape))} images in {classes} classes: choose a dataset like the one it was trained on")


def _writable_target(given: str, suffix: str, what: str) -> Path:
    """``given`` as an output path, checked before anything is computed: its folder exists and takes files.

    The check creates and removes a temporary file in the folder, so read-only, missing and pseudo
    folders (``/proc``, ``/sys``) are all found before the first epoch rather than after it.
    """
    import tempfile

    if not given.strip():
        raise CnnStudioError(f"{what}: no file name given")
    path = user_path(given)
    if suffix and (path.suffix if suffix == ".keras" else path.suffix.lower()) != suffix:  # Keras: ".keras" only
        raise CnnStudioError(f"{what} {printable(given)}: the file name must end in {suffix}")
    if len(os.fsencode(path.name)) > NAME_MAX_BYTES:
        raise CnnStudioError(f"{what} {printable(given, 80)}: the file name is longer than {NAME_MAX_BYTES} bytes")
    try:
        is_folder, folder_exists = path.is_dir(), path.parent.is_dir()
    except OSError as exc:  # e.g. a folder name too long to look up
        raise CnnStudioError(f"{what} {printable(given, 80)}: {exc.strerror or exc.__class__.__name__}") from exc
    if is_folder:
        raise CnnStudioError(f"{what} {printable(given)} is a folder: give a file name ending in {suffix or 'a suffix'}")
    folder = path.parent
    if not folder_exists:
        raise CnnStudioError(f"{what} {printable(given)}: the folder {printable(str(folder))} does not exist")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".cnnstudio-write-check-"):
            pass
    except OSError as exc:
        raise CnnStudioError(f"{what} {printable(given)}: cannot write in {printable(str(folder))} "
                             f"({exc.strerror or exc.__class__.__name__})") from exc
    return path


def _same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (through links too); False where either does not exist."""
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _dataset_argument(given: str | None) -> str | None:
    """A ``--dataset`` value; an empty one is refused rather than read as the current folder."""
    if given is not None and not given.strip():
        raise CnnStudioError("--dataset is empty: give a dataset name or a path")
    if given is not None and has_controls(given):  # refused now, not by the record once the model has trained
        raise CnnStudioError(f"--dataset {printable(repr(given), 120)}: the path has a control character (a tab, a "
                             "newline…) that a model's record cannot keep: rename the file or folder")
    return given


def _whole_number(text: str) -> int:
    """An integer option written with the digits 0-9 (Python's ``int`` also takes '١٢' and '1_000')."""
    if not re.fullmatch(r"\s*[+-]?[0-9]+\s*", text):
        raise argparse.ArgumentTypeError(f"{printable(repr(text), 40)} is not a whole number (use the digits 0-9)")
    digits = len(text.strip().lstrip("+-").lstrip("0"))
    if digits > MAX_DIGITS:  # no option goes near; int() would refuse past 4,300
        raise argparse.ArgumentTypeError(f"{printable(text.strip(), 24)} ({digits:,} digits) is too large")
    return int(text)


def _number(text: str) -> float:
    """A number option written in ASCII (Python's ``float`` also takes '١٢' and '1_0')."""
    if not text.isascii() or "_" in text:
        raise argparse.ArgumentTypeError(f"{printable(repr(text), 40)} is not a number (use the digits 0-9)")
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{printable(repr(text), 40)} is not a number") from None


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _study_size(grid: list[Experiment], epochs: int) -> str:
    """"3 runs of lenet5, 2 epochs each" (or "1 run of lenet5, 1 epoch")."""
    each = " each" if len(grid) > 1 else ""
    return f"{plural(len(grid), 'run')} of {grid[0].model.arch}, {plural(epochs, 'epoch')}{each}"


def cmd_study(args: argparse.Namespace) -> int:
    import dataclasses

    from cnnstudio.core.data.datasets import KNOWN_SHAPES, dataset_key, dataset_shape
    from cnnstudio.core.experiments.study import run_study, study_grid, study_rows
    from cnnstudio.core.network.shape_table import shape_table

    given = _dataset_argument(args.dataset)
    design = _design(args)
    model = ModelOptions(arch=args.arch or "lenet5") if design is None else ModelOptions(design=design)
    train = TrainOptions(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed,
                         learning_rate=default_learning_rate(model.preset))
    base = Experiment(model, train, given or "mnist")
    grid = study_grid(base, _split(args.pooling.lower()), _split(args.padding.lower()),
                      _split((args.activation or "").lower()) or None)  # any case, as train takes them
    if dataset_key(base.dataset) in KNOWN_SHAPES:  # every combination must make a network before any trains
        for experiment in grid:
            shape_table(experiment.model, *dataset_shape(base.dataset))
    report = _writable_target(args.report, ".md", "--report") if args.report is not None else None
    if report is not None:  # the curves go beside it: checked now too, not after the whole study
        from cnnstudio.core.experiments.report import curves_path

        _writable_target(str(curves_path(report)), ".png", "--report's curves")
    history = _run_history()
    progress = _StderrProgress(len(grid) if args.ray is not None else None)  # Ray's runs overlap: lines say whose

    def started(index: int, experiment: Experiment) -> None:
        m = experiment.model
        _err(f"run {index + 1}/{len(grid)}: {m.pooling} pooling, padding {m.padding}, {m.activation}")

    if args.ray is not None:
        entries = _study_on_ray(args, grid, history, progress, started)
    else:
        execution = _execution(args)
        dataset = _load_dataset(given)
        if not args.dataset and dataset.name != base.dataset:  # MNIST could not be downloaded: say what trained
            grid = [dataclasses.replace(experiment, dataset=dataset.name) for experiment in grid]
        _err(f"{dataset.describe()}; {_study_size(grid, args.epochs)}, seed {args.seed}, "
             f"on {execution.describe(args.batch_size)}")
        outcomes = run_study(grid, dataset, history=history, listener=progress, on_run_start=started,
                             execution=execution)
        for warning in dict.fromkeys(w for outcome in outcomes for w in outcome.warnings):
            _err(f"warning: {printable(warning, 400)}")
        from cnnstudio.core.experiments.runner import history_entry

        entries = [o.entry if o.entry is not None else history_entry(o, dataset, None, None) for o in outcomes]
    rows = study_rows(entries)
    timing = ("steady state: the first epoch's compile excluded" if args.epochs > 1
              else "one epoch: TensorFlow's compile included")
    for row in rows:
        _err(f"{row['label']:<40} test accuracy {row['test_accuracy']:.4f}  params {row['params']:>10,}  "
             f"{row['steady_seconds_per_epoch']:.2f} s/epoch ({timing})")
    if report is not None:
        from cnnstudio.core.experiments.report import write_report

        _err(f"report: {write_report(entries, report)}")
    if args.json:
        _print_json(rows)
    return 0


def _study_on_ray(args: argparse.Namespace, grid: list[Experiment], history: Any, progress: Any,
                  started: Any) -> list[Any]:
    """The study's runs as Ray tasks (each worker loads the dataset itself); failed runs are one line each."""
    import dataclasses

    from cnnstudio.core.experiments.ray_study import import_ray, run_study_on_ray

    if args.device != "auto" or args.mixed_precision or args.xla != "auto":
        raise CnnStudioError("--device, --mixed-precision and --xla apply to studies on this computer; with --ray "
                             "each run takes one GPU where the cluster has them")
    import_ray()  # without Ray: the install line, before anything starts
    from cnnstudio.core.files.model_record import is_dataset_path

    if is_dataset_path(grid[0].dataset):  # workers may run elsewhere than this folder: name the path fully
        where = str(Path(grid[0].dataset).resolve())
        grid = [dataclasses.replace(experiment, dataset=where) for experiment in grid]
    _err(f"{_study_size(grid, args.epochs)}, on Ray ({printable(args.ray, 100)}), seed {args.seed}, "
         f"dataset {printable(grid[0].dataset, 200)}")
    results = run_study_on_ray(grid, grid[0].dataset, address=args.ray, history=history, listener=progress,
                               on_run_start=started)
    for result in results:
        if result.error:
            _err(f"warning: {printable(result.error, 400)}")
    for warning in dict.fromkeys(w for result in results for w in result.warnings):  # a node's notice once
        _err(f"warning: {printable(warning, 400)}")
    entries = [r.entry or r.summary for r in results if r.summary is not None]
    if not entries:
        raise CnnStudioError("no run of the study finished on Ray")
    return entries


def cmd_evaluate(args: argparse.Namespace) -> int:
    import dataclasses

    from cnnstudio.core.files.persistence import check_model_file

    given = _dataset_argument(args.dataset)
    record = check_model_file(args.model)
    if given is None:
        if record is None:
            raise CnnStudioError(f"{args.model} does not say which dataset it was trained on: pass --dataset")
        given = _record_dataset(args.model, record, "evaluate")

    execution = _execution(args)  # TensorFlow loads here
    if execution.plan.kind == "mirrored":  # evaluation calls the model directly: one device is enough
        plan = execution.plan
        execution = dataclasses.replace(execution, plan=dataclasses.replace(
            plan, kind="gpu", devices=plan.devices[:1], descriptions=plan.descriptions[:1]))
    from cnnstudio.core.data.datasets import load_dataset
    from cnnstudio.core.files.persistence import load_model
    from cnnstudio.core.training.execution import model_policy, placed
    from cnnstudio.core.training.trainer import evaluate

    model, record = load_model(args.model)
    dataset = load_dataset(given, progress=_DownloadProgress(given))  # Keras' own progress would go to stdout
    takes, outputs = tuple(model.input_shape[1:]), int(model.output_shape[-1])
    if takes != tuple(dataset.input_shape) or outputs < dataset.num_classes:
        raise CnnStudioError(f"the model takes {'×'.join(map(str, takes))} images in {outputs} classes but "
                             f"{printable(given)} has {'×'.join(map(str, dataset.input_shape))} images in "
                             f"{dataset.num_classes} classes")
    _print_notes(dataset)
    with placed(execution):
        loss, accuracy = evaluate(model, dataset)
    precision = model_policy(model) or "float32"  # a mixed-precision model computes in its own precision
    if args.json:
        _print_json({"test_accuracy": accuracy, "test_loss": loss, "dataset": given, "images": len(dataset.x_test),
                     "precision": precision})
    else:
        print(f"{printable(given)}: test accuracy {accuracy:.4f}, test loss {loss:.4f} on {len(dataset.x_test):,} "
              "images" + ("" if precision == "float32" else f" (computed in {precision}, as the model was built)"))
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from cnnstudio.core.files.persistence import DamagedModelFile, NotAModelFile, RefusedModelFile, inspect_model_file

    try:  # the checks loading makes (nothing is deserialized or run): info never vouches for a refused file
        record, precision = inspect_model_file(args.model)
    except RefusedModelFile as exc:
        raise CnnStudioError(f"{args.model} would be refused: {exc.reason}") from exc
    except NotAModelFile as exc:  # a text file or an image named .keras: not "damaged"
        raise CnnStudioError(f"{args.model}: {exc.reason}") from exc
    except DamagedModelFile as exc:
        raise CnnStudioError(f"{args.model} is damaged: {exc.reason}") from exc
    if args.json:
        _print_json({**record.to_json(), "precision": precision} if record else
                    {"format": "keras", "experiment": None, "precision": precision})
        return 0
    if record is None:
        print(f"{printable(args.model)}: a Keras model without a CNN Studio experiment record ({precision})")
        return 0
    m, t = record.experiment.model, record.experiment.train
    print(f"{printable(args.model)}\n  {'architecture' if m.design is None else 'network'} {printable(m.network_name)}, "
          f"{m.pooling} pooling, padding {m.padding}, "
          f"activation {m.activation}")
    if m.design is not None:
        from cnnstudio.core.network.design_text import format_layers

        print(f"  design {printable(m.design.name)!r}: {printable(format_layers(m.design), 2000)}")
    print(f"  dataset {printable(record.experiment.dataset)}: {'×'.join(map(str, record.input_shape))} images, "
          f"{len(record.class_names)} classes")
    print(f"  trained {plural(shown_epochs(record.epochs_trained), 'epoch')} "
          f"(batch {t.batch_size}, {t.optimizer} lr {t.learning_rate:g}, "
          f"seed {t.seed}) in {precision}")
    print(f"  test accuracy {record.test_accuracy:.4f}, test loss {record.test_loss:.4f}" if record.evaluated
          else "  not evaluated on the test set (both test figures are needed)")
    return 0


def _preparation(record: Any) -> tuple[Any, ...] | None:
    """What a model's record says about preparing its input images (None without a record).

    ``predict`` and ``explain`` read the record before TensorFlow loads, to refuse a bad image early,
    and again with the model; the images are prepared again if the two reads disagree.
    """
    return None if record is None else (tuple(record.input_shape), record.digit_like)


def cmd_predict(args: argparse.Namespace) -> int:
    import numpy as np

    from cnnstudio.core.data.datasets import digit_like
    from cnnstudio.core.data.digit_preprocessing import image_for_model, open_image
    from cnnstudio.core.files.persistence import load_model, read_record

    def prepared(input_shape: tuple[int, int, int], digit_style: bool) -> np.ndarray:
        return np.stack([image_for_model(path, input_shape, digit_style) for path in args.images])

    for path in args.images:  # a missing or non-image file is reported before TensorFlow loads
        open_image(path)
    early = read_record(args.model)  # with a record, a blank image is refused before TensorFlow loads too
    batch = prepared(early.input_shape, early.digit_like) if early else None
    model, record = load_model(args.model)  # the model must agree with its record (input shape included)
    input_shape = tuple(model.input_shape[1:])
    names = record.class_names if record else [str(i) for i in range(model.output_shape[-1])]
    if batch is None or _preparation(record) != _preparation(early):  # the file changed in between
        batch = prepared(input_shape, record.digit_like if record else digit_like(input_shape, model.output_shape[-1]))
    probabilities = np.asarray(model(batch, training=False))
    results = []
    for path, probs in zip(args.images, probabilities):
        best = int(np.argmax(probs))
        results.append({"file": path, "label": names[best], "probabilities": [round(float(p), 6) for p in probs]})
    if args.json:
        _print_json(results)
    else:
        for r, probs in zip(results, probabilities):
            print(f"{printable(r['file'])}: {printable(r['label'])} ({float(np.max(probs)):.1%})")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    import numpy as np

    from cnnstudio.core.data.datasets import digit_like
    from cnnstudio.core.data.digit_preprocessing import image_for_model, open_image
    from cnnstudio.core.explain.attribution import MAX_SMOOTHGRAD_SAMPLES  # NumPy only: TensorFlow loads later

    out = _writable_target(args.out, ".png", "--out")
    if args.method != "gradcam" and args.layer is not None:
        raise CnnStudioError("--layer applies to --method gradcam only")
    for value, flag in ((args.patch, "--patch"), (args.stride, "--stride")):
        if value < 1:
            raise CnnStudioError(f"{flag} must be at least 1 pixel, not {value}")
    if args.class_index is not None and args.class_index < 0:
        raise CnnStudioError(f"--class must be 0 or more, not {args.class_index}")
    if not 1 <= args.samples <= MAX_SMOOTHGRAD_SAMPLES:
        raise CnnStudioError(f"--samples must be 1..{MAX_SMOOTHGRAD_SAMPLES}, not {args.samples}")
    if not 0.0 <= args.noise <= 1.0:  # also refuses nan
        raise CnnStudioError(f"--noise must be a fraction from 0 to 1, not {args.noise}")
    if args.fill is not None and not 0.0 <= args.fill <= 255.0:
        raise CnnStudioError(f"--fill must be a pixel value from 0 to 255, not {args.fill}")
    open_image(args.image)  # a missing or non-image file is reported before TensorFlow loads
    if _same_file(out, Path(args.image)):
        raise CnnStudioError(f"--out {printable(args.out)} is the image being explained: give another file name")
    from cnnstudio.core.files.persistence import load_model, read_record

    early = read_record(args.model)  # with a record, a blank image is refused before TensorFlow loads too
    image = image_for_model(args.image, early.input_shape, early.digit_like) if early else None

    from cnnstudio.core.explain.attribution import conv_layer_names, explain
    from cnnstudio.core.explain.heat_image import save_heat_png

    model, record = load_model(args.model)  # the model must agree with its record (input shape included)
    input_shape = tuple(model.input_shape[1:])
    classes = int(model.output_shape[-1])
    names = record.class_names if record else [str(i) for i in range(classes)]
    if args.class_index is not None and args.class_index >= classes:
        raise CnnStudioError(f"--class {args.class_index}: the model has classes 0..{classes - 1}")
    if args.method == "gradcam" and args.layer is not None and args.layer not in conv_layer_names(model):
        raise CnnStudioError(f"--layer {printable(args.layer)!r} is not a convolution layer of this model; choose one "
                             f"of: {', '.join(conv_layer_names(model)) or 'none (it has no convolutions)'}")
    if args.method == "occlusion":
        side = min(input_shape[:2])
        for value, flag in ((args.patch, "--patch"), (args.stride, "--stride")):
            if value > side:
                raise CnnStudioError(f"{flag} must be 1..{side} pixels for this model's "
                                     f"{input_shape[0]}×{input_shape[1]} images, not {value}")
    if image is None or _preparation(record) != _preparation(early):  # the file changed in between
        image = image_for_model(args.image, input_shape,
                                record.digit_like if record else digit_like(input_shape, classes))
    result = explain(model, image, args.method, args.class_index, args.layer, args.patch, args.stride,
                     samples=args.samples, noise=args.noise, fill=args.fill)
    assert result is not None  # nothing stops it here
    label = names[result.class_index]
    save_heat_png(out, image, result.heat,
                  f"{args.method}: class {result.class_index} ({label}, {result.class_probability:.1%})")
    _err(f"explained class {result.class_index} ({printable(label)}, {result.class_probability:.1%}) with "
         f"{args.method}: wrote {printable(str(out))}")
    if args.json:
        _print_json({"method": args.method, "class": result.class_index, "label": label,
                     "probability": result.class_probability, "score": result.score, "out": str(out),
                     "heat_min": float(np.min(result.heat)), "heat_max": float(np.max(result.heat))})
    return 0


COMMANDS = {"summary": cmd_summary, "train": cmd_train, "study": cmd_study, "evaluate": cmd_evaluate, "info": cmd_info,
            "predict": cmd_predict, "explain": cmd_explain}


def _tensorflow_environment() -> None:
    """TensorFlow settings that must be in place before it is imported, for the GUI and commands alike."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    from cnnstudio.core.training.cpu_kernels import prefer_onednn_kernels

    prefer_onednn_kernels()  # about twice as fast on AVX2 CPUs, where TensorFlow leaves it off


def _quiet_tensorflow() -> None:
    """Keep TensorFlow's native start-up chatter and library warnings out of a headless command's terminal.

    TensorFlow's C++ logging writes to file descriptor 2 before any setting can silence it, so
    descriptor 2 goes to ``native.log`` beside the log file (a temporary file when there is none)
    while Python's ``sys.stderr`` keeps the real terminal; Python warnings go to the log file.
    Never for the GUI: Qt's own fatal messages (a platform plugin that cannot load) must reach the
    terminal. ``CNNSTUDIO_DEBUG=1`` leaves everything as it is.
    """
    _tensorflow_environment()
    if debug_enabled():
        return
    logging.captureWarnings(True)  # to the log file (or nowhere), not the terminal
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # e.g. retracing notes between runs of a study
    try:
        terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding, errors="replace")
        native = native_sink()
        os.dup2(native.fileno(), 2)
    except (OSError, AttributeError, ValueError):
        return
    sys.stderr = terminal


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = debug_enabled()
    log_path = setup_logging(debug)
    if args.command is None:
        # The terminal stays as it is: Qt's own messages (e.g. no usable platform plugin) must reach it.
        _tensorflow_environment()
        from cnnstudio.app import run_gui

        return run_gui(smoke_test=args.smoke_test, report_startup=args.report_startup)
    _quiet_tensorflow()
    end_like_ctrl_c()
    return run_command(args, log_path)


def _out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` says memory ran out: Python's ``MemoryError`` or TensorFlow's ``ResourceExhaustedError`` (OOM)."""
    tensorflow = sys.modules.get("tensorflow")
    exhausted = getattr(getattr(tensorflow, "errors", None), "ResourceExhaustedError", None)
    return isinstance(exc, MemoryError) or (isinstance(exhausted, type) and isinstance(exc, exhausted))


def _interrupted(command: str, as_error: BaseException | None = None) -> int:
    """Ctrl-C, SIGTERM or SIGHUP ended ``command`` (``as_error``: what native code made of the signal): 130."""
    log.info("cnnstudio %s: interrupted%s", command, f" (as {type(as_error).__name__})" if as_error else "",
             exc_info=as_error)
    _err(f"cnnstudio {command}: interrupted")
    return 130


def run_command(args: argparse.Namespace, log_path: Path | None = None) -> int:
    """Run a parsed subcommand under the one-line contract: 0, 2 with a reason, or 1 with the log's place."""
    debug = debug_enabled()
    try:
        return COMMANDS[args.command](args)
    except CnnStudioError as exc:
        log.warning("cnnstudio %s: %s", args.command, exc, exc_info=debug)
        _err(f"cnnstudio {args.command}: {printable(one_line(exc), 600)}")
        return EXIT_BAD_INPUT
    except BrokenPipeError:  # the reader stopped reading (`cnnstudio summary | head`): nothing more to say
        with contextlib.suppress(OSError, ValueError):  # nor at exit, when Python flushes what is left
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return _interrupted(args.command)
    except Exception as exc:  # noqa: BLE001 - the contract is one line (the traceback goes to the log)
        if stop_requested():  # the stop landed where native code turned it into another error
            return _interrupted(args.command, exc)
        if _out_of_memory(exc):  # too big a network or batch for this machine: the user's to change
            log.warning("cnnstudio %s: out of memory", args.command, exc_info=True)
            _err(f"cnnstudio {args.command}: not enough memory for this network and batch size (use a smaller "
                 f"network, batch or images): {printable(one_line(exc, 200), 300)}")
            return EXIT_BAD_INPUT
        log.exception("cnnstudio %s: internal error", args.command)
        where = f" (details in {log_path})" if log_path else ""
        _err(f"cnnstudio {args.command}: internal error: {printable(one_line(exc, 300), 400)}{where}")
        if debug:
            traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
        return EXIT_INTERNAL
