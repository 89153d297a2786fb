"""One Context for a session: the CLI's global options reach every command, jobs included, and Python callers
get the same jobs (zoo.quantize, zoo.train, zoo.load) with their progress through a callback, nothing printed."""

from __future__ import annotations

import contextlib
import json
import os

import pytest
import torch
from click.testing import CliRunner

import zoo
from zoo.cli import main

SMALL = ["--eval-limit", "32", "--calibration-images", "32", "--latency-runs", "2", "--runtimes", "eager",
         "--weights", "random"]


def zoo_cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def names_in(registry) -> list[str]:
    return sorted(entry.name for entry in zoo.Registry(registry).list())


def test_the_registry_option_reaches_every_job_and_leaves_the_environment_alone(tmp_path, monkeypatch):
    default = tmp_path / "default"
    monkeypatch.setenv("ZOO_REGISTRY", str(default))
    chosen = tmp_path / "chosen"
    def zoo_environment():
        # torch sets variables of its own (TORCHINDUCTOR_CACHE_DIR); zoo's must stay as the user set them.
        return {key: value for key, value in os.environ.items() if key.startswith(("ZOO_", "HF_"))}

    environment = zoo_environment()

    made = zoo_cli("--registry", str(chosen), "quantize", "mobilenet_v2", "-p", "fbgemm-minmax", *SMALL, "--json")
    assert made.exit_code == 0, made.output
    trained = zoo_cli("--registry", str(chosen), "train", "mobilenet_v2", "--epochs", "1", "--train-limit", "8",
                      "--eval-limit", "8", "--json")
    assert trained.exit_code == 0, trained.output
    assert names_in(chosen) == ["mobilenet_v2-fashion-mnist", "mobilenet_v2-int8"]

    evaluated = zoo_cli("--registry", str(chosen), "eval", "mobilenet_v2-int8", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["measured"]["top1"] == json.loads(made.stdout)["metrics"]["top1"]
    benched = zoo_cli("--registry", str(chosen), "bench", "mobilenet_v2-int8", "--runs", "2", "--runtimes", "eager",
                      "--record", "--json")
    assert benched.exit_code == 0, benched.output
    exported = zoo_cli("--registry", str(chosen), "export", "mobilenet_v2-int8", "-o", str(tmp_path / "m.pt"))
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "m.pt").is_file()

    assert not default.exists()  # nothing reached the registry the environment names
    assert zoo_environment() == environment
    assert len(zoo.Registry(chosen).list(name="mobilenet_v2-int8")) == 2  # bench --record added a version


def test_the_environment_names_the_registry_when_the_option_does_not(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "from-env"))
    made = zoo_cli("quantize", "mobilenet_v2", "-p", "fbgemm-minmax", *SMALL)
    assert made.exit_code == 0, made.output
    assert names_in(tmp_path / "from-env") == ["mobilenet_v2-int8"]


class Recorder:
    """A progress callback that keeps what it was told."""

    shown = False

    def __init__(self):
        self.labels: list[str] = []
        self.counted = 0

    @contextlib.contextmanager
    def steps(self, items, label, length=None):
        self.labels.append(label)

        def counted():
            for item in items:
                self.counted += 1
                yield item

        yield counted()


def test_python_callers_get_the_jobs_with_progress_through_the_callback(tmp_path, capfd):
    recorder = Recorder()
    context = zoo.Context.from_environment(registry=tmp_path / "registry", progress=recorder)

    made = zoo.quantize("mobilenet_v2", "fbgemm-minmax", weights="random", eval_limit=16, calibration_images=16,
                        latency_runs=2, context=context)
    assert made.reference.startswith("mobilenet_v2-int8@")
    [entry] = context.registry.list()
    assert made.reference == f"{entry.name}@{entry.version}"
    assert context.registry.open(entry)[1] == made.card
    assert {"calibrating", "evaluating float", "evaluating int8"} <= set(recorder.labels)
    assert any(label.startswith("timing") for label in recorder.labels)
    assert recorder.counted > 0

    loaded = zoo.load(made.reference, context=context)
    images = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    assert torch.equal(loaded(images), made.model(images))

    trained = zoo.train("mobilenet_v2", epochs=1, train_limit=8, eval_limit=8, name="tiny-float", context=context)
    assert trained.card.kind == "float" and trained.reference.startswith("tiny-float@")
    assert any(label.startswith("epoch 1/1") for label in recorder.labels)

    out, err = capfd.readouterr()
    assert out == "" and err == ""  # a library prints nothing: its progress went to the callback


def test_context_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_REGISTRY", str(tmp_path / "r"))
    monkeypatch.setenv("ZOO_STRICT_PLUGINS", "1")
    context = zoo.Context.from_environment()
    assert context.registry_root == tmp_path / "r" and context.strict_plugins
    assert context.progress.shown is False
    explicit = zoo.Context.from_environment(registry=tmp_path / "s", strict_plugins=False)
    assert explicit.registry_root == tmp_path / "s" and not explicit.strict_plugins
    assert explicit.datasets_dir == explicit.home / "datasets"


def test_a_bad_name_stops_the_python_job_before_any_work(tmp_path):
    context = zoo.Context.from_environment(registry=tmp_path / "registry")
    with pytest.raises(zoo.UnknownNameError, match="fbgemm-histogram"):
        zoo.quantize("mobilenet_v2", "fbgemm-histogramm", weights="random", context=context)
    assert context.registry.list() == []


@pytest.mark.parametrize("call, message", [
    (lambda c: zoo.quantize("mobilenet_v2", "fbgemm-minmax", calibration_images=-1, context=c),
     "calibration images must be a whole number from 1 to 1000000000, got -1"),
    (lambda c: zoo.quantize("mobilenet_v2", "fbgemm-minmax", eval_limit=0, context=c), "eval limit"),
    (lambda c: zoo.quantize("mobilenet_v2", "fbgemm-minmax", latency_runs=0, context=c), "latency runs"),
    (lambda c: zoo.quantize("mobilenet_v2", "fbgemm-minmax", threads=-2, context=c), "threads"),
    (lambda c: zoo.quantize("mobilenet_v2", "fbgemm-minmax", image_size=5000, context=c),
     "image size must be a whole number from 1 to 1024, got 5000"),
    (lambda c: zoo.train("mobilenet_v2", lr=0, context=c), "learning rate must be a number above 0"),
    (lambda c: zoo.train("mobilenet_v2", epochs=-1, context=c), "epochs"),
    (lambda c: zoo.train("mobilenet_v2", batch_size=0, context=c), "batch size"),
    (lambda c: zoo.load("anything", threads=0, context=c), "threads"),
], ids=["calibration", "eval-limit", "latency-runs", "threads", "image-size", "lr", "epochs", "batch", "load-threads"])
def test_python_callers_get_the_commands_bounds_before_any_work(tmp_path, call, message):
    context = zoo.Context.from_environment(registry=tmp_path / "registry")
    with pytest.raises(zoo.SettingError, match=message.replace("(", r"\(")):
        call(context)
    assert context.registry.list() == []


def test_a_registry_that_is_a_file_is_named_as_such(tmp_path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(zoo.StorageError, match="is a file, not a directory"):
        zoo.Registry(afile)
    assert zoo_cli("--registry", str(afile), "list").stderr.strip() == (
        f"Error: {afile} (--registry) is a file, not a directory: give the registry's directory")
    monkeypatch.setenv("ZOO_REGISTRY", str(afile))
    assert zoo_cli("list").stderr.strip() == (
        f"Error: {afile} (ZOO_REGISTRY) is a file, not a directory: give the registry's directory")


def test_a_python_callers_card_records_the_call_that_made_it(tmp_path):
    context = zoo.Context.from_environment(registry=tmp_path / "registry")
    made = zoo.quantize("mobilenet_v2", "fbgemm-minmax", weights="random", eval_limit=8, calibration_images=8,
                        latency_runs=2, runtimes="eager", context=context)
    assert made.card.command == ("zoo.quantize('mobilenet_v2', 'fbgemm-minmax', weights='random', calibration_images=8, "
                                    "eval_limit=8, runtimes='eager', latency_runs=2)")
    assert made.reference == f"{made.card.name}@{made.card.version}"
