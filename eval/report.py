"""Reports: the JSON file ``r1train eval`` writes, the table it prints, and the ``compare`` markdown view.

A report is one JSON object::

    {"model": …, "source": …, "engine": …, "settings": {samples, temperature, …},
     "benchmarks": {name: {source, template, verifier, …}},
     "results": {name: {"pass@1": …, "pass@1/stderr": …, "pass@8": …, "maj@8": …, "length/mean": …, …}},
     "records": {name: [{index, question, answer, completions, extracted, correct, …}, …]}}

Rates are fractions in the JSON (0.456) and percentages in the table and the markdown (45.6).

Use::

    write(report, "base.json");  print(table(report))
    print(compare([read("base.json"), read("trained.json")], ["base", "trained"]))
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from r1train.errors import UserError

RATE = re.compile(r"^(pass@\d+|maj@\d+|length/truncated|level/.+/pass@1)$")


def clean(value: Any) -> Any:
    """Plain JSON data: NaN and infinities become null (recursively)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def write(report: dict[str, Any], path: str | Path) -> Path:
    p = Path(path).expanduser()
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(clean(report), indent=1, ensure_ascii=False) + "\n")
    return p


def read(path: str | Path) -> dict[str, Any]:
    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"report {str(path)!r} does not exist; give a JSON file written by `r1train eval --output`")
    try:
        data = json.loads(p.read_text())
    except json.JSONDecodeError as exc:
        raise UserError(f"report {str(path)!r} is not valid JSON ({exc.msg}); give a file written by `r1train eval`") from None
    if not isinstance(data, dict) or not isinstance(data.get("results"), dict):
        raise UserError(f"report {str(path)!r} has no 'results'; give a file written by `r1train eval`")
    return data


def fmt(key: str, value: Any) -> str:
    """A metric for people: rates as percentages with one decimal, others with one decimal."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int) and not RATE.match(key):
        return str(value)
    if RATE.match(key):
        return f"{100 * value:.1f}"
    return f"{value:.1f}"


def _pass1(res: dict[str, Any]) -> str:
    p, se = res.get("pass@1"), res.get("pass@1/stderr")
    if p is None:
        return "-"
    return f"{100 * p:.1f} ± {100 * se:.1f}" if se else f"{100 * p:.1f}"


def table(report: dict[str, Any]) -> str:
    """A plain-text table of one report: a row per benchmark (and per level), rates in percent."""
    head = ["benchmark", "problems", "n", "pass@1 ± se", "pass@k", "maj@k", "length", "trunc %", "problems/s"]
    rows = [head]
    for name, res in report["results"].items():
        n = res.get("samples", 1)
        top = max((int(k[5:]) for k in res if k.startswith("pass@") and k[5:].isdigit()), default=1)
        rows.append(
            [
                name,
                str(res.get("problems", 0)),
                str(n),
                _pass1(res),
                f"{fmt(f'pass@{top}', res.get(f'pass@{top}'))} @{top}" if top > 1 else "-",
                f"{fmt(f'maj@{n}', res.get(f'maj@{n}'))} @{n}" if f"maj@{n}" in res else "-",
                fmt("length/mean", res.get("length/mean")),
                fmt("length/truncated", res.get("length/truncated")),
                fmt("problems_per_s", res.get("problems_per_s")) if res.get("problems_per_s") is not None else "-",
            ]
        )
        for key in res:
            m = re.match(r"^level/(.+)/pass@1$", key)
            if m:
                rows.append([f"  level {m.group(1)}", str(res.get(f"level/{m.group(1)}/problems", "")), "", fmt(key, res[key])] + [""] * 5)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def labels_for(reports: Sequence[dict[str, Any]], paths: Sequence[str]) -> list[str]:
    """Column names: each report's model, or its file name where models repeat."""
    models = [str(r.get("label") or r.get("model") or Path(p).stem) for r, p in zip(reports, paths)]
    if len(set(models)) == len(models):
        return models
    return [Path(p).stem for p in paths]


def compare(reports: Sequence[dict[str, Any]], labels: Sequence[str]) -> str:
    """Two or more reports side by side as a markdown table; with two, a Δ column (second minus first)."""
    if len(reports) < 2:
        raise UserError("compare needs at least two reports, e.g. r1train compare base.json trained.json")
    delta = len(reports) == 2
    head = ["benchmark", "metric", *labels] + (["Δ"] if delta else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---", "---"] + ["---:"] * (len(head) - 2)) + "|"]
    benches: list[str] = []
    for r in reports:
        benches += [b for b in r["results"] if b not in benches]
    for bench in benches:
        results = [r["results"].get(bench, {}) for r in reports]
        keys: list[str] = []
        for res in results:
            keys += [k for k in _shown(res) if k not in keys]
        keys.sort(key=_key_order)
        for key in keys:
            values = [res.get(key) for res in results]
            cells = [_pass1(res) if key == "pass@1" else fmt(key, v) for res, v in zip(results, values)]
            row = [bench, key, *cells]
            if delta:
                a, b = values
                row.append("-" if a is None or b is None else _signed(key, b - a))
            lines.append("| " + " | ".join(row) + " |")
    notes = _settings_notes(reports, labels)
    return "\n".join(lines) + ("\n\n" + notes if notes else "")


def _shown(res: dict[str, Any]) -> list[str]:
    return [k for k in res if re.match(r"^(pass@\d+|maj@\d+|length/mean|length/truncated|level/.+/pass@1)$", k)]


def _key_order(key: str) -> tuple[int, float, str]:
    m = re.match(r"^(pass|maj)@(\d+)$", key)
    if m:
        return (0 if m.group(1) == "pass" else 1, float(m.group(2)), key)
    if key.startswith("length/"):
        return (2, 0.0, key)
    return (3, 0.0, key)


def _signed(key: str, diff: float) -> str:
    return f"{100 * diff:+.1f}" if RATE.match(key) else f"{diff:+.1f}"


def _settings_notes(reports: Sequence[dict[str, Any]], labels: Sequence[str]) -> str:
    """One line per report with its sampling settings (numbers are comparable only when these agree)."""
    out = []
    for r, label in zip(reports, labels):
        s = r.get("settings") or {}
        if s:
            out.append(
                f"- {label}: {r.get('model', '?')}, engine {r.get('engine', '?')}, n={s.get('samples')}, "
                f"temperature {s.get('temperature')}, top_p {s.get('top_p')}"
            )
    return "\n".join(out)
