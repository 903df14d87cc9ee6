"""Turning measurements into ratios, target checks, a stdout table, a JSON file and a PNG."""

from __future__ import annotations

import json
import os
from typing import Any

BASELINE = "keras"


def spe_label(spe: int) -> str:
    """steps_per_execution as the tables show it: 0 is compile()'s default (not given)."""
    return "default" if spe == 0 else str(spe)
# Issue 7's targets, checked (not asserted) in every report.
RATIO_TARGET = 0.95  # (a), (b) steps/s >= 0.95 x (c) at every setting
TTFS_TARGET = 1.5  # time to first step <= 1.5 x (c)'s
ESTIMATOR_TARGETS = {"mlp_classifier": 5.0, "bench": 1.1}  # x tf.estimator's steps/s


def _median(result: dict, metric: str) -> float | None:
    value = result.get(metric)
    return value.get("median") if isinstance(value, dict) else None


def _div(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def compute_ratios(results: list[dict]) -> list[dict]:
    """Per workload and setting: every implementation against the plain-Keras baseline
    (steps/s, evaluate and predict examples/s: > 1 is faster; time to first step: < 1 is
    faster), and the metrics case's evaluate throughput with metrics over without."""
    by_setting: dict[tuple, dict[str, dict]] = {}
    for r in results:
        by_setting.setdefault((r["workload"], r["steps_per_execution"], r["jit_compile"]),
                              {})[r["impl"]] = r
    ratios = []
    for (workload, spe, jit), impls in by_setting.items():
        base_name = BASELINE if BASELINE in impls else ("metrics0" if "metrics0" in impls else None)
        if base_name is None:
            continue
        base = impls[base_name]
        for impl, r in impls.items():
            if impl == base_name:
                continue
            ratios.append({
                "workload": workload, "steps_per_execution": spe, "jit_compile": jit,
                "impl": impl, "vs": base_name,
                "train_steps_per_s": _div(_median(r, "train_steps_per_s"),
                                          _median(base, "train_steps_per_s")),
                "eval_examples_per_s": _div(_median(r, "eval_examples_per_s"),
                                            _median(base, "eval_examples_per_s")),
                "predict_examples_per_s": _div(_median(r, "predict_examples_per_s"),
                                               _median(base, "predict_examples_per_s")),
                "time_to_first_step_s": _div(_median(r, "time_to_first_step_s"),
                                             _median(base, "time_to_first_step_s")),
            })
    return ratios


def check_targets(results: list[dict], ratios: list[dict], estimator: dict | None) -> list[dict]:
    """Each issue target with the measured value and whether it was met on this run."""
    checks = []
    for q in ratios:
        if q["vs"] != BASELINE:
            continue
        where = (f"{q['workload']} {q['impl']} spe={spe_label(q['steps_per_execution'])} "
                 f"jit={q['jit_compile']}")
        if q["train_steps_per_s"] is not None:
            checks.append({"target": f"steps/s >= {RATIO_TARGET} x plain Keras", "where": where,
                           "value": q["train_steps_per_s"],
                           "met": q["train_steps_per_s"] >= RATIO_TARGET})
        if q["time_to_first_step_s"] is not None:
            checks.append({"target": f"time to first step <= {TTFS_TARGET} x plain Keras",
                           "where": where, "value": q["time_to_first_step_s"],
                           "met": q["time_to_first_step_s"] <= TTFS_TARGET})
    cases = (estimator or {}).get("cases") or {}
    for workload, factor in ESTIMATOR_TARGETS.items():
        est = _median(cases.get(workload, {}), "train_steps_per_s")
        if est is None:
            continue
        for r in results:
            if r["workload"] == workload and r["impl"] != BASELINE:
                value = _div(_median(r, "train_steps_per_s"), est)
                checks.append({
                    "target": f"steps/s >= {factor} x tf.estimator", "where": r["key"],
                    "value": value, "met": value is not None and value >= factor})
    return checks


def _fmt(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def format_table(results: list[dict], ratios: list[dict], estimator: dict | None) -> str:
    """Plain-text tables (medians over repetitions), one block per workload."""
    ratio_of = {(q["workload"], q["steps_per_execution"], q["jit_compile"], q["impl"]): q
                for q in ratios}
    lines = []
    header = (f"{'impl':<26} {'spe':>7} {'jit':>5} {'steps/s':>9} {'x(c)':>5} {'1st step s':>10} "
              f"{'x(c)':>5} {'eval ex/s':>10} {'x(c)':>5} {'pred ex/s':>10} {'x(c)':>5} "
              f"{'dRSS MiB':>8}")
    for workload in dict.fromkeys(r["workload"] for r in results):
        rows = [r for r in results if r["workload"] == workload]
        lines.append("")
        lines.append(f"== {workload} (batch {rows[0]['batch_size']}) ==")
        lines.append(header)
        for r in sorted(rows, key=lambda r: (r["steps_per_execution"], r["jit_compile"])):
            q = ratio_of.get((workload, r["steps_per_execution"], r["jit_compile"], r["impl"]), {})
            lines.append(
                f"{r['label']:<26} {spe_label(r['steps_per_execution']):>7} {str(r['jit_compile']):>5} "
                f"{_fmt(_median(r, 'train_steps_per_s')):>9} "
                f"{_fmt(q.get('train_steps_per_s'), 2):>5} "
                f"{_fmt(_median(r, 'time_to_first_step_s'), 2):>10} "
                f"{_fmt(q.get('time_to_first_step_s'), 2):>5} "
                f"{_fmt(_median(r, 'eval_examples_per_s')):>10} "
                f"{_fmt(q.get('eval_examples_per_s'), 2):>5} "
                f"{_fmt(_median(r, 'predict_examples_per_s')):>10} "
                f"{_fmt(q.get('predict_examples_per_s'), 2):>5} "
                f"{_fmt((r.get('memory') or {}).get('rss_delta_mb'), 1):>8}")
    if estimator:
        lines.append("")
        if estimator.get("error"):
            lines.append(f"tf.estimator: not measured: {estimator['error']}")
        else:
            lines.append(f"== tf.estimator (TF {estimator.get('tensorflow')}, separate process) ==")
            lines.append(f"{'workload':<16} {'steps/s':>9} {'1st step s':>10} {'eval ex/s':>10} "
                         f"{'pred ex/s':>10}")
            cases = estimator.get("cases") or {}
            for name, c in cases.items():
                lines.append(f"{name:<16} {_fmt(_median(c, 'train_steps_per_s')):>9} "
                             f"{_fmt(_median(c, 'time_to_first_step_s'), 2):>10} "
                             f"{_fmt(_median(c, 'eval_examples_per_s')):>10} "
                             f"{_fmt(_median(c, 'predict_examples_per_s')):>10}")
            lines.append("")
            lines.append("keras-spec training steps/s over tf.estimator's (same model_fn source):")
            for r in results:
                est = _median(cases.get(r["workload"], {}), "train_steps_per_s")
                if est and r["impl"] != BASELINE and r.get("train_steps_per_s"):
                    lines.append(f"  {r['key']:<36} {_fmt(_div(_median(r, 'train_steps_per_s'), est), 2)}x")
    return "\n".join(lines)


def format_targets(checks: list[dict]) -> str:
    if not checks:
        return ""
    met = sum(c["met"] for c in checks)
    lines = [f"Targets met: {met}/{len(checks)}"]
    lines += [f"  MISSED {c['target']}: {c['where']}: {_fmt(c['value'], 2)}"
              for c in checks if not c["met"]]
    return "\n".join(lines)


def write_json(path: str, payload: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=1, sort_keys=False)
        f.write("\n")


# One colour per implementation in every panel.
_COLORS = {"legacy": "tab:blue", "keras_fn": "tab:orange", "keras": "tab:green",
           "legacy_fast": "tab:red", "keras_fn_fast": "tab:purple", "metrics10": "tab:blue",
           "metrics0": "tab:orange", "legacy_kerasloop": "lightsteelblue",
           "keras_fn_kerasloop": "navajowhite"}


def _cold_ttfs(result: dict) -> dict:
    """Time to first step in a fresh process (benchmarks.isolated) as a one-value stats dict,
    else the in-process median: tf.estimator's figure is a fresh-process one."""
    cold = (result.get("isolated") or {}).get("time_to_first_step_cold_s")
    if isinstance(cold, (int, float)):
        return {"median": cold, "min": cold, "max": cold}
    return result.get("time_to_first_step_s") or {}


def plot(path: str, results: list[dict], estimator: dict | None) -> str | None:
    """Bar charts of steps/s and time to first step per workload and setting.

    matplotlib is not a keras-spec dependency: imported here, lazily; without it the plot is
    skipped with a message (returns None) and everything else is still written.
    """
    try:
        import matplotlib  # pylint: disable=g-import-not-at-top
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
    except ImportError:
        print("matplotlib is not installed: skipping the plot (pip install matplotlib); the "
              "table and the JSON are complete.")
        return None
    train_workloads = list(dict.fromkeys(r["workload"] for r in results
                                         if r.get("train_steps_per_s")))
    eval_only = list(dict.fromkeys(r["workload"] for r in results
                                   if not r.get("train_steps_per_s")))
    columns = len(train_workloads) + len(eval_only)
    fig, axes = plt.subplots(2, max(columns, 1), figsize=(5.2 * max(columns, 1), 8), squeeze=False)
    est_cases = (estimator or {}).get("cases") or {}
    for col, workload in enumerate(train_workloads + eval_only):
        rows = [r for r in results if r["workload"] == workload]
        settings = sorted({(r["steps_per_execution"], r["jit_compile"]) for r in rows})
        impls = list(dict.fromkeys(r["impl"] for r in rows))
        width = 0.8 / max(len(impls), 1)
        cold = any((r.get("isolated") or {}).get("time_to_first_step_cold_s") for r in rows)
        first = "time to first step (s)" + (", fresh process" if cold else "")
        metrics = (("train_steps_per_s", "training steps/s"), ("time_to_first_step_s", first))
        if workload in eval_only:
            metrics = (("eval_examples_per_s", "evaluate examples/s"),
                       ("time_to_first_step_s", first.replace("step", "evaluate")))
        for row, (metric, ylabel) in enumerate(metrics):
            ax = axes[row][col]
            for i, impl in enumerate(impls):
                values, low, high = [], [], []
                for s in settings:
                    match = [r for r in rows if (r["steps_per_execution"], r["jit_compile"]) == s
                             and r["impl"] == impl]
                    stats = {}
                    if match:
                        stats = (_cold_ttfs(match[0]) if metric == "time_to_first_step_s"
                                 else match[0].get(metric) or {})
                    median = stats.get("median") or 0.0
                    values.append(median)
                    low.append(median - (stats.get("min") if stats.get("min") is not None else median))
                    high.append((stats.get("max") if stats.get("max") is not None else median) - median)
                xs = [j + (i - (len(impls) - 1) / 2) * width for j in range(len(settings))]
                label = next(r["label"] for r in rows if r["impl"] == impl)
                # bar: median over repetitions; whisker: min..max
                ax.bar(xs, values, width, yerr=[low, high], capsize=2, label=label,
                       color=_COLORS.get(impl))
            est = _median(est_cases.get(workload, {}), metric)
            if est:
                ax.axhline(est, color="black", linestyle="--", linewidth=1, label="tf.estimator 2.15")
            ax.set_xticks(range(len(settings)))
            ax.set_xticklabels([f"spe {spe_label(s)}\n{'XLA' if j else 'no XLA'}" for s, j in settings])
            ax.set_ylabel(ylabel)
            ax.set_title(workload if row == 0 else "")
            if row == 0:
                ax.legend(fontsize=7)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def format_markdown(payload: dict) -> str:
    """The report as Markdown tables (for the README's Performance section)."""
    results, ratios, estimator = payload["results"], payload["ratios"], payload.get("estimator")
    ratio_of = {(q["workload"], q["steps_per_execution"], q["jit_compile"], q["impl"]): q
                for q in ratios}
    out = []
    for workload in dict.fromkeys(r["workload"] for r in results):
        rows = [r for r in results if r["workload"] == workload]
        train = any(r.get("train_steps_per_s") for r in rows)
        out.append(f"\n**{workload}** (batch {rows[0]['batch_size']})\n")
        if train:
            out.append("| implementation | spe | XLA | steps/s | ×(c) | first step s (cold) | ×(c) "
                       "| eval ex/s | predict ex/s | peak RSS MiB |")
            out.append("|---|---|---|---|---|---|---|---|---|---|")
        else:
            out.append("| eval_metric_ops | spe | XLA | eval ex/s | × no metrics "
                       "| first evaluate s | predict ex/s | peak RSS MiB |")
            out.append("|---|---|---|---|---|---|---|---|")
        for r in sorted(rows, key=lambda r: (r["steps_per_execution"], r["jit_compile"])):
            q = ratio_of.get((workload, r["steps_per_execution"], r["jit_compile"], r["impl"]), {})
            iso = r.get("isolated") or {}
            cold = iso.get("time_to_first_step_cold_s")
            first = _fmt(_median(r, "time_to_first_step_s"), 2) + (
                f" ({cold:.2f})" if isinstance(cold, float) else "")
            xla = "yes" if r["jit_compile"] else "no"
            peak = _fmt(iso.get("peak_rss_mb"), 0)
            if train:
                out.append(
                    f"| {r['label']} | {spe_label(r['steps_per_execution'])} | {xla} "
                    f"| {_fmt(_median(r, 'train_steps_per_s'))} "
                    f"| {_fmt(q.get('train_steps_per_s'), 2)} | {first} "
                    f"| {_fmt(q.get('time_to_first_step_s'), 2)} "
                    f"| {_fmt(_median(r, 'eval_examples_per_s'))} "
                    f"| {_fmt(_median(r, 'predict_examples_per_s'))} | {peak} |")
            else:
                out.append(
                    f"| {r['label']} | {spe_label(r['steps_per_execution'])} | {xla} "
                    f"| {_fmt(_median(r, 'eval_examples_per_s'))} "
                    f"| {_fmt(q.get('eval_examples_per_s'), 2)} | {first} "
                    f"| {_fmt(_median(r, 'predict_examples_per_s'))} | {peak} |")
    cases = (estimator or {}).get("cases") or {}
    if cases:
        out.append(f"\n**tf.estimator** (TF {estimator.get('tensorflow')}, tensorflow-estimator "
                   f"{estimator.get('estimator')}, same model_fn source, one fresh process per "
                   "case)\n")
        out.append("| workload | steps/s | first step s (cold) | eval ex/s | predict ex/s |")
        out.append("|---|---|---|---|---|")
        for name, c in cases.items():
            out.append(f"| {name} | {_fmt(_median(c, 'train_steps_per_s'))} "
                       f"| {_fmt(_median(c, 'time_to_first_step_s'), 2)} "
                       f"| {_fmt(_median(c, 'eval_examples_per_s'))} "
                       f"| {_fmt(_median(c, 'predict_examples_per_s'))} |")
    out.extend(format_facade(payload.get("facade")))
    return "\n".join(out).lstrip("\n")


FACADE_ROWS = (  # (label, where the keras-spec and tf.estimator figures are in a case)
    ("train, default RunConfig, no hooks (steps/s)", ("hooks", "default", "train_steps_per_s")),
    ("train + LoggingTensorHook every 100 (steps/s)", ("hooks", "logging_hook",
                                                       "train_steps_per_s")),
    ("train + LoggingTensorHook + StopAtStepHook (steps/s)", ("hooks", "standard_hooks",
                                                              "train_steps_per_s")),
    ("train + user hook fetching every step (steps/s)", ("hooks", "user_hook_every_step",
                                                         "train_steps_per_s")),
    ("evaluate (examples/s)", ("evaluate_examples_per_s",)),
    ("predict (examples/s)", ("predict_examples_per_s",)),
)


def _dig(case: dict, path: tuple) -> Any:
    for key in path:
        case = case.get(key) if isinstance(case, dict) else None
    return case


def format_facade(facade: dict | None) -> list[str]:
    """Estimator facade vs tf.estimator (benchmarks/facade_defaults.py), Markdown lines."""
    if not facade:
        return []
    if facade.get("error"):
        return [f"\nEstimator facade: not measured: {facade['error']}"]
    ours = (facade.get("keras_spec") or {}).get("cases") or {}
    theirs = (facade.get("tf_estimator") or {}).get("cases") or {}
    out = ["\n**Estimator facade vs tf.estimator** (default RunConfig, same model_fn source, "
           "alternating runs, medians; benchmarks/facade_defaults.py)\n",
           "| case | configuration | keras-spec | tf.estimator | × |", "|---|---|---|---|---|"]
    for name, case in ours.items():
        for label, path in FACADE_ROWS:
            a, b = _dig(case, path), _dig(theirs.get(name) or {}, path)
            out.append(f"| {name} | {label} | {_fmt(a)} | {_fmt(b)} | {_fmt(_div(a, b), 2)} |")
    return out


def main(argv: list[str] | None = None) -> int:
    """Re-render a saved report: `python -m benchmarks.report benchmark.json [--plot out.png]`."""
    import argparse  # pylint: disable=g-import-not-at-top

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("json_path")
    parser.add_argument("--plot", default=None, help="also write the PNG here")
    args = parser.parse_args(argv)
    with open(args.json_path) as f:
        payload = json.load(f)
    print(format_markdown(payload))
    if args.plot:
        plot(args.plot, payload["results"], payload.get("estimator"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
