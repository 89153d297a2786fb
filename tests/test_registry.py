"""The local registry: versions, names, integrity, crashes, concurrent writers, model cards."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

import zoo
from zoo.core.errors import IntegrityError, UnknownNameError, ZooError
from zoo.jobs.quantize import LatencyOptions, QuantizeOptions, run_quantize
from zoo.jobs.record import record_quantized
from zoo_registry import artifact
from zoo_registry.names import BadReferenceError, parse
from zoo_registry.store import Registry

SMALL = dict(weights="random", eval_limit=32, calibration_images=16,
             latency=LatencyOptions(runs=2, warmup=1, runtimes=("eager",)))


@pytest.fixture(scope="module")
def produced():
    """One real quantize run (random weights, tiny subsets), recorded many times below."""
    return run_quantize(QuantizeOptions(arch="mobilenet_v2", preset="fbgemm-histogram", **SMALL))


@pytest.fixture()
def registry(tmp_path) -> Registry:
    return Registry(tmp_path / "registry")


def test_a_recorded_model_lists_resolves_and_reloads_bit_identically(registry, produced):
    entry = record_quantized(registry, produced)
    assert entry.name == "mobilenet_v2-int8" and entry.latest and len(entry.version) == 64
    assert [e.ref for e in registry.list()] == [entry.ref]
    directory = registry.directory(entry.name, entry.version)
    assert sorted(p.name for p in directory.iterdir()) == sorted(artifact.FILES)
    card = json.loads((directory / "card.json").read_text())
    assert card["metrics"]["size_bytes"] == (directory / "model.safetensors").stat().st_size
    assert card["files"]["model.safetensors"]["sha256"] == artifact.sha256((directory / "model.safetensors").read_bytes())
    x = torch.randn(3, 3, 32, 32)
    loaded = zoo.load("mobilenet_v2-int8", registry=str(registry.root))
    with torch.inference_mode():
        assert torch.equal(loaded(x), produced.model(x))


def test_the_card_holds_what_a_reader_needs(registry, produced):
    entry = record_quantized(registry, produced, "card-check")
    card = registry.open(entry)[1].to_dict()
    for key in ("name", "version", "arch", "plugin", "preset", "engine", "method", "backend", "dataset", "metrics",
                "baseline", "calibration", "seed", "parent", "versions", "created", "files"):
        assert key in card, key
    assert card["plugin"] == {"name": "mobilenet_v2", "package": "zoo", "version": zoo.__version__}
    assert card["dataset"] == {"name": "fashion-mnist", "hub_id": "zalando-datasets/fashion_mnist", "split": "test",
                               "images": 32, "image_size": 32, "num_classes": 10}
    assert card["license"] == "bsd-3-clause"  # zoo's plugin's licence: the weights were random
    assert set(card["metrics"]["latency"]) >= {"p50_ms", "p90_ms", "batch_size", "threads", "engine", "cpu"}
    assert set(card["versions"]) == {"zoo", "torch", "torchvision"}
    assert card["calibration"]["images"] == 16


def test_a_name_points_at_its_latest_version_and_a_prefix_at_one(registry, produced):
    first = record_quantized(registry, produced, "model")
    produced.result["created"] = "2099-01-01T00:00:00+00:00"  # another card: another version
    try:
        second = record_quantized(registry, produced, "model")
    finally:
        produced.result["created"] = first.created
    assert first.version != second.version
    assert registry.resolve("model").version == second.version
    assert registry.resolve(f"model@{first.version[:8]}").version == first.version
    assert [e.latest for e in registry.list(name="model")] == [True, False]
    assert len(registry.list(latest_only=True)) == 1
    with pytest.raises(UnknownNameError, match="unknown version of 'model' 'ffffff'"):
        registry.resolve("model@ffffff")
    with pytest.raises(UnknownNameError, match="did you mean 'model'"):
        registry.resolve("modle")


def test_recording_the_same_version_twice_changes_nothing(registry, produced):
    a = record_quantized(registry, produced, "same")
    b = record_quantized(registry, produced, "same")
    assert a == b and len(registry.list()) == 1


def test_list_filters(registry, produced):
    record_quantized(registry, produced, "one")
    assert [e.name for e in registry.list(arch="mobilenet_v2")] == ["one"]
    assert registry.list(arch="resnet18") == [] and registry.list(preset="fbgemm-minmax") == []
    assert [e.name for e in registry.list(dataset="fashion-mnist", preset="fbgemm-histogram")] == ["one"]


@pytest.mark.parametrize("text, message", [
    ("Bad Name", "invalid model name 'Bad Name'"),
    ("ok@xyz", "invalid version 'xyz'"),
    ("ok@abc", "at least 6 hex digits"),
    ("", "invalid model name ''"),
])
def test_malformed_references_say_how_to_write_them(text, message):
    with pytest.raises(BadReferenceError, match=message):
        parse(text)


def test_rm_removes_one_version_or_all(registry, produced):
    first = record_quantized(registry, produced, "gone")
    registry.remove(f"gone@{first.version[:10]}")
    assert registry.list() == [] and not registry.directory("gone", first.version).exists()
    with pytest.raises(UnknownNameError):
        registry.remove("gone")


@pytest.mark.parametrize("victim", ["model.safetensors", "config.json", "README.md"])
def test_a_file_altered_on_disk_is_detected_at_load(registry, produced, victim):
    entry = record_quantized(registry, produced, "tampered")
    path = registry.directory(entry.name, entry.version) / victim
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match=f"{victim} was altered"):
        registry.open(entry)


def test_a_card_whose_figures_were_edited_is_detected(registry, produced):
    entry = record_quantized(registry, produced, "edited")
    path = registry.directory(entry.name, entry.version) / "card.json"
    card = json.loads(path.read_text())
    card["metrics"]["top1"] = 99.9
    path.write_text(json.dumps(card))
    with pytest.raises(IntegrityError, match="card.json was altered"):
        registry.open(entry)


def test_an_artifact_from_a_newer_zoo_is_refused(registry, produced):
    entry = record_quantized(registry, produced, "future")
    _, card, model_bytes = registry.open(entry)
    config = json.loads((registry.directory(entry.name, entry.version) / "config.json").read_text())
    config["artifact_version"] = artifact.ARTIFACT_VERSION + 1
    files = artifact.forge(model_bytes, config, card.content(), "future")
    with pytest.raises(ZooError, match="written by a newer zoo .* upgrade zoo"):
        registry.write(files)


def test_a_card_from_a_newer_zoo_is_refused_in_one_line(registry, produced):
    from zoo_registry.schema import CARD_VERSION

    entry = record_quantized(registry, produced, "future-card")
    config, card, model_bytes = registry.open(entry)
    files = artifact.forge(model_bytes, config.to_dict(), {**card.content(), "card_version": CARD_VERSION + 1},
                           "future-card")
    with pytest.raises(zoo.SchemaVersionError, match=f"made by a newer zoo \\(card version {CARD_VERSION + 1}\\).*"
                                                     "upgrade zoo"):
        registry.write(files)


def test_an_index_from_a_newer_zoo_is_refused(registry, produced):
    record_quantized(registry, produced, "x")
    with sqlite3.connect(registry.index_path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(ZooError, match="newer zoo .*index schema 99"):
        registry.list()


def test_a_version_moved_in_but_not_indexed_neither_lists_nor_loads(registry, produced, monkeypatch):
    """A writer killed between the rename and the index transaction."""
    original = Registry._connect

    def connect(self, write=False):
        if write:
            raise KeyboardInterrupt
        return original(self, write)

    monkeypatch.setattr(Registry, "_connect", connect)
    with pytest.raises(KeyboardInterrupt):
        record_quantized(registry, produced, "halfway")
    monkeypatch.setattr(Registry, "_connect", original)
    assert registry.list() == []
    with pytest.raises(UnknownNameError):
        zoo.load("halfway", registry=str(registry.root))
    # The next write of that version adopts the intact directory.
    entry = record_quantized(registry, produced, "halfway")
    assert registry.list() == [entry] and registry.open(entry)


WRITER = textwrap.dedent("""
    import sys, time
    from zoo_registry import store
    real = store._write_synced
    def slow(path, data):
        real(path, data)
        print("wrote", path.name, flush=True)
        time.sleep(30)
    store._write_synced = slow
    from zoo_registry import artifact
    files = artifact.forge(b"not read", {"format": "zoo-artifact", "artifact_version": 1}, CARD, "killed")
    store.Registry(sys.argv[1]).write(files)
""")


def test_a_writer_killed_mid_write_leaves_no_entry(registry):
    card = {"kind": "float", "arch": "mobilenet_v2", "created": "2026-01-01T00:00:00+00:00",
            "dataset": {"name": "fashion-mnist", "split": "test", "images": 1}, "metrics": {"top1": 1.0, "top5": 2.0}}
    code = WRITER.replace("CARD", repr(card))
    process = subprocess.Popen([sys.executable, "-c", code, str(registry.root)], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().startswith("wrote")
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert registry.list() == []
    assert not (registry.root / "models").exists()
    with pytest.raises(UnknownNameError):
        registry.resolve("killed")


CONCURRENT_WRITER = textwrap.dedent("""
    import sys
    from tests import synthetic
    from zoo_registry import store
    registry = store.Registry(sys.argv[1])
    for i in range(int(sys.argv[3])):
        registry.write(synthetic.files(f"model-{sys.argv[2]}-{i % 3}", f"{sys.argv[2]}-{i}".encode(),
                                       f"2026-01-01T00:00:{i:02d}+00:00", float(i), writer=sys.argv[2]))
""")


def test_concurrent_writers_all_land_intact(registry):
    count = 15
    root = Path(__file__).resolve().parent.parent  # where `tests.synthetic` imports from
    writers = [subprocess.Popen([sys.executable, "-c", CONCURRENT_WRITER, str(registry.root), w, str(count)], cwd=root)
               for w in ("a", "b", "c")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    entries = registry.list()
    assert len(entries) == 3 * count
    for entry in entries:
        _, card, model_bytes = registry.open(entry)
        assert model_bytes.decode().startswith(card.to_dict()["writer"])
    assert len(registry.list(latest_only=True)) == 9


@pytest.mark.slow
def test_two_quantize_processes_at_once_both_land(tmp_path):
    env = {**os.environ, "ZOO_REGISTRY": str(tmp_path / "shared")}
    args = ["--weights", "random", "--eval-limit", "16", "--calibration-images", "8", "--latency-runs", "2", "--runtimes", "eager", "--json"]
    runs = [subprocess.Popen([sys.executable, "-m", "zoo", "quantize", "mobilenet_v2", "--preset", preset, *args],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for preset in ("fbgemm-minmax", "qnnpack-minmax")]
    outputs = [r.communicate(timeout=600) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], [o[1][-500:] for o in outputs]
    registry = Registry(tmp_path / "shared")
    versions = {json.loads(out)["version"] for out, _ in outputs}
    assert {e.version for e in registry.list(name="mobilenet_v2-int8")} == versions
    for entry in registry.list():
        registry.open(entry)


def test_the_model_card_parses_back_to_the_same_numbers(registry, produced):
    from huggingface_hub import ModelCard

    entry = record_quantized(registry, produced, "hub-card")
    directory = registry.directory(entry.name, entry.version)
    card = json.loads((directory / "card.json").read_text())
    parsed = ModelCard((directory / "README.md").read_text())
    data = parsed.data
    assert data.library_name == "zoo"
    assert {"quantized", "int8", "fbgemm"} <= set(data.tags)
    # The dataset's Hub id; no base_model (random weights are no Hub repository); the plugin package's licence.
    assert data.datasets == ["zalando-datasets/fashion_mnist"] and data.base_model is None
    assert data.license == "bsd-3-clause"
    results = {r.metric_config: r for r in data.eval_results}
    assert results["top1"].metric_value == card["metrics"]["top1"]
    assert results["top5"].metric_value == card["metrics"]["top5"]
    assert results["top1"].dataset_split == "test" and results["top1"].task_type == "image-classification"
    assert "| int8 |" in parsed.text and "| float |" in parsed.text


def test_a_bad_name_is_refused_before_any_work(tmp_path):
    from click.testing import CliRunner

    from zoo.cli import main

    started = time.perf_counter()
    result = CliRunner().invoke(main, ["--registry", str(tmp_path), "quantize", "mobilenet_v2", "-p",
                                       "fbgemm-minmax", "--name", "Not Valid"])
    assert result.exit_code == 2 and "invalid model name 'Not Valid'" in result.stderr
    assert time.perf_counter() - started < 5 and not Path(tmp_path).joinpath("index.sqlite").exists()


class OffsetOutsideStateDict(torch.nn.Module):
    """A plain tensor attribute is no buffer: it is not saved, so a rebuilt model gets another one."""

    def __init__(self, num_classes: int):
        super().__init__()
        from zoo.nn import DeQuantStub, QuantStub

        self.quant, self.dequant = QuantStub(), DeQuantStub()
        self.fc = torch.nn.Linear(3 * 32 * 32, num_classes)
        self.offset = torch.randn(num_classes)

    def forward(self, x):
        return self.dequant(self.fc(self.quant(x).flatten(1))) + self.offset


class FunctionalPlugin:
    @zoo.hookimpl
    def register_models(self, register):
        register(zoo.ModelSpec("functional", OffsetOutsideStateDict, description="values outside the state dict",
                               input_size=32))


def test_a_model_that_would_not_reload_as_made_is_not_recorded(registry):
    from zoo.core.errors import CodecError
    from zoo.host.plugins import host

    host.add(FunctionalPlugin(), "functional")
    try:
        # Seed 1 builds other weights than the seed-0 skeleton a reload starts from.
        produced = run_quantize(QuantizeOptions(arch="functional", preset="fbgemm-minmax", seed=1, **SMALL))
        with pytest.raises(CodecError, match="would not reload as it was made"):
            record_quantized(registry, produced)
    finally:
        host.remove("functional")
    assert registry.list() == []


def test_a_non_finite_scale_is_refused():
    from zoo.quantization.pipeline import check_finite

    with pytest.raises(ZooError, match="non-finite scale in 'scale'"):
        check_finite({"scale": torch.tensor(float("nan"))})
    with pytest.raises(ZooError, match="non-finite scale in 'quantize.scale'"):
        check_finite({"quantize.scale": float("inf")})
    check_finite({"scale": torch.tensor(0.5), "quantize.scale": 0.25})


def test_compare_lists_the_float_parent_once_then_each_model_with_its_runtime(registry, produced, tmp_path):
    from click.testing import CliRunner

    from zoo.cli import main

    minmax = run_quantize(QuantizeOptions(arch="mobilenet_v2", preset="fbgemm-minmax", **SMALL))
    record_quantized(registry, produced, "a-histogram")
    record_quantized(registry, minmax, "a-minmax")
    runner = CliRunner()
    rows = json.loads(runner.invoke(main, ["--registry", str(registry.root), "compare", "a-histogram", "a-minmax",
                                           "--json"]).stdout)
    assert [r["model"].split("@")[0] for r in rows] == ["float (mobilenet_v2, random)", "a-histogram", "a-minmax"]
    assert [r["method"] for r in rows] == ["float", "static PTQ fbgemm-histogram", "static PTQ fbgemm-minmax"]
    assert all(r["runtime"] == "eager" for r in rows)
    table = runner.invoke(main, ["--registry", str(registry.root), "compare", "a-histogram", "a-minmax"]).stdout
    assert table.splitlines()[1].split() == ["model", "method", "top-1", "top-5", "ties", "size", "p50", "runtime"]
    assert "CPU: " in table.splitlines()[-1] and table.splitlines()[-2].startswith("ties: images whose top class")
    assert [r["ties"] for r in rows] == [produced.result["baseline"]["ties"], produced.result["metrics"]["ties"],
                                         minmax.result["metrics"]["ties"]]


def test_a_card_that_breaks_its_schema_is_never_written(registry, produced):
    # The card is checked where it is built: a job that produced an impossible figure records nothing.
    entry = record_quantized(registry, produced, "schema-check")
    config, card, model_bytes = registry.open(entry)
    broken = {**card.content(), "metrics": {**card.metrics.to_dict(), "top1": 101.0}}
    with pytest.raises(IntegrityError, match=r"schema-check: card.json: metrics.top1: .*less than or equal to 100"):
        artifact.render(model_bytes, config, broken, "schema-check")
    assert [e.ref for e in registry.list()] == [entry.ref]
