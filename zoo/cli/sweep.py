"""``zoo sweep``: architectures × presets × datasets, each cell a quantize job, in one registry."""

from __future__ import annotations

import sys

import click

from zoo.cli import tables
from zoo.cli.catalog import json_option
from zoo.cli.jobs import MAX_THREADS, quantize_job, quantize_options
from zoo.cli.output import echo_json
from zoo.cli.session import context

# zoo.jobs.sweep.EXECUTORS, named here so that `zoo --help` does not import the jobs (and torch).
EXECUTORS = ("inprocess", "ray")
FAILED_EXIT = 2


@click.command("sweep")
@click.option("--arch", "-a", "archs", required=True, metavar="ARCH[,ARCH...]",
              help="Architectures, comma-separated (see `zoo models`).")
@click.option("--preset", "-p", "presets", required=True, metavar="PRESET[,PRESET...]",
              help="Quantization recipes, comma-separated (see `zoo presets`).")
@click.option("--dataset", "-d", "datasets", default="fashion-mnist", show_default=True, metavar="DATASET[,...]",
              help="Datasets to calibrate and evaluate on, comma-separated (see `zoo datasets`).")
@quantize_options
@click.option("--executor", type=click.Choice(EXECUTORS), default="inprocess", show_default=True,
              help="inprocess: the cells one after another here; ray: each cell a Ray task (pip install 'zoo[ray]').")
@click.option("--address", metavar="HOST:PORT",
              help="Ray: the cluster to join (default: RAY_ADDRESS, else a local Ray started for this sweep).")
@click.option("--cpus-per-cell", type=click.IntRange(1, MAX_THREADS),
              help="CPUs each cell declares to Ray, and torch threads inside it (default: 1 with Ray; torch's own "
                   "count in process).")
@click.option("--rerun", is_flag=True, help="Run cells already recorded with the same settings again.")
@click.option("--dry-run", is_flag=True, help="List the cells and which are recorded already; run nothing.")
@json_option
def sweep_command(archs, presets, datasets, executor, address, cpus_per_cell, rerun, dry_run, as_json, **settings):
    """Quantize every architecture with every preset on every dataset, and compare them all.

    Each cell is what `zoo quantize ARCH --preset PRESET --dataset DATASET` with
    the other options given would do, recorded as ARCH-PRESET-DATASET. A cell
    already recorded with the same architecture, preset, dataset, float weights
    (by their sha256) and options is skipped unless --rerun, so a sweep that was
    interrupted picks up where it stopped. A failing cell is reported on one
    line and the others go on; the exit code is 2 if any failed. Only this
    process writes the registry: Ray workers send their results back.
    Latencies are marked with the node that timed them: compare them within one
    node.

    \b
    Examples:
      zoo sweep --arch mobilenet_v2,resnet18 --preset fbgemm-histogram,x86-histogram,fbgemm-qat
      zoo sweep -a mobilenet_v2,resnet18 -p fbgemm-minmax,fbgemm-histogram --dry-run
      zoo sweep -a resnet18,tv:resnet50 -p x86-histogram --executor ray --address head:6379 --cpus-per-cell 4
    """
    from zoo.jobs import sweep

    if executor != "ray" and address:
        raise click.UsageError("--address is for --executor ray")
    ctx = context()
    jobs = sweep.grid(quantize_job("", "", "", **settings), sweep.split_list("arch", archs),
                      sweep.split_list("preset", presets), sweep.split_list("dataset", datasets))
    cells = sweep.plan(jobs, ctx)
    if dry_run:
        execute = sweep.in_process(ctx)
    elif executor == "ray":
        from zoo.jobs.sweep_ray import ray_executor

        execute = ray_executor(address=address, cpus_per_cell=cpus_per_cell or 1, strict_plugins=ctx.strict_plugins)
    else:
        execute = sweep.in_process(ctx, threads=cpus_per_cell)
    total = len(cells)
    seen = []

    def report(outcome: sweep.Outcome) -> None:
        seen.append(outcome)
        where = f" on {outcome.node}" if outcome.node else ""
        took = f" in {outcome.wall_s:.0f} s" if outcome.wall_s is not None else ""
        if outcome.status == "failed":
            what = "cannot run" if outcome.cell.problem else f"failed{where}"
            click.echo(f"Error: cell {outcome.cell.label} {what}: {outcome.error}", err=True)
        elif outcome.status == "recorded" and outcome.entry:
            click.echo(f"[{len(seen)}/{total}] {outcome.cell.label}: recorded as {outcome.entry.ref}{took}{where}",
                       err=True)
        elif outcome.status == "skipped" and outcome.entry:
            click.echo(f"[{len(seen)}/{total}] {outcome.cell.label}: already recorded as {outcome.entry.ref}, skipped",
                       err=True)

    outcomes = sweep.sweep(cells, execute, ctx, rerun=rerun, dry_run=dry_run, on_outcome=report)
    counts = {status: sum(o.status == status for o in outcomes) for status in ("recorded", "skipped", "failed",
                                                                               "planned")}
    cards = _cards(ctx.registry, outcomes)
    if as_json:
        from zoo.cli.registry import comparison_rows

        echo_json({"cells": [o.as_dict() for o in outcomes], "rows": comparison_rows(cards) if cards else [],
                   **counts})
    elif dry_run:
        click.echo(tables.render(["cell", "name", "weights", "status"],
                                 [[o.cell.label, o.cell.name, o.cell.weights,
                                   f"recorded as {o.entry.ref}" if o.entry else
                                   "cannot run (above)" if o.status == "failed" else "to run"] for o in outcomes]))
        click.echo(f"{total} cell(s): {counts['planned']} to run, {counts['skipped']} already recorded "
                   f"(--rerun runs them again), {counts['failed']} cannot run")
    else:
        from zoo.cli.registry import comparison_rows, comparison_table

        if cards:
            click.echo(comparison_table(cards, comparison_rows(cards)))
        click.echo(f"{total} cell(s): {counts['recorded']} recorded, {counts['skipped']} already recorded and "
                   f"skipped, {counts['failed']} failed")
    if counts["failed"]:
        sys.exit(FAILED_EXIT)


def _cards(registry, outcomes) -> list:
    return [registry.open(o.entry)[1] for o in outcomes if o.entry is not None]


COMMANDS = (sweep_command,)
