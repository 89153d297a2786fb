"""``zoo train`` and ``zoo quantize``: the long-running jobs."""

from __future__ import annotations

import shlex
import sys

import click

from zoo.cli.catalog import json_option
from zoo.cli.output import echo_json
from zoo.cli.session import context

# Checked by click here, to name the option; the jobs check the same bounds for Python callers.
from zoo.jobs.limits import MAX_BATCH_SIZE, MAX_IMAGE_SIZE, MAX_LR, MAX_THREADS


def command_line() -> str:
    """The command as the user typed it, recorded with results so they can be made again."""
    return shlex.join(["zoo", *click.get_current_context().meta.get("zoo.argv", sys.argv[1:])])




def number(ctx, param, value):
    # click's FloatRange lets nan through: it compares false with both bounds.
    if value is not None and value != value:
        raise click.BadParameter(f"must be a number, got {value}")
    return value


def positive(ctx, param, value):
    # `not value > 0` also refuses nan; inf is no size, rate or count either.
    if value is not None and (not value > 0 or value == float("inf")):
        raise click.BadParameter(f"must be a positive finite number, got {value}")
    return value


dataset_option = click.option("--dataset", "-d", default="fashion-mnist", show_default=True,
                              help="Dataset to train, calibrate and evaluate on (see `zoo datasets`).")
data_dir_option = click.option("--data-dir", type=click.Path(file_okay=False),
                               help="Where the dataset lies (needed by imagefolder; default: zoo's data directory).")
weights_option = click.option("--weights", "-w",
                              help="Float weights: a name from `zoo models`, a .safetensors file, or 'random'.")
image_size_option = click.option("--image-size", type=click.IntRange(1, MAX_IMAGE_SIZE),
                                 help="Input resolution (default: the weights' or the dataset's).")
eval_limit_option = click.option("--eval-limit", type=int, callback=positive,
                                 help="Evaluate on the first N test images only (default: the whole test split).")
name_option = click.option("--name", "-n", help="Registry name to record the result under (see README: Naming).")
seed_option = click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
                           help="Seed for weights, sampling and shuffling.")


@click.command("train")
@click.argument("arch")
@dataset_option
@weights_option
@data_dir_option
@image_size_option
@click.option("--epochs", type=int, default=4, show_default=True, callback=positive)
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=128, show_default=True)
@click.option("--lr", type=click.FloatRange(0, MAX_LR, min_open=True), default=0.1, show_default=True,
              callback=positive,
              help="Peak learning rate of the one-cycle schedule.")
@click.option("--train-limit", type=int, callback=positive, help="Train on N random training images only.")
@eval_limit_option
@seed_option
@click.option("--output", "-o", type=click.Path(dir_okay=False),
              help="Also write the weights as a standalone .safetensors file, with a .json card beside it.")
@name_option
@json_option
def train_command(arch, dataset, weights, data_dir, image_size, epochs, batch_size, lr, train_limit, eval_limit,
                  seed, output, name, as_json):
    """Train ARCH in float on a dataset, or fine-tune known weights (--weights).

    The weights are recorded in the registry as ARCH-DATASET (or --name), which
    is where `zoo quantize ARCH --dataset DATASET` finds them. From scratch unless
    --weights names weights to fine-tune; a classifier of another class count is
    replaced. The recipe is SGD with Nesterov momentum under a one-cycle
    learning-rate schedule.

    \b
    Example (about 6 minutes an epoch on 2 cores):
      zoo train mobilenet_v2 --dataset fashion-mnist --epochs 6
    """
    from zoo.jobs.train import TrainOptions, run_train
    from zoo.training import FloatRecipe

    options = TrainOptions(
        arch=arch, dataset=dataset, weights=weights, data_dir=data_dir, image_size=image_size,
        recipe=FloatRecipe(epochs=epochs, batch_size=batch_size, lr=lr), train_limit=train_limit,
        eval_limit=eval_limit, seed=seed, output=output, name=name, command=command_line(),
    )
    recorded = run_train(options, context())
    card = recorded.card
    if as_json:
        echo_json({**card.to_dict(), **({"path": str(recorded.path)} if recorded.path else {})})
        return
    m = card.metrics
    click.echo(f"{arch} on {dataset}: top-1 {m.top1:.2f} %, top-5 {m.top5:.2f} % "
               f"on {card.dataset.images} test images")
    click.echo(f"recorded in the registry as {card.name} (version {card.name}@{card.version[:12]})")
    if recorded.path:
        click.echo(f"weights also written to {recorded.path} ({m.size_bytes} bytes)")


def _qat_overrides(epochs, batches, lr, freeze_bn_after, freeze_observers_after) -> dict:
    return {"epochs": epochs, "batches_per_epoch": batches, "lr": lr, "freeze_bn_after": freeze_bn_after,
            "freeze_observers_after": freeze_observers_after}


def _module_presets(ctx, param, values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        module, _, preset = value.rpartition("=")
        if not module or not preset:
            raise click.BadParameter(f"'{value}' is not MODULE=PRESET, e.g. features.1.conv.0.0=fbgemm-histogram")
        pairs.append((module, preset))
    return tuple(pairs)


# The options of a quantize job besides its architecture, preset and dataset: `zoo quantize` and `zoo sweep` take
# the same ones (``quantize_options``) and build the job the same way (``quantize_job``).
QUANTIZE_OPTIONS = (
    weights_option,
    click.option("--backend", "--mode", "backend",
                 help="Quantization backend (see `zoo backends`): eager or fx (torch.ao), pt2e (torchao); default: "
                      "the preset's first. --mode is its earlier name."),
    data_dir_option,
    image_size_option,
    click.option("--calibration-images", type=int, callback=positive,
                 help="Training images to calibrate static presets on (default: the preset's, 1024)."),
    eval_limit_option,
    click.option("--qat-epochs", type=int, callback=positive, help="QAT: epochs (default: the preset's, 8)."),
    click.option("--qat-batches", type=int, callback=positive, help="QAT: batches per epoch (default 20)."),
    click.option("--qat-lr", type=click.FloatRange(0, MAX_LR, min_open=True), callback=positive,
                 help="QAT: learning rate (default 1e-4)."),
    click.option("--freeze-bn-after", type=int, callback=positive,
                 help="QAT: freeze BN statistics after N epochs (default 4)."),
    click.option("--freeze-observers-after", type=int, callback=positive,
                 help="QAT: freeze observers after N epochs (default 5)."),
    click.option("--latency-batch-size", type=click.IntRange(1, MAX_BATCH_SIZE), default=1, show_default=True),
    click.option("--threads", type=click.IntRange(1, MAX_THREADS), default=1, show_default=True,
                 help="Threads for latency timing."),
    click.option("--latency-runs", type=int, default=50, show_default=True, callback=positive),
    click.option("--runtimes", "runtime_list", default="quick", show_default=True,
                 help="Runtimes to time float and int8 in: quick (eager, torchscript, onnxruntime, openvino), all "
                      "(adds inductor, which compiles for tens of seconds), or a comma list. The fastest of each is "
                      "reported."),
    click.option("--fused-baseline", is_flag=True, help="Also evaluate the fused float model (fusion alone)."),
    click.option("--max-drop", type=click.FloatRange(0, 100), default=0.2, show_default=True, callback=number,
                 help="--preset auto: top-1 points below float allowed, on the validation split."),
    click.option("--allow-qat", is_flag=True, help="--preset auto: try QAT when no PTQ recipe is within budget."),
    click.option("--validation-images", type=int, default=2000, show_default=True, callback=positive,
                 help="--preset auto: training images held out to judge candidates (never the test split)."),
    click.option("--equalize", is_flag=True,
                 help="Cross-layer equalization before calibration: evens out weight ranges between consecutive "
                      "convolutions (per-tensor weights, depthwise layers gain most; static presets, backend eager)."),
    click.option("--float-module", "float_modules", multiple=True, metavar="MODULE",
                 help="Keep these modules in float (repeatable): a module path (features.1.conv.0.0; `zoo explain` "
                      "names them), re:REGEX over paths, or type:CLASS (e.g. type:torch.nn.Linear)."),
    click.option("--module-preset", "module_presets", multiple=True, metavar="MODULE=PRESET",
                 callback=_module_presets,
                 help="Give these modules another preset's observers (same method and engine; repeatable). A "
                      "module's own path beats a regex, which beats a type; an inner module's rule beats its "
                      "parent's."),
    seed_option,
)


def quantize_options(command):
    """Give ``command`` every option of ``QUANTIZE_OPTIONS``, in that order in its --help."""
    for option in reversed(QUANTIZE_OPTIONS):
        command = option(command)
    return command


def quantize_job(arch: str, preset: str, dataset: str, *, weights, backend, data_dir, image_size, calibration_images,
                 eval_limit, qat_epochs, qat_batches, qat_lr, freeze_bn_after, freeze_observers_after,
                 latency_batch_size, threads, latency_runs, runtime_list, fused_baseline, max_drop, allow_qat,
                 validation_images, equalize, float_modules, module_presets, seed):
    """The ``zoo.jobs.quantize.QuantizeOptions`` of ``QUANTIZE_OPTIONS``' values, for one arch, preset and dataset."""
    from zoo import runtimes
    from zoo.jobs.quantize import LatencyOptions, QuantizeOptions
    from zoo.jobs.search import SearchOptions

    return QuantizeOptions(
        arch=arch, preset=preset, dataset=dataset, weights=weights, backend=backend, data_dir=data_dir,
        image_size=image_size, calibration_images=calibration_images, eval_limit=eval_limit,
        qat=_qat_overrides(qat_epochs, qat_batches, qat_lr, freeze_bn_after, freeze_observers_after),
        latency=LatencyOptions(batch_size=latency_batch_size, threads=threads, runs=latency_runs,
                               runtimes=runtimes.parse(runtime_list)),
        fused_baseline=fused_baseline, seed=seed, command=command_line(),
        float_modules=tuple(float_modules), module_presets=tuple(module_presets), equalize=equalize,
        search=SearchOptions(max_drop=max_drop, allow_qat=allow_qat, validation_images=validation_images),
    )


@click.command("quantize")
@click.argument("arch")
@click.option("--preset", "-p", required=True,
              help="Quantization recipe (see `zoo presets`), or auto / auto:ENGINE to search for the cheapest one "
                   "within --max-drop of float.")
@dataset_option
@quantize_options
@name_option
@json_option
def quantize_command(arch, preset, dataset, name, as_json, **settings):
    """Quantize ARCH to int8 with a preset, and compare it with the float model.

    Float and int8 are evaluated on the same test images (top-1, top-5), their
    saved weights are weighed, and their latency is timed in every runtime that
    can run them (--runtimes), interleaved in one process; the speed-up compares
    the fastest int8 runtime with the fastest float one. Static presets calibrate on training images; QAT presets
    fine-tune with fake quantization (the tutorial's recipe); dynamic presets
    quantize Linear/LSTM weights ahead of time.

    ARCH is an architecture a plugin registers (`zoo models`), or PATH.py:FUNCTION,
    your own file whose FUNCTION(num_classes) returns a float nn.Module (use
    --backend fx or pt2e unless it has QuantStubs). zoo runs that file: it is
    your code, run because you named it. The model records the file's name and
    sha256, and loading it later needs the same file (`zoo --model-file
    PATH.py:FUNCTION eval NAME`). A plugin package is the durable way.

    \b
    Examples:
      zoo quantize mobilenet_v2 --preset fbgemm-histogram
      zoo quantize mobilenet_v2 --preset auto --max-drop 0.2 --allow-qat
      zoo quantize mobilenet_v2 --preset fbgemm-histogram --float-module features.1.conv.0.0
      zoo quantize resnet18 --preset fbgemm-qat --backend fx --json
      zoo quantize my_net.py:build --preset x86-histogram --backend fx --weights my_net.safetensors
      zoo quantize resnet18 --preset x86-histogram --dataset imagefolder --data-dir ~/imagenet_1k \\
          --weights imagenet1k-v1
    """
    from zoo.cli.report import comparison
    from zoo.jobs.quantize import quantize

    options = quantize_job(arch, preset, dataset, **settings)
    produced, recorded = quantize(options, context(), name)
    entry = recorded.entry
    if as_json:
        echo_json(recorded.card.to_dict())
    else:
        click.echo(comparison(recorded.card))
        click.echo(f"recorded in the registry as {entry.name} (version {entry.ref}); see `zoo show {entry.name}`")


COMMANDS = (train_command, quantize_command)
