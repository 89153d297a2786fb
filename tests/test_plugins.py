"""The plugin host: loading, isolation of broken plugins, strict mode, name clashes, validation."""

from __future__ import annotations

import pytest

from zoo import DatasetSpec, ModelSpec, Preset, hookimpl
from zoo.errors import PluginError, UnknownNameError
from zoo.plugins import PluginHost
from zoo.specs import Observer

from tests.conftest import BUILTIN_PLUGINS


def _model(name: str) -> ModelSpec:
    return ModelSpec(name, build=lambda n: None, description="a test model")


class AddsModel:
    def __init__(self, name: str):
        self.name = name

    @hookimpl
    def register_models(self, register):
        register(_model(self.name))


def host_with(*plugins: tuple[str, object]) -> PluginHost:
    host = PluginHost()
    for name, plugin in plugins:
        host.add(plugin, name)
    return host


def test_builtin_plugins_load_through_the_entry_point_group():
    catalog = PluginHost().catalog(strict=True)
    assert sorted(catalog.reports) == BUILTIN_PLUGINS
    assert {"mobilenet_v2", "resnet18", "tv_mobilenet_v2"} <= set(catalog.models)
    assert {"fbgemm-minmax", "fbgemm-histogram", "qnnpack-minmax", "qnnpack-histogram", "x86-histogram",
            "fbgemm-qat", "qnnpack-qat", "x86-qat", "dynamic-int8"} <= set(catalog.presets)
    assert {"fashion-mnist", "cifar10", "imagefolder"} <= set(catalog.datasets)
    assert {"conv-bn-relu", "conv-bn", "conv-relu", "linear-relu"} <= set(catalog.fusion_patterns)
    report = catalog.reports["presets"]
    assert report.package == "zoo" and report.version and report.ok
    assert report.hooks == ["register_presets"]


def test_a_plugin_that_registers_records_its_name_and_owner():
    catalog = host_with(("extra", AddsModel("tiny"))).catalog()
    assert catalog.model("tiny").name == "tiny"
    assert catalog.owner("model", "tiny") == "extra"
    assert catalog.reports["extra"].registered == {"model": ["tiny"]}


def test_zoo_plugins_env_limits_which_plugins_load(monkeypatch):
    monkeypatch.setenv("ZOO_PLUGINS", "presets")
    catalog = PluginHost().catalog()
    assert list(catalog.reports) == ["presets"]
    assert not catalog.models and catalog.presets
    monkeypatch.setenv("ZOO_PLUGINS", "")
    assert not PluginHost().catalog().reports


def test_two_plugins_registering_one_name_are_both_named():
    catalog = host_with(("first", AddsModel("same")), ("second", AddsModel("same"))).catalog()
    assert catalog.owner("model", "same") == "first"
    [error] = catalog.reports["second"].errors
    assert "'same'" in error and "'first'" in error and "'second'" in error


def test_a_clash_is_fatal_in_strict_mode():
    host = host_with(("first", AddsModel("same")), ("second", AddsModel("same")))
    with pytest.raises(PluginError, match="already registered by plugin 'first'"):
        host.catalog(strict=True)


class RaisesInHook:
    @hookimpl
    def register_presets(self, register):
        raise RuntimeError("boom")


class Misspelled:
    @hookimpl
    def register_model(self, register):  # the spec is register_models
        register(_model("never"))


class WrongArguments:
    @hookimpl
    def register_models(self, register, extra):
        pass


class RegistersTheWrongType:
    @hookimpl
    def register_datasets(self, register):
        register(_model("not-a-dataset"))


@pytest.mark.parametrize("plugin, expected", [
    (RaisesInHook(), "register_presets raised RuntimeError: boom"),
    (Misspelled(), "register_model"),
    (WrongArguments(), "extra"),
    (RegistersTheWrongType(), "registered ModelSpec where a DatasetSpec was expected"),
])
def test_a_broken_plugin_is_reported_and_the_others_keep_working(plugin, expected):
    catalog = host_with(("broken", plugin), ("good", AddsModel("fine"))).catalog()
    [error] = catalog.reports["broken"].errors
    assert expected in error
    assert "fine" in catalog.models and "mobilenet_v2" in catalog.models
    assert [r.name for r in catalog.failures()] == ["broken"]
    with pytest.raises(PluginError, match="plugin 'broken'"):
        host_with(("broken", plugin)).catalog(strict=True)


def test_a_plugin_that_fails_to_import_is_reported(monkeypatch):
    host = PluginHost()

    def sources(wanted):
        def fail():
            raise ImportError("No module named 'missing_dependency'")
        yield "importfails", fail, "zoo-importfails", "1.0"

    monkeypatch.setattr(host, "_sources", sources)
    catalog = host.catalog()
    report = catalog.reports["importfails"]
    assert report.version == "1.0"
    assert report.errors == ["failed to import: ImportError: No module named 'missing_dependency'"]


def test_unknown_names_suggest_the_closest_choice():
    catalog = PluginHost().catalog()
    with pytest.raises(UnknownNameError) as info:
        catalog.preset("fbgemm-histogam")
    message = str(info.value)
    assert "unknown preset 'fbgemm-histogam'" in message
    assert "fbgemm-minmax" in message and "did you mean 'fbgemm-histogram'?" in message


@pytest.mark.parametrize("make, message", [
    (lambda: ModelSpec("Bad Name", build=len, description="x"), "invalid model name"),
    (lambda: ModelSpec("ok", build=len, description="x", modes=("graph",)), "modes"),
    (lambda: Preset("p", "fbgemm", "static", description="x"), "needs activation and weight"),
    (lambda: Preset("p", "fbgemm", "dynamic", description="x"), "dynamic_modules"),
    (lambda: Preset("p", "fbgemm", "ptq", description="x", activation=Observer("minmax"),
                    weight=Observer("minmax")), "method must be one of"),
    (lambda: Preset("p", "fbgemm", "static", description="two\nlines", activation=Observer("minmax"),
                    weight=Observer("minmax")), "one-line description"),
    (lambda: Observer("median"), "unknown observer kind"),
    (lambda: DatasetSpec("d", build=len, description="x", num_classes=None, image_size=8), "count_classes"),
    (lambda: DatasetSpec("d", build=len, description="x", num_classes=2, image_size=8, channels=1), "mean and std"),
])
def test_specs_reject_invalid_registrations(make, message):
    with pytest.raises(ValueError, match=message):
        make()
