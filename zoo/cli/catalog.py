"""``zoo plugins``, ``models``, ``presets``, ``backends``, ``datasets``: what the loaded plugins offer."""

from __future__ import annotations

from typing import Any

import click

from zoo.cli import tables
from zoo.cli.output import echo_json
from zoo.cli.session import context
from zoo.core.errors import ZooError
from zoo.host.plugins import Catalog

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def load_catalog() -> Catalog:
    return context().catalog


def _warn_failures(catalog: Catalog) -> None:
    for report in catalog.failures():
        click.echo(f"Warning: plugin '{report.name}' failed: {report.errors[0]} (see `zoo plugins`)", err=True)


@click.command("plugins")
@json_option
def plugins_command(as_json: bool) -> None:
    """List the loaded plugins, their versions, and what each registered.

    A plugin that failed to import or registered something invalid is listed
    with its error; the others keep working. Set ZOO_PLUGINS=a,b to load only
    some, or --strict-plugins to make any failure fatal.
    """
    catalog = load_catalog()
    reports = [r.as_dict() for r in catalog.reports.values()]
    if as_json:
        echo_json(reports)
        return
    rows = []
    for r in reports:
        registered = "; ".join(f"{kind}: {_some(names)}" for kind, names in r["registered"].items())
        status = "ok" if not r["errors"] else "FAILED: " + r["errors"][0]
        rows.append([r["name"], r["package"] or "-", r["version"] or "-", registered or "-", status])
    click.echo(tables.render(["plugin", "package", "version", "registered", "status"], rows))


def _some(names: list[str], most: int = 8) -> str:
    """The first names, and how many in all where there are more (tv: and timm: register hundreds)."""
    return ", ".join(names) if len(names) <= most else f"{', '.join(names[:most])}, … ({len(names)} in all)"


def _weights_note(weights: dict) -> str:
    if weights["published_as"]:
        return f" (int8, zoo pull {weights['published_as']})"
    return " (int8)" if weights["quantized"] else ""


@click.command("models")
@click.argument("patterns", nargs=-1, metavar="[PATTERN]...")
@click.option("--pretrained", is_flag=True, help="Only architectures with known weights (float or int8).")
@click.option("--published", is_flag=True, help="Only architectures with int8 weights `zoo pull` records.")
@json_option
def models_command(patterns: tuple[str, ...], pretrained: bool, published: bool, as_json: bool) -> None:
    """List the architectures, the backends they go through and their known weights.

    PATTERN is a shell-style wildcard on the name or an alias (quote it so the
    shell leaves it alone); several patterns list what any of them matches.

    \b
    Examples:
      zoo models 'resnet*'
      zoo models --pretrained 'shufflenet*'
      zoo models --published --json
    """
    import fnmatch

    catalog = load_catalog()
    entries: list[dict[str, Any]] = []
    for name, spec in sorted(catalog.models.items()):
        if patterns and not any(fnmatch.fnmatchcase(candidate, pattern) for pattern in patterns
                                for candidate in (name, *spec.aliases)):
            continue
        if (pretrained and not spec.weights) or (published and not any(w.published_as for w in spec.weights)):
            continue
        plugin = catalog.owner("model", name)
        entries.append({
            "name": name,
            "plugin": plugin,
            "plugin_version": catalog.plugin_version(plugin),
            "description": spec.description,
            "backends": list(spec.backends) if spec.backends is not None else None,
            "fuse": "own" if spec.fuse else "fusion patterns",
            "input_size": spec.input_size,
            "in_channels": spec.in_channels,
            "aliases": list(spec.aliases),
            "weights": [
                {"name": w.name, "dataset": w.dataset, "num_classes": w.num_classes, "quantized": w.quantized,
                 "engine": w.engine, "source": w.source, "published_as": w.published_as}
                for w in spec.weights
            ],
        })
    if as_json:
        echo_json(entries)
        return
    _warn_failures(catalog)
    if not entries:
        wanted = " ".join(filter(None, [*(repr(p) for p in patterns), "--pretrained" * pretrained,
                                        "--published" * published]))
        from zoo.core.errors import closest_match

        near = [closest_match(p, catalog.models) for p in patterns if not any(c in p for c in "*?[")]
        hint = f"; did you mean '{near[0]}'?" if near and near[0] else ""
        click.echo(f"No architecture matches {wanted}{hint}; `zoo models` lists all {len(catalog.models)}.", err=True)
        return
    rows = [[e["name"], e["plugin"], ", ".join(e["backends"]) if e["backends"] is not None else "any",
             str(e["input_size"]), ", ".join(w["name"] + _weights_note(w) for w in e["weights"]) or "-",
             e["description"]] for e in entries]
    click.echo(tables.render(["model", "plugin", "backends", "input", "weights", "description"], rows))


@click.command("presets")
@json_option
def presets_command(as_json: bool) -> None:
    """List the quantization presets: engine, method and what each observes."""
    catalog = load_catalog()
    entries: list[dict[str, Any]] = []
    for name, preset in sorted(catalog.presets.items()):
        entries.append({
            "name": name,
            "plugin": catalog.owner("preset", name),
            "engine": preset.engine,
            "method": preset.method,
            "backends": catalog.preset_backends(preset),
            "description": preset.description,
            "activation": preset.activation.kind if preset.activation else None,
            "weight": preset.weight.kind if preset.weight else None,
            "dynamic_modules": list(preset.dynamic_modules),
        })
    if as_json:
        echo_json(entries)
        return
    _warn_failures(catalog)
    rows = [[e["name"], ", ".join(e["backends"]), e["engine"], e["method"], e["description"]] for e in entries]
    click.echo(tables.render(["preset", "backends", "engine", "method", "description"], rows))


@click.command("backends")
@json_option
def backends_command(as_json: bool) -> None:
    """List the quantization backends, their engines, and whether each can load here."""
    catalog = load_catalog()
    entries: list[dict[str, Any]] = []
    for name, spec in sorted(catalog.backends.items()):
        try:
            catalog.backend(name)
            status = "ok"
        except ZooError as exc:
            status = str(exc)
        entries.append({"name": name, "plugin": catalog.owner("backend", name), "engines": list(spec.engines),
                        "methods": list(spec.methods), "description": spec.description, "status": status})
    if as_json:
        echo_json(entries)
        return
    _warn_failures(catalog)
    rows = [[e["name"], ", ".join(e["engines"]), ", ".join(e["methods"]), e["status"], e["description"]]
            for e in entries]
    click.echo(tables.render(["backend", "engines", "methods", "status", "description"], rows))


@click.command("datasets")
@json_option
def datasets_command(as_json: bool) -> None:
    """List the evaluation datasets and how each is obtained."""
    catalog = load_catalog()
    entries = [{
        "name": name,
        "plugin": catalog.owner("dataset", name),
        "description": spec.description,
        "num_classes": spec.num_classes,
        "image_size": spec.image_size,
        "channels": spec.channels,
        "needs_path": spec.needs_path,
        "obtain": spec.obtain,
    } for name, spec in sorted(catalog.datasets.items())]
    if as_json:
        echo_json(entries)
        return
    _warn_failures(catalog)
    rows = [[e["name"], e["num_classes"] or "from data", e["obtain"], e["description"]] for e in entries]
    click.echo(tables.render(["dataset", "classes", "obtained", "description"], rows))


COMMANDS = (plugins_command, models_command, presets_command, backends_command, datasets_command)
