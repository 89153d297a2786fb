"""The table `zoo quantize` prints: float versus int8 on the same images."""

from __future__ import annotations

from typing import TYPE_CHECKING

from zoo.cli import tables

if TYPE_CHECKING:
    from zoo_registry.schema import Card, Latency, Load

METHOD_NAMES = {"static": "static PTQ", "qat": "QAT", "dynamic": "dynamic"}


def how_agreed(agreed: dict) -> str:
    """The rule ``zoo.evaluation.agreement`` applied, in words."""
    if agreed.get("step"):
        return f"ties within one output step ({agreed['step']:.3g}) counted as agreeing"
    return "outputs not quantized: plain top-class agreement"


def _ms(latency: Latency | None) -> tuple[str, str]:
    return (f"{latency.p50_ms:.2f} ms", f"{latency.p90_ms:.2f} ms") if latency else ("", "")


def _runtime(latency: Latency | None) -> str:
    return (latency.runtime or "eager") if latency else ""


def _how_made(card: Card) -> str:
    if card.published:
        return f"pre-quantized weights {card.published.get('source')}; {card.published.get('figures')}"
    if card.calibration:
        c = card.calibration
        return f"calibrated on {c.get('images')} {c.get('split')} images"
    if card.qat:
        r = card.qat["recipe"]
        return (f"QAT: {r['epochs']} epochs x {r['batches_per_epoch']} batches of {r['batch_size']}, lr {r['lr']}, "
                f"BN frozen after epoch {r['freeze_bn_after']}, observers after epoch {r['freeze_observers_after']}")
    return "weights quantized ahead, activations at run time"


def _search_lines(search: dict | None) -> list[str]:
    """The recipe search's trace: each candidate's validation top-1 and drop from float, and what was chosen."""
    if not search:
        return []
    validation = search["validation"]
    lines = ["", f"recipe search (--preset auto, engine {search.get('engine')}): budget {search['max_drop']} pt top-1 "
                 f"below float on {validation['images']} validation images carved from the train split (float "
                 f"{validation['float_top1']:.2f} %)"]
    rows = []
    for index, step in enumerate(search["trace"]):
        if "skipped" in step:
            rows.append(["", step["step"], "skipped", "", step["skipped"]])
            continue
        chosen = "*" if index == search["chosen"] else ""
        kept = ", ".join(step["float_modules"]) or "-"
        how = step["step"] if not step.get("equalize") or step["step"] == "equalized" else f"equalized, {step['step']}"
        rows.append([chosen, f"{step['preset']} ({how})", tables.percent(step["top1"]),
                     f"{0.0 - step['drop']:+.2f} pt", kept])
    lines.append(tables.render(["*", "candidate", "val top-1", "change", "modules in float"], rows,
                               align_right=(2, 3)))
    lines.append("* chosen: the first within budget" if search["met"] else
                 f"* chosen: none was within budget; the best misses it by {search.get('missed_by')} pt")
    return lines


def comparison(card: Card) -> str:
    """A header, the float/int8 table, the runtimes compared, and the lines that say how it was measured, for an
    int8 card with a float baseline."""
    base, int8 = card.baseline, card.metrics
    assert base is not None, "comparison() needs a card with a float baseline"
    ds = card.dataset
    parent = card.parent or {}
    method = card.method or ""
    lines = [
        f"{card.arch} · {card.preset} ({METHOD_NAMES.get(method, method)}, backend {card.backend_name}, "
        f"engine {card.engine}) · {ds.name} {ds.split} split, {ds.images} images at {ds.image_size}x{ds.image_size}",
        f"float weights: {parent.get('name')} — {parent.get('source')}"
        + (f", made by `{parent['recipe']}`" if parent.get("recipe") else ""),
        f"int8: {_how_made(card)}",
        *(f"note: {note}" for note in card.preset_notes or ()),
        *(["cross-layer equalization of the fused float model before quantization"] if card.equalize else []),
        *(f"module rule: {rule.modules} -> {rule.setting} ({rule.decided} module{'s' if rule.decided != 1 else ''})"
          for rule in card.module_rules or ()),
        "",
    ]
    rows = [["float", tables.percent(base.top1), tables.percent(base.top5), tables.megabytes(base.size_bytes),
             _runtime(base.latency), *_ms(base.latency)]]
    if card.fused_baseline:
        fused = card.fused_baseline
        rows.append(["fused float", tables.percent(fused.top1), tables.percent(fused.top5), "", "", "", ""])
    rows.append(["int8", tables.percent(int8.top1), tables.percent(int8.top5), tables.megabytes(int8.size_bytes),
                 _runtime(int8.latency), *_ms(int8.latency)])
    rows.append(["change", f"{int8.top1 - base.top1:+.2f} pt", f"{int8.top5 - base.top5:+.2f} pt",
                 size_change(base.size_bytes, int8.size_bytes), "", _speed_change(card), ""])
    lines.append(tables.render(["model", "top-1", "top-5", "size", "runtime", "latency p50", "p90"], rows,
                               align_right=(1, 2, 3, 5, 6)))
    lines += _runtime_lines(card)
    if int8.ties is not None and base.ties is not None:
        lines.append(f"ties for the top class: float {base.ties:.2f} %, int8 {int8.ties:.2f} % of images; top-1 "
                     "and top-5 count a k-way tie as the fraction of tied classes that fit")
    latency = int8.latency
    if latency:
        lines += ["", f"latency: median and p90 of {latency.runs} runs after warm-up, batch {latency.batch_size}, "
                      f"{latency.threads} thread(s), runtimes interleaved in random order, each timed call warm; "
                      f"CPU: {latency.cpu}"]
    lines += _search_lines(card.search)
    lines += [*_load_lines(card.load), f"wall time: {card.wall_s} s"]
    return "\n".join(lines)


def size_change(float_bytes: int, int8_bytes: int) -> str:
    """"3.47x smaller", or "1.28x larger" when the int8 file outweighs the float one (a tiny model, whose
    quantization parameters cost more than the bytes they save)."""
    if int8_bytes <= float_bytes:
        return f"{float_bytes / int8_bytes:.2f}x smaller"
    return f"{int8_bytes / float_bytes:.2f}x larger"


def _speed_change(card: Card) -> str:
    speedup = card.speedup
    if speedup is None:
        base = card.baseline.latency if card.baseline else None
        int8 = card.metrics.latency
        if not base or not int8 or not int8.p50_ms:
            return ""
        speedup = base.p50_ms / int8.p50_ms
    return f"{speedup:.2f}x faster" if speedup >= 1 else f"{1 / speedup:.2f}x slower"


def _runtime_lines(card: Card) -> list[str]:
    """Every runtime's p50 for float and int8, which was fastest, and what could not be measured."""
    runtimes = card.runtimes
    if not runtimes:
        return []
    sides = {"float": runtimes.float, "int8": runtimes.int8}
    names = list(dict.fromkeys([*runtimes.float, *runtimes.int8]))
    fastest = runtimes.fastest

    def cell(side: str, name: str) -> str:
        timing = sides[side].get(name)
        if timing is None:
            return "-"
        return f"{timing.p50_ms:.2f} ms" + (" *" if fastest.get(side) == name else "")

    rows = [[name, cell("float", name), cell("int8", name)] for name in names]
    lines = ["", "p50 by runtime (* fastest):", tables.render(["runtime", "float", "int8"], rows, align_right=(1, 2))]
    for side in ("float", "int8"):
        for name, why in runtimes.skipped.get(side, {}).items():  # type: ignore[call-overload]
            lines.append(f"{side} not timed in {name}: {why}")
    speedup = card.speedup
    if speedup is not None and speedup < 1 and card.baseline:
        lines.append(f"int8 is slower than float on this CPU: its fastest runtime ({fastest.get('int8')}) takes "
                     f"{1 / speedup:.2f}x as long as float in {fastest.get('float')}; the int8 model is "
                     f"{size_change(card.baseline.size_bytes, card.metrics.size_bytes)}")
    elif speedup is not None:
        lines.append(f"speed-up: int8 in {fastest.get('int8')} against float in {fastest.get('float')}, "
                     "the fastest of each")
    checked = card.metrics.in_runtime
    if checked:
        agreed = checked.agreement_with_eager
        lines.append(f"int8 in {checked.runtime}: top-1 {checked.top1:.2f} %, top-5 {checked.top5:.2f} %; "
                     f"top class agrees with eager on {agreed.top1:.2f} % of the images "
                     f"({how_agreed(agreed.to_dict())}), largest logit difference {agreed.max_abs_diff:.3g}")
    return lines


def _load_lines(load: Load | None) -> list[str]:
    if not load or load.other_cpus is None:
        return []
    if load.busy:
        return [f"WARNING: the machine was busy while timing: other processes used {load.other_cpus:.2f} of "
                f"{load.cpus} CPUs on average; these latencies are not what an idle machine gives"]
    return [f"other processes used {load.other_cpus:.2f} of {load.cpus} CPUs while timing"]
