"""`zoo compare --plot`: the points come from the cards, the figure is a real file written whole, and every refusal is
one line with exit 2 and no file.

The registry versions are real ones (rendered, validated, content-addressed, verified on reading) made in
milliseconds from the artifact-version-2 fixture's int8 model with the figures each test needs in its card:
`zoo compare` reads nothing but the cards.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from zoo.cli import main, plot
from zoo_registry import artifact, schema
from zoo_registry.store import Registry

FIXTURE = Path(__file__).resolve().parent / "artifacts_v2" / "int8-eager-static"
CPU = "Test CPU @ 1.00GHz"
PARENT_A, PARENT_B = "a" * 64, "b" * 64


def _latency(p50_ms: float, runtime: str = "eager") -> dict:
    return {"p50_ms": p50_ms, "p90_ms": p50_ms * 1.25, "batch_size": 1, "threads": 1, "cpu": CPU, "runs": 5,
            "runtime": runtime}


def _record(registry: Registry, name: str, *, top1: float, size_bytes: int, p50_ms: float | None, parent: str,
            baseline: dict) -> None:
    card = json.loads((FIXTURE / "card.json").read_bytes())
    content = {k: v for k, v in card.items() if k not in ("name", "version", "files")}
    content.update(
        dataset={**card["dataset"], "images": 64},
        metrics={"top1": top1, "top5": 100.0, "ties": 0.0, "size_bytes": size_bytes,
                 "latency": _latency(p50_ms) if p50_ms is not None else None},
        baseline=baseline,
        parent={"name": f"float-{parent[0]}", "sha256": parent},
    )
    config = schema.check_config(json.loads((FIXTURE / "config.json").read_bytes()), name)
    registry.write(artifact.render((FIXTURE / "model.safetensors").read_bytes(), config, content, name))


@pytest.fixture(scope="module")
def registry(tmp_path_factory) -> Registry:
    """a1 and a2 share float parent A (one baseline), b1 has parent B, twin has two versions, slow1 has no latency
    recorded (nor its parent C's baseline)."""
    registry = Registry(tmp_path_factory.mktemp("plot") / "registry")
    baseline_a = {"top1": 91.5, "top5": 100.0, "ties": 0.0, "size_bytes": 9_000_000, "latency": _latency(7.5)}
    baseline_b = {"top1": 89.0, "top5": 100.0, "ties": 0.0, "size_bytes": 45_000_000, "latency": _latency(12.0)}
    _record(registry, "a1", top1=76.9, size_bytes=2_300_000, p50_ms=4.0, parent=PARENT_A, baseline=baseline_a)
    _record(registry, "a2", top1=91.0, size_bytes=2_600_000, p50_ms=3.8, parent=PARENT_A, baseline=baseline_a)
    _record(registry, "b1", top1=88.9, size_bytes=11_300_000, p50_ms=3.7, parent=PARENT_B, baseline=baseline_b)
    for top1 in (70.0, 80.0):
        _record(registry, "twin", top1=top1, size_bytes=2_300_000, p50_ms=4.0, parent=PARENT_A, baseline=baseline_a)
    _record(registry, "slow1", top1=50.0, size_bytes=1_000_000, p50_ms=None, parent="c" * 64,
            baseline={"top1": 60.0, "top5": 100.0, "ties": 0.0, "size_bytes": 4_000_000})
    return registry


def _cards(registry: Registry, *names: str):
    return [registry.open(registry.resolve(name))[1] for name in names]


def _compare(registry: Registry, *args: str):
    return CliRunner().invoke(main, ["--registry", str(registry.root), "compare", *args])


def test_points_are_the_cards_figures_with_one_float_point_per_parent(registry):
    a1, a2, b1 = _cards(registry, "a1", "a2", "b1")
    found = plot.points([a1, a2, b1])
    # Both parents are of one architecture, so their labels name the parent too.
    assert [(p.label, p.kind) for p in found] == [
        (f"{a1.arch} float (float-a)", "float"), ("a1", "int8"), ("a2", "int8"),
        (f"{b1.arch} float (float-b)", "float"), ("b1", "int8")]
    expected = [a1.baseline, a1.metrics, a2.metrics, b1.baseline, b1.metrics]
    assert [(p.latency_ms, p.top1, p.size_bytes) for p in found] == [
        (f.latency.p50_ms, f.top1, f.size_bytes) for f in expected]
    # The same float points as compare's float rows.
    rows = json.loads(_compare(registry, "a1", "a2", "b1", "--json").stdout)
    assert [(r["top1"], r["size_bytes"], r["p50_ms"]) for r in rows] == [
        (p.top1, p.size_bytes, p.latency_ms) for p in found]


def test_a_model_without_latency_gives_a_point_without_one(registry):
    slow1, = _cards(registry, "slow1")
    assert [(p.label, p.kind, p.latency_ms) for p in plot.points([slow1])] == [
        (f"{slow1.arch} float", "float", None), ("slow1", "int8", None)]


def test_versions_of_one_name_are_labelled_with_their_version(registry):
    older, newer = sorted(_cards(registry, *(e.ref for e in registry.list(name="twin"))), key=lambda c: c.metrics.top1)
    assert [p.label for p in plot.points([older, newer])] == [
        f"{older.arch} float", f"twin@{older.version[:8]}", f"twin@{newer.version[:8]}"]


def test_compare_plot_writes_a_png_of_the_figure_size_and_keeps_the_table(registry, tmp_path):
    out = tmp_path / "compare.png"
    without = _compare(registry, "a1", "a2", "b1")
    result = _compare(registry, "a1", "a2", "b1", "--plot", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:-1] == without.stdout.splitlines()
    assert result.stdout.splitlines()[-1] == f"wrote {out} (5 point(s))"
    assert result.stderr == ""
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    import matplotlib.image

    height, width = matplotlib.image.imread(out).shape[:2]
    assert (width, height) == (round(plot.FIGSIZE_IN[0] * plot.DPI), round(plot.FIGSIZE_IN[1] * plot.DPI))
    assert [p.name for p in tmp_path.iterdir()] == ["compare.png"]  # no temporary file left beside it


@pytest.mark.parametrize("name, magic", [("compare.SVG", b"<?xml"), ("compare.pdf", b"%PDF-")])
def test_the_format_follows_the_extension(registry, tmp_path, name, magic):
    result = _compare(registry, "a1", "--plot", str(tmp_path / name))
    assert result.exit_code == 0, result.output
    assert (tmp_path / name).read_bytes().startswith(magic)


def test_under_json_stdout_stays_json(registry, tmp_path):
    out = tmp_path / "compare.png"
    result = _compare(registry, "a1", "--json", "--plot", str(out))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["method"] == "float"
    assert result.stderr == f"wrote {out} (2 point(s))\n" and out.is_file()


def test_models_without_latency_are_left_out_and_named(registry, tmp_path):
    out = tmp_path / "compare.png"
    slow1, = _cards(registry, "slow1")
    assert slow1.metrics.latency is None and slow1.baseline.latency is None
    result = _compare(registry, "a1", "slow1", "--plot", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"not plotted (no latency recorded): {slow1.arch} float (float-c), slow1\n"
    assert result.stdout.splitlines()[-1] == f"wrote {out} (2 point(s))"
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_nothing_to_plot_is_one_line_and_no_file(registry, tmp_path):
    out = tmp_path / "compare.png"
    result = _compare(registry, "slow1", "--plot", str(out))
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == (f"Error: nothing to plot to {out}: none of these models has a latency "
                                              "recorded")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["compare.jpg", "compare", "compare.png.txt"])
def test_an_extension_zoo_cannot_draw_is_refused_before_anything(registry, tmp_path, name):
    result = _compare(registry, "a1", "--plot", str(tmp_path / name))
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and str(tmp_path / name) in lines[0] and "valid choices: .png, .svg, .pdf" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_a_missing_directory_is_refused_before_anything(registry, tmp_path):
    out = tmp_path / "nowhere" / "compare.png"
    result = _compare(registry, "a1", "--plot", str(out))
    assert result.exit_code == 2 and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and f"directory '{out.parent}' does not exist" in lines[0]
    assert list(tmp_path.iterdir()) == []


def test_without_matplotlib_plot_is_one_line_naming_the_extra(registry, tmp_path, monkeypatch):
    # None in sys.modules makes `import matplotlib` raise ImportError, as when it is not installed.
    for module in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = _compare(registry, "a1", "--plot", str(tmp_path / "compare.png"))
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == "Error: --plot needs matplotlib: pip install 'zoo[plot]'\n"
    assert list(tmp_path.iterdir()) == []
    # The table alone still works without it.
    assert _compare(registry, "a1").exit_code == 0


def test_a_failure_while_drawing_leaves_the_previous_file_whole(registry, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    out = tmp_path / "compare.png"
    out.write_bytes(b"the previous figure")

    def half_then_fail(self, fname, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise RuntimeError("disk went away")

    monkeypatch.setattr(Figure, "savefig", half_then_fail)
    with pytest.raises(RuntimeError, match="disk went away"):
        plot.draw([p for p in plot.points(_cards(registry, "a1"))], out, "title")
    assert out.read_bytes() == b"the previous figure"
    assert [p.name for p in tmp_path.iterdir()] == ["compare.png"]


def test_compare_help_does_not_import_matplotlib():
    code = ("import sys; from zoo.cli import main\n"
            "try:\n    main(['compare', '--help'])\nexcept SystemExit:\n    pass\n"
            "assert 'matplotlib' not in sys.modules, 'zoo compare --help imported matplotlib'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ)
    assert done.returncode == 0, done.stderr
    assert "--plot PATH" in done.stdout
