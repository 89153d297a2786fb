"""``zoo train``: float training or fine-tuning on a registered dataset, saved as safetensors plus a card."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from zoo import data
from zoo.context import Context, default_context
from zoo.core import atomic
from zoo.core.versions import versions
from zoo.evaluation import TOP_K_RULE, accuracy
from zoo.host.fence import running_model
from zoo.jobs import limits, weights
from zoo.jobs.record import Recorded, record
from zoo.jobs.selection import select
from zoo.training import FloatRecipe, train_float
from zoo_registry.names import check_name


@dataclass(frozen=True)
class TrainOptions:
    arch: str
    dataset: str = "fashion-mnist"
    weights: str | None = None
    data_dir: str | None = None
    image_size: int | None = None
    recipe: FloatRecipe = field(default_factory=FloatRecipe)
    train_limit: int | None = None
    eval_limit: int | None = None
    eval_batch_size: int = 256
    seed: int = 0
    output: str | None = None
    name: str | None = None
    command: str = ""

    def __post_init__(self) -> None:
        """Every number checked before any work, as the command line's options are.

        Raises:
            SettingError: naming the setting, its value and the range it must be in.
        """
        limits.whole("image size", self.image_size, high=limits.MAX_IMAGE_SIZE)
        limits.whole("epochs", self.recipe.epochs)
        limits.whole("batch size", self.recipe.batch_size, high=limits.MAX_BATCH_SIZE)
        limits.rate("learning rate", self.recipe.lr)
        limits.whole("train limit", self.train_limit)
        limits.whole("eval limit", self.eval_limit)
        limits.whole("eval batch size", self.eval_batch_size, high=limits.MAX_BATCH_SIZE)
        limits.whole("seed", self.seed, low=0, high=limits.MAX_SEED)


def run_train(options: TrainOptions, context: Context | None = None) -> Recorded:
    """Train, evaluate on the test split, record the weights in ``context``'s registry; returns what was
    recorded (its card: top-1/top-5 in percent, size in bytes, per-epoch loss in ``history``).

    With ``output``, also write them as a standalone .safetensors file with a
    .json card beside it (how the weights a plugin ships are made): the registry's card plus the file's sha256.
    """
    from safetensors.torch import save


    ctx = default_context(context)
    # From scratch unless weights are named: then fine-tune them (a new head if the class count differs).
    requested = options.weights or weights.RANDOM
    selection = select(options.arch, options.dataset, requested, options.data_dir, options.image_size, ctx)
    arch = selection.spec.name  # PATH.py:FUNCTION becomes file:STEM.FUNCTION
    name = options.name or weights.trained_name(arch, options.dataset)
    check_name(name)
    output = Path(options.output).with_suffix(".safetensors") if options.output else None

    ctx.registry.check_writable()  # before the long work, not after it
    model, parent_digest = selection.build_float(options.seed, allow_new_head=True)
    train_set = data.sample(data.load_split(selection.dataset, selection.data, "train", train=True),
                            options.train_limit, options.seed)
    test_set = data.first(data.load_split(selection.dataset, selection.data, "test"), options.eval_limit)
    train_loader = data.loader(train_set, options.recipe.batch_size, shuffle=True, seed=options.seed)

    started = datetime.datetime.now(datetime.timezone.utc)
    owner = selection.model_plugin
    with running_model(owner, selection.spec.name, "training"):
        history = train_float(model, train_loader, options.recipe, progress=ctx.progress)
    with running_model(owner, selection.spec.name, "evaluation"):
        metrics = accuracy(model, data.loader(test_set, options.eval_batch_size), "evaluating float",
                           progress=ctx.progress)

    payload = save({k: v.detach().contiguous() for k, v in model.state_dict().items()})
    result = {
        "arch": arch,
        "dataset": {**selection.data.as_dict(), "split": "test", "images": metrics["images"],
                    "train_images": data.size(train_set)},
        "top_k_rule": TOP_K_RULE,
        "metrics": {"top1": metrics["top1"], "top5": metrics["top5"], "ties": metrics["ties"],
                    "size_bytes": len(payload)},
        "recipe": dataclasses.asdict(options.recipe),
        "history": history,
        "seed": options.seed,
        "parent": {**selection.weights.describe(), "sha256": parent_digest},
        "command": options.command,
        "versions": versions(),
        "started": started.isoformat(timespec="seconds"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    entry = record(ctx.registry, name=name, kind="float", state_dict=model.state_dict(), result=result,
                   catalog=selection.catalog, spec=selection.spec, in_channels=selection.spec.in_channels,
                   labels=selection.data.labels, data_config=selection.data)
    card = ctx.registry.open(entry)[1]
    if output is not None:
        atomic.write_bytes(output, payload)
        atomic.write_text(output.with_suffix(".json"), json.dumps(
            {**card.to_dict(), "sha256": hashlib.sha256(payload).hexdigest()}, indent=2) + "\n")
    return Recorded(entry, card, output)
