"""python -m benchmarks.run [--quick] [--out DIR] [--estimator-python PATH]

Measures keras-spec's SpecModel against plain Keras 3 (and optionally the real tf.estimator) in
one process, interleaved: every repetition round visits every configuration (in a shuffled
order), so machine noise (other jobs on a shared box) falls on all configurations alike.
Writes DIR/benchmark.json, DIR/benchmark.md (Markdown tables) and DIR/benchmark.png (when
matplotlib is installed) and prints a table. `python -m benchmarks.report DIR/benchmark.json
--plot out.png` re-renders a saved run.
See benchmarks/measure.py for what each number means.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks import estimator_runner  # noqa: E402  (no TensorFlow import)

QUICK = dict(reps=1, ttfs_reps=1, train_epochs=1, steps_per_epoch=32, eval_batches=32)
FULL = dict(reps=7, ttfs_reps=3, train_epochs=4, steps_per_epoch=None, eval_batches=None)


def configurations(workloads: dict, names: list[str], quick: bool) -> list:
    """Every (workload, implementation, steps_per_execution, jit_compile) to measure.

    Full: the whole grid (spe 1 and 32, XLA off and on) plus spe "default" (0: compile() not
    given steps_per_execution, what a user who never sets it gets; XLA off). Quick (CI smoke):
    XLA off, and the secondary workloads at steps_per_execution 32 only, so it finishes well
    under a minute.
    """
    from benchmarks.measure import Config  # pylint: disable=g-import-not-at-top

    configs = []
    for name in names:
        workload = workloads[name]
        for impl in workload.builders:
            for spe in (0, 1, 32):
                for jit in (False, True):
                    if spe == 0 and (quick or jit):
                        continue
                    if quick and (jit or (name != "bench" and spe == 1)):
                        continue
                    configs.append(Config(name, impl, spe, jit))
    return configs


def machine() -> dict:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            models_ = [l.split(":", 1)[1].strip() for l in f if l.startswith("model name")]
        cpu = models_[0] if models_ else cpu
    except OSError:
        pass
    memory_gib = None
    try:
        memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        pass
    return {"cpu": cpu, "logical_cores": os.cpu_count(), "memory_gib": memory_gib,
            "platform": platform.platform(), "python": platform.python_version()}


def engine_fingerprint() -> str:
    """sha256 over adapters/ and keras_spec/ sources: which engine a report measured. Other
    people may edit the tree during a 40-minute run; the report says so when it happened (the
    in-process numbers are from the start's version, the fresh-process ones may not be)."""
    import hashlib  # pylint: disable=g-import-not-at-top

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    for package in ("adapters", "keras_spec"):
        folder = os.path.join(root, package)
        for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
            if name.endswith(".py"):
                digest.update(name.encode())
                with open(os.path.join(folder, name), "rb") as f:
                    digest.update(f.read())
    return digest.hexdigest()


def _load() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def warm_up(workloads: dict, configs: list) -> None:
    """Pay process-wide one-time costs (TF/Keras lazy imports, kernel and XLA initialization)
    before any clock runs, once per implementation kind and XLA setting, on the small MLP; the
    first-in-a-fresh-process cost is measured separately (benchmarks.isolated)."""
    from benchmarks import measure, models  # pylint: disable=g-import-not-at-top

    mlp = workloads["mlp_classifier"]
    data = models.make_data(mlp, eval_batches=2)
    kinds = {(c.impl if c.impl in mlp.builders else "legacy", c.jit_compile) for c in configs}
    for impl, jit in sorted(kinds):
        runner = measure.Runner(measure.Config("mlp_classifier", impl, 1, jit), mlp, data, 1)
        runner.first_step()


def output_dir(out: str | None, quick: bool) -> str:
    """Where the report goes: --out, else benchmarks/results for a full run and a scratch
    directory for --quick (a smoke run must never overwrite the committed results)."""
    if out is not None:
        return out
    if quick:
        return os.path.join(tempfile.gettempdir(), "keras_spec_benchmark_quick")
    return os.path.join("benchmarks", "results")


def facade_runs(estimator_python: str | None, quick: bool, rounds: int = 3) -> dict:
    """benchmarks/facade_defaults.py with this Python and (when given) tf.estimator's, in
    alternating fresh processes (one rep each, `rounds` times): noise falls on both alike."""
    import json  # pylint: disable=g-import-not-at-top
    import subprocess  # pylint: disable=g-import-not-at-top

    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "facade_defaults.py")
    stacks = [("keras_spec", sys.executable, "keras-spec")]
    if estimator_python:
        stacks.append(("tf_estimator", estimator_python, "tf-estimator"))
    runs: dict = {key: [] for key, _, _ in stacks}
    for round_ in range(1 if quick else rounds):
        for key, python, stack in stacks:
            print(f"facade: {stack} round {round_ + 1}", file=sys.stderr, flush=True)
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
            if key == "tf_estimator":
                env.pop("PYTHONPATH", None)
            command = [python, script, "--stack", stack, "--reps", "1"] + (
                ["--quick"] if quick else [])
            done = subprocess.run(command, capture_output=True, text=True, env=env,
                                  timeout=3600)
            lines = [l for l in done.stdout.splitlines() if l.startswith("{")]
            if done.returncode != 0 or not lines:
                return {"error": f"{stack} failed: {done.stderr.strip()[-1500:]}"}
            runs[key].append(json.loads(lines[-1]))
    return {key: _merge_facade(found) for key, found in runs.items()}


def _merge_facade(found: list[dict]) -> dict:
    """One facade_defaults result whose figures are the medians over the runs."""
    def median(values):
        values = sorted(v for v in values if v is not None)
        return values[len(values) // 2] if values else None

    merged = dict(found[0])
    for name, case in found[0]["cases"].items():
        runs = [f["cases"][name] for f in found]
        case = dict(case)
        for metric in ("train_steps_per_s", "first_train_100_steps_s",
                       "evaluate_examples_per_s", "predict_examples_per_s"):
            case[metric] = median([r.get(metric) for r in runs])
        case["hooks"] = {h: {"train_steps_per_s": median(
            [r["hooks"][h]["train_steps_per_s"] for r in runs]),
            "reps": [r["hooks"][h]["train_steps_per_s"] for r in runs]}
            for h in case.get("hooks", {})}
        merged["cases"] = {**merged["cases"], name: case}
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="tiny step counts, XLA off, fewer settings: a CI smoke run (<60 s)")
    parser.add_argument("--out", default=None,
                        help="directory for benchmark.json and benchmark.png (default "
                             "benchmarks/results; with --quick a scratch directory, so a smoke "
                             "run never overwrites the committed results)")
    parser.add_argument("--facade", choices=("auto", "on", "off"), default="auto",
                        help="Estimator facade vs tf.estimator with hooks, evaluate, predict "
                             "(benchmarks/facade_defaults.py; auto: on unless --quick)")
    parser.add_argument("--estimator-python", default=None,
                        help="python of a TF 2.15 + tensorflow-estimator environment: also run "
                             "the same model_fns under the real tf.estimator (subprocess)")
    parser.add_argument("--workloads", default="bench,mlp_classifier,cnn,many_metrics")
    parser.add_argument("--reps", type=int, default=None, help="throughput repetitions")
    parser.add_argument("--isolated", choices=("auto", "on", "off"), default="auto",
                        help="per-configuration peak RSS / cold start in fresh processes "
                             "(auto: on unless --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the round order shuffle")
    parser.add_argument("--keras-loop", action="store_true",
                        help="also measure the model_fns on SpecModel with use_fast_loop=False "
                             "(Keras's own train loop; implementations '<impl>_kerasloop')")
    args = parser.parse_args(argv)
    args.out = output_dir(args.out, args.quick)

    estimator_tf = None
    if args.estimator_python:
        try:  # before the long run: a wrong path should not cost twenty minutes
            estimator_tf = estimator_runner.check(args.estimator_python)
        except estimator_runner.EstimatorUnavailable as e:
            print(f"error: {e}", file=sys.stderr)
            return 2

    started = time.perf_counter()
    engine_at_start = engine_fingerprint()
    import keras  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from benchmarks import measure, models, report  # pylint: disable=g-import-not-at-top
    from benchmarks import isolated  # pylint: disable=g-import-not-at-top

    settings = dict(QUICK if args.quick else FULL)
    if args.reps:
        settings["reps"] = args.reps
    workloads = models.workloads(keras_loop=args.keras_loop)
    names = [n for n in args.workloads.split(",") if n]
    unknown = [n for n in names if n not in workloads]
    if unknown:
        parser.error(f"unknown workloads {unknown}; known: {list(workloads)}")
    configs = configurations(workloads, names, args.quick)
    load_start = _load()

    data = {n: models.make_data(workloads[n], settings["eval_batches"]) for n in names}
    runners = []
    for c in configs:
        w = workloads[c.workload]
        if settings["steps_per_epoch"]:
            w = models.Workload(**{**w.__dict__, "steps_per_epoch": settings["steps_per_epoch"]})
        runners.append(measure.Runner(c, w, data[c.workload], settings["train_epochs"]))

    print(f"{len(runners)} configurations, {settings['ttfs_reps']} construction round(s), "
          f"{settings['reps']} throughput round(s), interleaved", file=sys.stderr, flush=True)
    warm_up(workloads, configs)
    order = random.Random(args.seed)
    for round_ in range(settings["ttfs_reps"]):
        sequence = list(runners)
        order.shuffle(sequence)
        for runner in sequence:
            runner.first_step()
        print(f"construction round {round_ + 1} done ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr, flush=True)
    for round_ in range(settings["reps"]):
        sequence = list(runners)
        order.shuffle(sequence)
        for runner in sequence:
            runner.train_rep()
            runner.eval_rep()
            runner.predict_rep()
        print(f"throughput round {round_ + 1} done ({time.perf_counter() - started:.0f} s)",
              file=sys.stderr, flush=True)

    results = [r.result() for r in runners]
    for r in runners:
        r.model = None
    if args.isolated == "on" or (args.isolated == "auto" and not args.quick):
        for result in results:
            print(f"isolated: {result['key']}", file=sys.stderr, flush=True)
            result["isolated"] = isolated.run_isolated(result["key"])

    estimator = None
    if args.estimator_python:
        cases = [n for n in names if n in ("bench", "mlp_classifier", "cnn")]
        try:
            estimator = estimator_runner.run(args.estimator_python, cases, args.quick)
        except estimator_runner.EstimatorUnavailable as e:
            print(f"error: {e}", file=sys.stderr)
            estimator = {"error": str(e)}

    facade = None
    if args.facade == "on" or (args.facade == "auto" and not args.quick):
        facade = facade_runs(args.estimator_python, args.quick)

    ratios = report.compute_ratios(results)
    checks = report.check_targets(results, ratios, estimator)
    payload = {
        "meta": {
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None
                                                              else argv),
            "quick": args.quick, "settings": settings, "seed": args.seed,
            "machine": machine(), "load_average_start": load_start, "load_average_end": _load(),
            "tensorflow": tf.__version__, "keras": keras.__version__,
            "estimator_tensorflow": estimator_tf,
            "wall_s": time.perf_counter() - started,
            "engine_sha256": engine_at_start,
            "engine_changed_during_run": engine_fingerprint() != engine_at_start,
            "definitions": measure.__doc__,
        },
        "results": results,
        "ratios": ratios,
        "targets": checks,
        "estimator": estimator,
        "facade": facade,
    }
    os.makedirs(args.out, exist_ok=True)
    json_path = os.path.join(args.out, "benchmark.json")
    report.write_json(json_path, payload)
    with open(os.path.join(args.out, "benchmark.md"), "w") as f:
        f.write(report.format_markdown(payload) + "\n")
    print(report.format_table(results, ratios, estimator))
    print(report.format_targets(checks))
    if facade:
        print("\n".join(report.format_facade(facade)))
    if payload["meta"]["engine_changed_during_run"]:
        print("warning: adapters/ or keras_spec/ changed during the run (see meta.engine_sha256)")
    png = report.plot(os.path.join(args.out, "benchmark.png"), results, estimator)
    print(f"wrote {json_path}" + (f" and {png}" if png else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
