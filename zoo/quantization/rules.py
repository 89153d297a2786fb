"""Per-module rules: which of a model's modules a rule decides, resolved once, before any long step.

A rule (``zoo.core.specs.ModuleRule``) names modules by path, by regex over
paths, or by class. ``resolve`` turns rules into a plan, ``(module path, rule
index)`` for every module a rule matches directly, refusing a rule that
matches nothing with the closest module paths. The plan is what backends apply
(``Preset.module_settings``) and what config.json stores, so a stored model is
rebuilt from module paths alone: a downloaded file's patterns are never run.

Paths are those of the float model as its plugin builds it, before fusion;
where fusion merges modules (conv + batch norm + ReLU), the merged module takes
the rule of its first one, in every backend.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence

from torch import nn

from zoo.core.errors import SettingError
from zoo.core.specs import ModuleRule, Preset

# Characters that make a bare --float-module value a regex rather than a module path.
REGEX_CHARACTERS = set("*+?[](){}|^$\\")
NEAREST = 5


def parse_selector(text: str, module_names: Sequence[str]) -> tuple[str, str]:
    """(match, pattern) for what a user wrote: ``type:CLASS``, ``re:REGEX``, a module path, or a bare regex.

    Raises:
        SettingError: a bare value that is neither one of ``module_names`` nor a regex (naming the closest paths).
    """
    if text.startswith("type:"):
        return "type", text.removeprefix("type:")
    if text.startswith("re:"):
        return "regex", text.removeprefix("re:")
    if text in module_names:
        return "name", text
    if REGEX_CHARACTERS & set(text):
        return "regex", text
    raise SettingError(f"the model has no module {text!r}; closest: {_closest(text, module_names)} "
                       "(a regex: re:PATTERN; a class: type:torch.nn.Linear; `zoo explain` lists layer names)")


def module_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_modules() if name]


def resolve(model: nn.Module, rules: Sequence[ModuleRule], catalog) -> tuple[tuple[str, int], ...]:
    """The plan for ``rules`` on ``model`` (a float model as its plugin builds it): (module path, index of the
    deciding rule) for each module some rule matches, in module order.

    Of the rules matching one module, name beats regex beats type, and the first of several regexes wins (torch.ao's
    QConfigMapping order).

    Raises:
        SettingError: a rule matches no module, or names a module twice (one line, with the closest paths).
        IncompatibleError: a type rule names a class no installed plugin registers.
    """
    modules = {name: module for name, module in model.named_modules() if name}
    names = list(modules)
    rank = {"name": 0, "regex": 1, "type": 2}
    chosen: dict[str, tuple[int, int]] = {}  # module path -> (rank, rule index)
    named: set[str] = set()
    for index, rule in enumerate(rules):
        matched = _matches(rule, modules, catalog)
        if not matched:
            closest = f"; closest paths: {_closest(rule.pattern, names)}" if rule.match == "name" else \
                " (`zoo explain` lists its layers' paths)"
            raise SettingError(f"module rule {rule.selector} matches no module of {type(model).__name__}{closest}")
        if rule.match == "name":
            if rule.pattern in named:
                raise SettingError(f"module {rule.pattern!r} has two rules; give one")
            named.add(rule.pattern)
        for name in matched:
            key = (rank[rule.match], index)  # the lower wins: by kind, then the first given
            if name not in chosen or key < chosen[name]:
                chosen[name] = key
    return tuple((name, chosen[name][1]) for name in names if name in chosen)


def _matches(rule: ModuleRule, modules: dict[str, nn.Module], catalog) -> list[str]:
    if rule.match == "name":
        return [rule.pattern] if rule.pattern in modules else []
    if rule.match == "regex":
        pattern = re.compile(rule.pattern)
        return [name for name in modules if pattern.match(name)]
    cls = catalog.module_type(rule.pattern)
    return [name for name, module in modules.items() if type(module) is cls]


def with_rules(preset: Preset, rules: Sequence[ModuleRule], model: nn.Module, catalog) -> Preset:
    """``preset`` with ``rules`` added after its own, and the plan resolved on ``model``."""
    import dataclasses

    every = (*preset.module_rules, *rules)
    if not every:
        return preset
    return dataclasses.replace(preset, module_rules=every, module_plan=resolve(model, every, catalog))


def rule_for(selector: str, preset: Preset | None, names: Sequence[str], base: Preset) -> ModuleRule:
    """The rule a user wrote: ``selector``'s modules in float (``preset`` None) or with ``preset``'s observers.

    Raises:
        SettingError: ``preset`` is not of ``base``'s method and engine, or ``selector`` names no module.
    """
    match, pattern = parse_selector(selector, names)
    try:
        if preset is None:
            return ModuleRule(match, pattern)
        if (preset.method, preset.engine) != (base.method, base.engine):
            raise SettingError(f"--module-preset {selector}={preset.name}: preset '{preset.name}' is "
                               f"{preset.method} on {preset.engine}, the model's preset '{base.name}' "
                               f"{base.method} on {base.engine}; choose one of the same method and engine")
        return ModuleRule(match, pattern, preset.activation, preset.weight, preset=preset.name)
    except ValueError as exc:
        raise SettingError(str(exc)) from None


def _closest(text: str, names: Iterable[str]) -> str:
    found = difflib.get_close_matches(text, list(names), n=NEAREST, cutoff=0)
    return ", ".join(found) if found else "(the model has no modules)"
