"""``zoo compare --plot``: top-1 against latency, one marker per model and per float baseline, area for size.

``points`` turns cards into what is drawn (pure, no matplotlib); ``draw`` draws it; ``checked_path`` and
``write`` are what ``zoo compare`` calls. matplotlib is an optional extra (``pip install 'zoo[plot]'``) imported
only inside functions, and zoo.cli.registry imports this module only when --plot is given, so that
``zoo --help`` and the listings never import it.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from zoo.core.errors import SettingError

if TYPE_CHECKING:
    from zoo_registry.schema import Card, Latency

# The file's format comes from its extension; each is one matplotlib writes without extra libraries.
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
INSTALL = "pip install 'zoo[plot]'"
# Figure size in inches and resolution in dots per inch (PNG): 1200 × 825 pixels.
FIGSIZE_IN = (8.0, 5.5)
DPI = 150
# The largest model's marker area in points²; the others scale with their size in MB.
LARGEST_MARKER_PT2 = 900.0
COLOURS = {"float": "tab:orange", "int8": "tab:blue"}


@dataclass(frozen=True)
class Point:
    """One marker: a model (int8, or a float card compared as such) or a float baseline.

    ``latency_ms`` is the p50 latency in milliseconds that the card records (the model's fastest runtime, as
    ``zoo compare``'s p50 column), None when none was recorded; ``top1`` is in percent; ``size_bytes`` is the
    model file's size in bytes.
    """

    label: str
    latency_ms: float | None
    top1: float
    size_bytes: int
    kind: str  # "float" or "int8"
    latency: Latency | None = None


def points(cards: Sequence[Card]) -> list[Point]:
    """One point per card, plus one per distinct float baseline before the first card that names it.

    Baselines are told apart as ``zoo compare``'s float rows are (``zoo.cli.registry.baseline_key``): several
    models quantized from one float parent give one float point. A model is labelled with its name, or
    NAME@VERSION-PREFIX where several points share the name; a baseline "ARCH float", with its parent's name
    where several baselines share the architecture.
    """
    from zoo.cli.registry import baseline_key

    found: list[tuple[str, str, Point]] = []  # (short label, long label, point)
    seen = set()
    for card in cards:
        if card.kind == "int8" and card.baseline:
            key = baseline_key(card)
            if key not in seen:
                seen.add(key)
                b = card.baseline
                short = f"{card.arch} float"
                found.append((short, f"{short} ({(card.parent or {}).get('name')})",
                              _point(b.latency, b.top1, b.size_bytes, "float")))
        m = card.metrics
        found.append((card.name, f"{card.name}@{card.version[:8]}",
                      _point(m.latency, m.top1, m.size_bytes, card.kind)))
    shorts = Counter(short for short, _, _ in found)
    return [dataclasses.replace(point, label=short if shorts[short] == 1 else long) for short, long, point in found]


def _point(latency: Latency | None, top1: float, size_bytes: int, kind: str) -> Point:
    return Point("", latency.p50_ms if latency else None, top1, size_bytes, kind, latency)


def format_of(path: Path) -> str | None:
    """The format ``path``'s extension names (png, svg, pdf; any case), or None for any other."""
    return FORMATS.get(Path(path).suffix.lower())


def checked_path(param, value: str | None) -> Path | None:
    """--plot's file, refused before any model is read (click.BadParameter, or SettingError when matplotlib is
    missing): an extension zoo draws to, a directory that exists, matplotlib installed."""
    if value is None:
        return None
    path = Path(value)
    if format_of(path) is None:
        raise click.BadParameter(f"'{value}' has no extension zoo can draw to; valid choices: {', '.join(FORMATS)}",
                                 param=param)
    if not path.parent.is_dir():
        raise click.BadParameter(f"'{value}': directory '{path.parent}' does not exist", param=param)
    if path.is_dir():
        raise click.BadParameter(f"'{value}' is a directory; give a file name ending in {', '.join(FORMATS)}",
                                 param=param)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SettingError(f"--plot needs matplotlib: {INSTALL}") from None
    return path


def write(cards: Sequence[Card], path: Path, err: bool) -> None:
    """Draw the comparison of ``cards`` to ``path`` and say where, on stdout (on stderr when ``err``: under --json,
    stdout stays JSON). Points without a latency are left out and named on stderr."""
    found = points(cards)
    plotted = [p for p in found if p.latency_ms is not None]
    left_out = [p.label for p in found if p.latency_ms is None]
    if left_out:
        click.echo(f"not plotted (no latency recorded): {', '.join(left_out)}", err=True)
    if not plotted:
        raise SettingError(f"nothing to plot to {path}: none of these models has a latency recorded")
    datasets = sorted({f"{c.dataset.name} {c.dataset.split} ({c.dataset.images} images)" for c in cards})
    draw(plotted, path, f"top-1 against latency on {'; '.join(datasets)}")
    click.echo(f"wrote {path} ({len(plotted)} point(s))", err=err)


def _joined(values) -> str:
    return ", ".join(str(v) for v in dict.fromkeys(values))


def draw(plotted: Sequence[Point], path: Path, title: str) -> None:
    """Draw ``plotted`` (points with a latency) to ``path`` in the format its extension names, atomically: a
    failure leaves whatever was at ``path`` before, never half a file. ``path``'s directory must exist.

    x: p50 latency in ms; y: top-1 in percent; marker area proportional to the model's size in MB.
    """
    if not plotted or any(p.latency_ms is None for p in plotted):
        raise ValueError("draw needs at least one point, and every point with a latency")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from zoo.core.atomic import replacing

    # A Figure on an Agg canvas, without pyplot: no GUI backend is chosen, no global figure is left behind
    # (what matplotlib.use("Agg") would give, without changing the backend of a process that embeds zoo).
    figure = Figure(figsize=FIGSIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    largest_mb = max(p.size_bytes for p in plotted) / 1e6
    scale = LARGEST_MARKER_PT2 / largest_mb if largest_mb > 0 else 0.0

    def area(p: Point) -> float:
        # A card may record a size of 0 bytes: such a model still gets a small marker (20 points²), not none.
        return p.size_bytes / 1e6 * scale or 20.0

    handles: list[Any] = []
    for kind, legend in (("float", "float baseline"), ("int8", "int8 model")):
        mine = [p for p in plotted if p.kind == kind]
        if mine:
            axes.scatter([cast(float, p.latency_ms) for p in mine], [p.top1 for p in mine], s=[area(p) for p in mine],
                         c=COLOURS[kind], alpha=0.6, edgecolors="black", linewidths=0.5)
            handles.append(Line2D([], [], linestyle="", marker="o", markersize=8, color=COLOURS[kind], alpha=0.6,
                                  markeredgecolor="black", markeredgewidth=0.5, label=legend))
    # Hollow markers that stand for the smallest and largest sizes, so an area can be read as MB.
    smallest_mb = min(p.size_bytes for p in plotted) / 1e6
    for megabytes in dict.fromkeys((smallest_mb, largest_mb)):
        handles.append(axes.scatter([], [], s=megabytes * scale, c="none", edgecolors="grey",
                                    label=f"{megabytes:.2f} MB"))
    # Below the axes, where it cannot hide a point or a label; handlelength (in font sizes) leaves room for the
    # largest marker, 2·√(LARGEST_MARKER_PT2 / π) ≈ 34 points across.
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), borderpad=1, fontsize=8,
                  handlelength=4.5, frameon=False)
    # Each label starts just right of its marker's edge (the radius in points is the square root of area / π); a
    # thin line ties it to the marker when _spread has to move it away.
    labels = [axes.annotate(p.label, (p.latency_ms, p.top1), xytext=(math.sqrt(area(p) / math.pi) + 3, 0),
                            textcoords="offset points", va="center", fontsize=8,
                            arrowprops={"arrowstyle": "-", "color": "grey", "linewidth": 0.5, "shrinkA": 1,
                                        "shrinkB": math.sqrt(area(p) / math.pi)})
              for p in sorted(plotted, key=lambda p: (-p.top1, p.latency_ms))]
    latencies = [p.latency for p in plotted if p.latency is not None]
    axes.set_xlabel(f"p50 latency, ms (batch {_joined(lat.batch_size for lat in latencies)}, threads "
                    f"{_joined(lat.threads for lat in latencies)}, {_joined(lat.cpu or 'CPU not recorded' for lat in latencies)})"
                    "\nmarker area proportional to the model's size in MB")
    axes.set_ylabel("top-1, %")
    axes.set_title(title)
    axes.grid(True, alpha=0.3)
    axes.margins(0.2)
    _spread(figure, axes, labels, [((p.latency_ms, p.top1), math.sqrt(area(p) / math.pi)) for p in plotted])
    path = Path(path)
    with replacing(path) as tmp:
        figure.savefig(tmp, format=format_of(path))


def _spread(figure, axes, labels, markers) -> None:
    """Move each label that would overlap a marker or a label placed before it up or down by whole line heights:
    models close in latency and accuracy (one architecture quantized several ways) would otherwise print over
    each other. ``markers``: (centre in data coordinates, radius in points) of every marker."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    figure.draw_without_rendering()  # lays the figure out, so that the labels' and markers' places are final
    renderer = figure.canvas.get_renderer()
    pixels = figure.dpi / 72  # per point
    placed = []
    for centre, radius in markers:
        x, y = axes.transData.transform(centre)
        r = radius * pixels
        placed.append(Bbox.from_extents(x - r, y - r, x + r, y + r))
    for label in labels:
        box = Text.get_window_extent(label, renderer)  # the text alone: an Annotation's extent includes its line
        for step in (0, -1, 1, -2, 2, -3, 3, -4, 4):
            moved = box.translated(0, step * box.height)
            if not any(moved.overlaps(other) for other in placed):
                break
        else:
            step = 0  # crowded on every side: leave it where it was
        placed.append(box.translated(0, step * box.height))
        dx, dy = label.xyann
        label.xyann = (dx, dy + step * box.height / pixels)
