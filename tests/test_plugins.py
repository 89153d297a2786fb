"""The plugin host: loading, isolation of broken plugins, strict mode, name clashes, validation."""

from __future__ import annotations

import json
import sys

import pytest
from click.testing import CliRunner

from tests import fake_plugins
from tests.conftest import BUILTIN_PLUGINS
from zoo import DatasetSpec, ModelSpec, Preset, hookimpl
from zoo.core.errors import PluginError, UnknownNameError
from zoo.core.specs import Observer
from zoo.host.plugins import PluginHost


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
    monkeypatch.setenv("ZOO_PLUGINS", "presets,backends,module_types")
    catalog = PluginHost().catalog()
    assert sorted(catalog.reports) == ["backends", "module_types", "presets"]
    assert not catalog.models and catalog.presets and not catalog.failures()
    # Presets need a backend that applies them: alone, each is refused and says why.
    monkeypatch.setenv("ZOO_PLUGINS", "presets")
    alone = PluginHost().catalog()
    assert not alone.presets
    assert "no installed plugin provides a backend with engine 'fbgemm'" in alone.reports["presets"].errors[0]
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
    (Misspelled(), "unknown hook 'register_model' (did you mean 'register_models'?)"),
    (WrongArguments(), "register_models() asks for 'extra', but the hook passes only 'register'"),
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
    (lambda: ModelSpec("ok", build=len, description="x", backends=()), "backends must be None or a non-empty"),
    (lambda: ModelSpec("ok", build=len, description="x", backends=("Graph",)), "invalid backend name"),
    (lambda: Preset("p", "fbgemm", "static", description="x"), "needs activation and weight"),
    (lambda: Preset("p", "fbgemm", "dynamic", description="x"), "dynamic_modules"),
    (lambda: Preset("p", "fbgemm", "ptq", description="x", activation=Observer("minmax"),
                    weight=Observer("minmax")), "method must be one of"),
    (lambda: Preset("p", "fbgemm", "static", description="two\nlines", activation=Observer("minmax"),
                    weight=Observer("minmax")), "one-line description"),
    (lambda: Observer("median"), "unknown observer kind"),
    (lambda: Observer("minmax", quant_min=0), "give both quant_min and quant_max"),
    (lambda: Observer("minmax", quant_min=10, quant_max=10), "need 0 <= quant_min < quant_max <= 255"),
    (lambda: Observer("minmax", dtype="qint8", quant_min=-200, quant_max=127), "need -128 <= quant_min"),
    (lambda: Preset("p", "fbgemm", "static", description="x", activation=Observer("per_channel_minmax"),
                    weight=Observer("minmax", dtype="qint8")), "not a per-channel observer"),
    (lambda: Preset("p", "fbgemm", "static", description="x", activation=Observer("minmax", dtype="qint8"),
                    weight=Observer("minmax", dtype="qint8")), "activations must be quint8"),
    (lambda: Preset("p", "fbgemm", "static", description="x", activation=Observer("minmax"),
                    weight=Observer("minmax")), "weights must be qint8"),
    (lambda: DatasetSpec("d", build=len, description="x", num_classes=None, image_size=8), "count_classes"),
    (lambda: DatasetSpec("d", build=len, description="x", num_classes=2, image_size=8, channels=1), "mean and std"),
])
def test_specs_reject_invalid_registrations(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ------------------------------------------------- plugins installed as packages, seen through the CLI


@pytest.fixture()
def site(tmp_path, monkeypatch):
    """A directory on sys.path to install fake plugin packages into; their modules are forgotten afterwards."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    yield site
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", None) or "").startswith(str(site)):
            del sys.modules[name]


def load_only(monkeypatch, *names: str) -> None:
    monkeypatch.setenv("ZOO_PLUGINS", ",".join([*BUILTIN_PLUGINS, *names]))


def zoo(*args: str):
    from zoo.cli import main

    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_installed_plugins_that_break_are_reported_while_the_others_work(site, monkeypatch):
    fake_plugins.install(site, "zoo-good", "1.2.0", {"good_plugin": fake_plugins.registers_model("goodnet")},
                         {"good": "good_plugin"})
    fake_plugins.install(site, "zoo-needs-more", "0.3.0", {"needs_more": fake_plugins.RAISES_AT_IMPORT},
                         {"needs_more": "needs_more"})
    fake_plugins.install(site, "zoo-corrupt", "2.0.0", {"corrupt_plugin": fake_plugins.RAISES_IN_HOOK},
                         {"corrupt": "corrupt_plugin"})
    load_only(monkeypatch, "good", "needs_more", "corrupt")

    listed = zoo("plugins", "--json")
    assert listed.exit_code == 0, listed.output
    reports = {r["name"]: r for r in json.loads(listed.stdout)}
    assert reports["good"] | {"hooks": None} == {
        "name": "good", "package": "zoo-good", "version": "1.2.0", "hooks": None,
        "registered": {"model": ["goodnet"]}, "errors": []}
    assert reports["needs_more"]["errors"] == [
        "failed to import: ModuleNotFoundError: No module named 'a_dependency_nobody_installed'"]
    assert reports["corrupt"]["errors"] == ["register_presets raised RuntimeError: the preset table is corrupt"]
    assert all(reports[name]["errors"] == [] for name in BUILTIN_PLUGINS)

    table = zoo("plugins")
    assert "FAILED: failed to import: ModuleNotFoundError" in table.stdout

    models = zoo("models")
    assert models.exit_code == 0
    assert {"goodnet", "mobilenet_v2"} <= {line.split()[0] for line in models.stdout.splitlines()[2:]}
    assert "Warning: plugin 'needs_more' failed: failed to import" in models.stderr


@pytest.mark.parametrize("command", [["models"], ["quantize", "mobilenet_v2", "--preset", "fbgemm-minmax", "--weights",
                                                   "random", "--eval-limit", "8", "--runtimes", "eager"]],
                         ids=["listing", "job"])
@pytest.mark.parametrize("strict", [["--strict-plugins"], ["ZOO_STRICT_PLUGINS=1"]], ids=["option", "env"])
def test_strict_mode_makes_a_broken_installed_plugin_fatal(site, monkeypatch, strict, command):
    fake_plugins.install(site, "zoo-needs-more", "0.3.0", {"needs_more": fake_plugins.RAISES_AT_IMPORT},
                         {"needs_more": "needs_more"})
    load_only(monkeypatch, "needs_more")
    options = strict if strict[0].startswith("--") else []
    if not options:
        monkeypatch.setenv(*strict[0].split("="))
    result = zoo(*options, *command)
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        "Error: plugin 'needs_more': failed to import: ModuleNotFoundError: "
        "No module named 'a_dependency_nobody_installed'"]
    assert result.stdout == ""


@pytest.mark.parametrize("source, message", [
    (fake_plugins.MISSPELLED_HOOK, "unknown hook 'register_model' (did you mean 'register_models'?)"),
    (fake_plugins.UNMARKED_HOOK, "register_presets not marked with @zoo.hookimpl, so zoo would never call it"),
], ids=["misspelled", "unmarked"])
def test_a_hook_zoo_would_never_call_is_caught_at_load_with_the_plugin_name(site, monkeypatch, source, message):
    fake_plugins.install(site, "zoo-sloppy", "0.1.0", {"sloppy": source}, {"sloppy": "sloppy"})
    load_only(monkeypatch, "sloppy")
    reports = {r["name"]: r for r in json.loads(zoo("plugins", "--json").stdout)}
    assert message in reports["sloppy"]["errors"][0]
    assert reports["sloppy"]["hooks"] == []
    strict = zoo("--strict-plugins", "plugins")
    assert strict.exit_code == 2
    [line] = strict.stderr.splitlines()
    assert line.startswith("Error: plugin 'sloppy': ") and message in line


def test_a_clash_with_a_builtin_is_blamed_on_the_newcomer_whatever_the_path_order(site, monkeypatch):
    # site is first on sys.path, so importlib.metadata meets this package before zoo itself.
    fake_plugins.install(site, "zoo-mine", "1.0.0", {"mine": fake_plugins.registers_preset("fbgemm-histogram")},
                         {"mine": "mine"})
    load_only(monkeypatch, "mine")
    catalog = PluginHost().catalog()
    assert catalog.owner("preset", "fbgemm-histogram") == "presets"
    assert catalog.reports["presets"].ok
    assert catalog.reports["mine"].errors == [
        "preset 'fbgemm-histogram' from plugin 'mine' (package zoo-mine) is already registered by "
        "plugin 'presets' (package zoo)"]


def test_two_packages_with_one_plugin_name_are_both_named(site, monkeypatch):
    fake_plugins.install(site, "zoo-alpha", "1.0.0", {"alpha": fake_plugins.registers_model("alphanet")},
                         {"nets": "alpha"})
    fake_plugins.install(site, "zoo-beta", "1.0.0", {"beta": fake_plugins.registers_model("betanet")},
                         {"nets": "beta"})
    load_only(monkeypatch, "nets")
    catalog = PluginHost().catalog()
    assert catalog.owner("model", "alphanet") == "nets" and "betanet" not in catalog.models
    assert catalog.reports["nets (zoo-beta)"].errors == [
        "plugin name 'nets' is already taken by plugin 'nets' (package zoo-alpha); "
        "rename the entry point in one of the two packages"]
    with pytest.raises(PluginError, match=r"plugin 'nets \(zoo-beta\)': plugin name 'nets' is already taken"):
        PluginHost().catalog(strict=True)


def test_zoo_plugins_naming_a_plugin_that_is_not_installed_is_reported(monkeypatch):
    load_only(monkeypatch, "exmaple")
    catalog = PluginHost().catalog()
    assert catalog.reports["exmaple"].errors == [
        "ZOO_PLUGINS names it, but no installed package has a 'zoo' entry point of that name"]
    assert [r.name for r in catalog.failures()] == ["exmaple"]
    with pytest.raises(PluginError, match="plugin 'exmaple': ZOO_PLUGINS names it"):
        PluginHost().catalog(strict=True)


@pytest.mark.parametrize("activation, refused", [
    (Observer("histogram"), True),  # 0..255 on fbgemm: its 16-bit pair sums saturate without VNNI
    (Observer("histogram", reduce_range=True), False),
    (Observer("histogram", quant_min=0, quant_max=127), False),
])
def test_a_preset_the_engine_would_compute_wrongly_is_refused_when_it_registers(activation, refused):
    class Plugin:
        @hookimpl
        def register_presets(self, register):
            register(Preset("wide-fbgemm", "fbgemm", "static", description="8-bit activations on fbgemm",
                            activation=activation, weight=Observer("per_channel_minmax", dtype="qint8",
                                                                    symmetric=True)))

    catalog = host_with(("wide", Plugin())).catalog()
    assert ("wide-fbgemm" not in catalog.presets) == refused
    errors = catalog.reports["wide"].errors
    if refused:
        assert errors == ["preset 'wide-fbgemm' would compute wrongly with backend 'eager': engine fbgemm needs "
                          "7-bit activations (quant_min=0, quant_max=127, or reduce_range=True); the preset's "
                          "activations span 0..255"]
    else:
        assert errors == []
