"""``zoo list / show / compare / eval / bench / export / rm``: what the registry holds."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from zoo.cli import tables
from zoo.cli.catalog import json_option
from zoo.cli.output import echo_json
from zoo.cli.session import context

if TYPE_CHECKING:
    from zoo_registry.schema import Accuracy, Card, Latency

METHODS = {"static": "static PTQ", "qat": "QAT", "dynamic": "dynamic", None: "float"}
MISMATCH_EXIT = 1


def _registry():
    return context().registry


def _plot():
    # Imported only when --plot is given: `zoo --help` and the listings stay light.
    from zoo.cli import plot

    return plot


def _plot_path(ctx, param, value: str | None):
    return None if value is None else _plot().checked_path(param, value)


def _int_list(ctx, param, value: str) -> list[int]:
    try:
        numbers = [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a comma-separated list of integers") from None
    from zoo.cli.jobs import MAX_BATCH_SIZE, MAX_THREADS

    most = MAX_THREADS if param.name == "threads" else MAX_BATCH_SIZE
    if not numbers or any(not 0 < n <= most for n in numbers):
        raise click.BadParameter(f"'{value}' must list whole numbers from 1 to {most}, e.g. 1,8")
    return numbers


def _not_nan(param, value):
    # click's FloatRange lets nan through: it compares false with both bounds.
    if value != value:
        raise click.BadParameter(f"must be a number from 0 to 100, got {value}", param=param)
    return value


def _ms(value) -> str:
    return "" if value is None else f"{value:.2f} ms"


@click.command("list")
@click.option("--name", help="Only versions of this name.")
@click.option("--arch", help="Only this architecture.")
@click.option("--preset", help="Only this preset.")
@click.option("--dataset", help="Only this dataset.")
@click.option("--latest", is_flag=True, help="Only the latest version of each name.")
@json_option
def list_command(name, arch, preset, dataset, latest, as_json):
    """List the models in the registry, newest version of each name first.

    A `*` marks the version a bare NAME refers to (the latest). Refer to any
    other version as NAME@DIGEST-PREFIX (6 or more hex digits).
    """
    entries = _registry().list(name=name, arch=arch, preset=preset, dataset=dataset, latest_only=latest)
    if as_json:
        echo_json([e.as_dict() for e in entries])
        return
    if not entries:
        click.echo("The registry is empty (or nothing matches): make a model with `zoo quantize`.", err=True)
        return
    rows = [[("* " if e.latest else "  ") + e.name, e.version[:12], e.arch, e.preset or "float", e.backend or "",
             e.dataset, tables.percent(e.top1), tables.megabytes(e.size_bytes), _ms(e.p50_ms), e.created]
            for e in entries]
    click.echo(tables.render(["name", "version", "arch", "preset", "backend", "dataset", "top-1", "size", "p50",
                              "created"], rows, align_right=(6, 7, 8)))


@click.command("show")
@click.argument("reference", metavar="NAME[@VERSION]")
@json_option
def show_command(reference, as_json):
    """Show a model's card: metrics, float baseline, provenance and file digests."""
    registry = _registry()
    _, card, _ = registry.open(registry.resolve(reference))
    if as_json:
        echo_json(card.to_dict())
        return
    echo_card(card)


def echo_card(card: Card) -> None:
    """A card as `zoo show` prints it: the float/int8 table where there is a float baseline, then provenance."""
    from zoo.cli.report import comparison

    click.echo(card.label)
    if card.kind == "int8" and card.baseline:
        click.echo(comparison(card))
    else:
        m = card.metrics
        click.echo(f"{card.kind} {card.arch} on {card.dataset.name}: top-1 {m.top1:.2f} %, "
                   f"top-5 {m.top5:.2f} % on {card.dataset.images} test images; {card.command or ''}")
    click.echo(f"plugin: {card.plugin.name} {card.plugin.version or ''}; "
               f"versions: {', '.join(f'{k} {v}' for k, v in card.versions.items())}")
    for file_name, info in card.files.items():
        click.echo(f"  {file_name:<18} {info.size:>10} bytes  sha256 {info.sha256}")


def _row(model: str, method: str, figures: Accuracy, size_bytes: int | None, latency: Latency | None) -> dict:
    return {"model": model, "method": method, "top1": figures.top1, "top5": figures.top5, "ties": figures.ties,
            "size_bytes": size_bytes, "p50_ms": latency.p50_ms if latency else None,
            "runtime": (latency.runtime or "eager") if latency else None,
            "node": latency.node if latency else None}


def baseline_key(card: Card) -> tuple:
    """What tells an int8 card's float baseline apart from others: the architecture, the float parent's sha256
    (random weights have none: the seed tells them apart) and the test images it was evaluated on. Cards quantized
    from one parent and evaluated alike share one baseline."""
    return (card.arch, (card.parent or {}).get("sha256"), card.seed, card.dataset.name, card.dataset.images)


def method_label(card: Card) -> str:
    """How an int8 model was made, in a few words: the method and preset, and what changed the preset's recipe
    (equalization, per-module rules, the search that chose it)."""
    extras = [*(["equalized"] if card.equalize else []),
              *([f"{len(card.module_rules)} module rule(s)"] if card.module_rules else []),
              *(["chosen by --preset auto"] if card.search else [])]
    label = f"{METHODS[card.method]} {card.preset or ''}".strip()
    return f"{label} ({', '.join(extras)})" if extras else label


def comparison_rows(cards: list[Card]) -> list[dict]:
    """One row per float parent (and fused float) and per model, in the shape of the tutorial's table."""
    rows, parents = [], set()
    for card in cards:
        if card.kind == "int8" and card.baseline:
            parent_info = card.parent or {}
            parent = baseline_key(card)
            if parent not in parents:
                parents.add(parent)
                b = card.baseline
                source = parent_info.get("name")
                label = f"float ({card.arch}, {source})" if source == "random" else f"float ({source})"
                rows.append(_row(label, "float", b, b.size_bytes, b.latency))
                if card.fused_baseline:
                    rows.append(_row("fused float", "float", card.fused_baseline, None, None))
        m = card.metrics
        rows.append(_row(f"{card.name}@{card.version[:8]}", method_label(card),
                         m, m.size_bytes, m.latency))
    return rows


@click.command("compare")
@click.argument("references", nargs=-1, required=True, metavar="NAME[@VERSION]...")
@click.option("--plot", "plot_path", metavar="PATH", callback=_plot_path,
              help="Also draw top-1 against p50 latency, marker area for size, to PATH (.png, .svg or .pdf). "
                   "Needs `pip install 'zoo[plot]'`.")
@json_option
def compare_command(references, plot_path, as_json):
    """Compare models side by side: float baseline, then each quantized version.

    With --plot, also draws each model and each float baseline as a point:
    top-1 (%) against p50 latency (ms, the table's p50), marker area
    proportional to size (MB). Models without a recorded latency are left out
    of the figure, and named.

    \b
    Example, the tutorial's comparison on Fashion-MNIST:
      zoo compare mobilenet_v2-minmax mobilenet_v2-histogram mobilenet_v2-qat
      zoo compare mobilenet_v2-minmax resnet18-minmax --plot compare.png
    """
    registry = _registry()
    cards = [registry.open(registry.resolve(ref))[1] for ref in references]
    rows = comparison_rows(cards)
    if as_json:
        echo_json(rows)
        if plot_path:
            _plot().write(cards, plot_path, err=True)
        return
    click.echo(comparison_table(cards, rows))
    if plot_path:
        _plot().write(cards, plot_path, err=False)


def comparison_table(cards: list[Card], rows: list[dict]) -> str:
    """``comparison_rows`` as `zoo compare` prints them, with the lines that say what they measured; a node column
    where a card says which machine timed it (a sweep's)."""
    datasets = sorted({f"{c.dataset.name} {c.dataset.split} ({c.dataset.images} images)" for c in cards})
    nodes = any(r["node"] for r in rows)
    lines = [f"evaluated on: {'; '.join(datasets)}",
             tables.render(["model", "method", "top-1", "top-5", "ties", "size", "p50", "runtime",
                            *(["node"] if nodes else [])],
                           [[r["model"], r["method"], tables.percent(r["top1"]), tables.percent(r["top5"]),
                             tables.percent(r["ties"]), tables.megabytes(r["size_bytes"]), _ms(r["p50_ms"]),
                             r["runtime"], *([r["node"]] if nodes else [])] for r in rows],
                           align_right=(2, 3, 4, 5, 6)),
             "ties: images whose top class is shared by several classes (int8 outputs are quantized); top-1 and "
             "top-5 count a tie as the fraction of tied classes that fit (README: Ties)"]
    cpus = sorted({c.metrics.latency.cpu for c in cards if c.metrics.latency and c.metrics.latency.cpu})
    if cpus:
        lines.append(f"p50: batch 1 latency in each model's fastest runtime as its card records it; CPU: "
                     f"{', '.join(cpus)}")
    if nodes:
        lines.append("node: the machine that timed each row; compare latency only among rows of one node")
    return "\n".join(lines)


@click.command("eval")
@click.argument("reference", metavar="NAME[@VERSION]")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the card's dataset lies, if not zoo's default.")
@click.option("--limit", type=click.IntRange(min=1),
              help="Evaluate on the first N test images (default: as many as the card).")
@json_option
def eval_command(reference, data_dir, limit, as_json):
    """Re-evaluate a model on its card's dataset and check the card's accuracy.

    Exits with 1 when top-1 or top-5 differ from the card. With --limit below
    the card's image count the figures are shown but not compared (exit 0).
    """
    from zoo.jobs.evaluation import reevaluate

    outcome = reevaluate(reference, data_dir=data_dir, limit=limit, context=context())
    if as_json:
        echo_json(outcome)
    else:
        for k in ("top1", "top5"):
            click.echo(f"top-{k[-1]}: {outcome['measured'][k]:.2f} % (card: {outcome['card'][k]:.2f} %)")
        click.echo(f"ties for the top class: {outcome['measured']['ties']:.2f} % of images")
        if outcome.get("rule_changed"):
            click.echo("note: this card was measured before zoo counted ties fractionally (it took the first of "
                       "tied classes), so its figures may differ from these by up to the tie rate")
        if not outcome["comparable"]:
            click.echo(f"{outcome['images']} {outcome['dataset']} test images, the card {outcome['card_images']}: "
                       "not compared (evaluate without --limit to check the card)")
        else:
            click.echo(f"{outcome['images']} {outcome['dataset']} test images; "
                       f"{'matches the card' if outcome['matches'] else 'DOES NOT match the card'}")
    if outcome["comparable"] and not outcome["matches"]:
        sys.exit(MISMATCH_EXIT)


@click.command("explain")
@click.argument("reference", metavar="NAME[@VERSION]")
@click.option("--images", type=click.IntRange(1, 4096), default=None,
              help="Calibration images to feed (default: as many as the model was calibrated on).")
@click.option("--top", type=click.IntRange(1, 10_000), default=15, show_default=True, help="Layers to show.")
@json_option
def explain_command(reference, images, top, as_json):
    """Which layers lose the most to quantization: SQNR per layer, worst first.

    For each quantized layer of a static PTQ int8 model (torch.ao eager mode), the
    signal-to-quantization-noise ratio of its output against the same layer of
    the float model it was made from, on the same calibration images, in dB
    (higher is better). Each figure includes the error carried in from the
    layers before it, so layers are ranked by what they lose against the layer
    before them (module order): the top ones are those to keep in float or
    calibrate better.

    \b
    Example:
      zoo explain mobilenet_v2-minmax
    """
    from zoo.jobs.explain import explain

    outcome = explain(reference, images, context())
    if as_json:
        echo_json(outcome)
        return
    rows = [[row["layer"], row["type"], f"{row['sqnr_db']:.2f}",
             "" if row["drop_db"] is None else f"{row['drop_db']:+.2f}"] for row in outcome["layers"][:top]]
    click.echo(f"{outcome['name']}@{outcome['version'][:12]}: SQNR of each quantized layer's output against the "
               f"float model's, on {outcome['images']} calibration images; ranked by what each layer loses "
               "against the layer before it")
    click.echo(tables.render(["layer", "type", "SQNR dB", "lost dB"], rows, align_right=(2, 3)))
    shown = min(top, len(outcome["layers"]))
    click.echo(f"{shown} of {len(outcome['layers'])} layers shown; the logits: {outcome['output_sqnr_db']:.2f} dB")


@click.command("bench")
@click.argument("reference", metavar="NAME[@VERSION]")
@click.option("--batch-sizes", default="1", show_default=True, callback=_int_list, help="Comma list, e.g. 1,8,32.")
@click.option("--threads", default="1", show_default=True, callback=_int_list, help="Comma list, e.g. 1,2.")
@click.option("--runs", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--runtimes", "runtime_list", default="all", show_default=True,
              help="Runtimes to time: all, quick (all but inductor, which compiles for tens of seconds), or a comma "
                   "list of eager, torchscript, inductor, onnxruntime, openvino.")
@click.option("--record", is_flag=True, help="Write the table into the card as a new version of the name.")
@json_option
def bench_command(reference, batch_sizes, threads, runs, runtime_list, record, as_json):
    """Time a model in every runtime that can run it, at several batch sizes and thread counts.

    The runtimes of one batch size and thread count are timed interleaved in one
    process (median and p90 of --runs calls after warm-up); the fastest of each
    configuration is marked. Runtimes that cannot run the model, or are not
    installed, are listed with the reason.

    \b
    Examples:
      zoo bench mobilenet_v2-int8
      zoo bench mobilenet_v2-int8 --batch-sizes 1,16 --threads 1,2 --runtimes quick
    """
    from zoo import runtimes
    from zoo.jobs.evaluation import benchmark

    rows, entry = benchmark(reference, batch_sizes, threads, runs, record, context=context(),
                            runtime_names=runtimes.parse(runtime_list))
    if as_json:
        echo_json({"benchmarks": rows, **({"recorded": entry.ref} if entry else {})})
        return
    timed = [r for r in rows if "skipped" not in r]
    click.echo(tables.render(["batch", "threads", "runtime", "p50", "p90", "images/s", "note"],
                             [[r["batch_size"], r["threads"], r["runtime"], _ms(r["p50_ms"]), _ms(r["p90_ms"]),
                               f"{r['batch_size'] * 1000 / r['p50_ms']:.0f}", "fastest" if r["fastest"] else ""]
                              for r in timed], align_right=(0, 1, 3, 4, 5)))
    for reason in dict.fromkeys(f"{r['runtime']}: {r['skipped']}" for r in rows if "skipped" in r):
        click.echo(f"not timed: {reason}")
    busy = [r["load"] for r in timed if r["load"].get("busy")]
    cpu = timed[0]["cpu"] if timed else "?"
    click.echo(f"CPU: {cpu}" + (f"; WARNING: other processes used up to {max(b['other_cpus'] for b in busy):.2f} "
                                f"CPUs while timing" if busy else ""))
    if entry:
        click.echo(f"recorded as {entry.ref}")


@click.command("predict")
@click.argument("reference", metavar="NAME[@VERSION]")
@click.argument("images", nargs=-1, required=True, metavar="IMAGE...")
@click.option("--top-k", "-k", type=click.IntRange(1, 100), default=3, show_default=True,
              help="How many classes to show per image.")
@json_option
def predict_command(reference, images, top_k, as_json):
    """Classify image files with a registry model: the top classes and their scores, per image.

    IMAGE is a file (PNG, JPEG, ... of any size, colour or grey), a directory
    (its images) or a quoted glob pattern. Each image is fed the way the model's
    config.json says it was trained (resize or crop, grey or RGB, normalisation),
    so no dataset needs to be installed. A file that cannot be read is reported
    on its own line; the others are still classified, and the exit code is 2.

    \b
    Examples:
      zoo predict mobilenet_v2-int8 shirt.png boot.jpg
      zoo predict resnet18-int8 photos/ --top-k 5 --json
    """
    from zoo.jobs.predict import predict

    results = predict(reference, images, top_k, context())
    failed = [r for r in results if "error" in r]
    if as_json:
        echo_json(results)
    else:
        rows = [[r["image"], ", ".join(f"{p['label']} {p['score']:.1f} %" for p in r["predictions"])]
                for r in results if "predictions" in r]
        if rows:
            click.echo(tables.render(["image", f"top {top_k} (softmax %)"], rows))
    for result in failed:
        click.echo(f"Error: {result['error']}", err=True)
    if failed:
        sys.exit(2)
    if not results:
        raise click.UsageError("no image files found in " + ", ".join(images))


@click.command("export")
@click.argument("reference", metavar="NAME[@VERSION]")
@click.option("--format", "fmt", type=click.Choice(["torchscript", "onnx"]), default="torchscript", show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False), required=True,
              help="File to write, e.g. model.pt or model.onnx.")
@click.option("--check-images", type=click.IntRange(min=1), default=500, show_default=True,
              help="ONNX: test images the export must agree with zoo.load on.")
@click.option("--min-agreement", type=click.FloatRange(0, 100), default=99.0, show_default=True,
              callback=lambda ctx, param, value: _not_nan(param, value), help="ONNX: percent of those images whose top class must agree with zoo.load's.")
def export_command(reference, fmt, output, check_images, min_agreement):
    """Export a model for deployment: TorchScript, or ONNX (QDQ for int8 models).

    \b
    TorchScript: torch.jit.load loads it (set the engine first for int8 models,
    as the message says). ONNX: runs in ONNX Runtime, OpenVINO and others; the
    export is run in ONNX Runtime on the card's test images first, and written
    only if its top class agrees with zoo.load on 99 % of them. Needs
    `pip install 'zoo[onnx]'`.

    \b
    Examples:
      zoo export mobilenet_v2-int8 --format onnx -o mnv2-int8.onnx
      zoo export mobilenet_v2-int8 -o mnv2-int8.pt
    """
    if fmt == "onnx":
        from zoo.jobs.export import export_onnx

        path, check = export_onnx(reference, output, check_images, min_agreement, context())
        agreed = check["agreement"]
        from zoo.cli.report import how_agreed

        click.echo(f"wrote {path} (ONNX); on {check['source']} its top class agrees with zoo.load on "
                   f"{agreed['top1']:.2f} % ({how_agreed(agreed)}; plain argmax {agreed['argmax']:.2f} %), "
                   f"largest logit difference {agreed['max_abs_diff']:.3g}")
        return
    from zoo.jobs.export import export_torchscript

    path, how, engine = export_torchscript(reference, output, context())
    if engine:
        click.echo(f"wrote {path} ({how}, int8 for torch's {engine} engine, recorded in the file as "
                   f"zoo-engine.txt); load it with: torch.backends.quantized.engine = '{engine}'; "
                   f"model = torch.jit.load('{path}')")
    else:
        click.echo(f"wrote {path} ({how}); load it with torch.jit.load('{path}')")


@click.command("rm")
@click.argument("reference", metavar="NAME[@VERSION]")
@click.option("--yes", "-y", is_flag=True, help="Do not ask before removing every version of a name.")
def rm_command(reference, yes):
    """Remove one version (NAME@VERSION) or every version of a name (NAME)."""
    from zoo_registry.names import parse

    registry = _registry()
    ref = parse(reference)
    if ref.version is None and not yes:
        count = len(registry.list(name=ref.name))
        if count:
            if not sys.stdin.isatty():
                raise click.UsageError(f"removing all {count} version(s) of '{ref.name}' needs a yes: there is no "
                                       "terminal to ask on, so pass --yes")
            click.confirm(f"Remove all {count} version(s) of '{ref.name}'?", abort=True, err=True)
    for entry in registry.remove(reference):
        click.echo(f"removed {entry.ref}")


@click.command("reindex")
def reindex_command():
    """Rebuild the registry's index from its model directories (after `zoo` reports the index damaged).

    Every version directory is verified against its card first; one that fails is
    left out and named. The old index is kept beside the new one.
    """
    registry = _registry()
    entries, skipped = registry.reindex()
    for reason in skipped:
        click.echo(f"left out {reason}", err=True)
    click.echo(f"indexed {len(entries)} version(s) of {len({e.name for e in entries})} name(s) in {registry.root}")


COMMANDS = (list_command, show_command, compare_command, eval_command, explain_command, bench_command, predict_command, export_command,
            rm_command,
            reindex_command)
