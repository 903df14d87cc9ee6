"""One configuration in a fresh process: its own peak RSS and a cold time to first step.

In the shared benchmark process ru_maxrss is a process-wide high-water mark (see measure.py);
here the process holds exactly one configuration, so its ru_maxrss is that configuration's
peak (TensorFlow's own footprint included: `rss_after_imports_mb` is what importing costs).
Prints one JSON object on stdout. Run by benchmarks.run, one subprocess at a time:

    python -m benchmarks.isolated bench/legacy/spe32/nojit [--steps 64]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402,F401  (imported before the clock starts)

from benchmarks import measure, models  # noqa: E402


def parse_key(key: str) -> measure.Config:
    workload, impl, spe, jit = key.split("/")
    return measure.Config(workload, impl, int(spe.removeprefix("spe")), jit == "jit")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("key", help="workload/impl/spe<N>/(jit|nojit)")
    parser.add_argument("--steps", type=int, default=64, help="training steps after the first")
    args = parser.parse_args()
    config = parse_key(args.key)
    workload = models.workloads(keras_loop=True)[config.workload]
    rss_imports = measure.current_rss_mb()
    data = models.make_data(workload, eval_batches=32)
    runner = measure.Runner(config, workload, data, train_epochs=1)
    runner.first_step()  # construction, first execution, first evaluate and predict
    if workload.train:
        runner.model.fit(data.train, epochs=1, steps_per_epoch=max(args.steps, 32),
                         verbose=0, shuffle=False)
    runner.model.evaluate(data.eval, verbose=0)
    runner.model.predict(data.predict, verbose=0)
    print(json.dumps({"key": args.key, "time_to_first_step_cold_s": runner.ttfs[0],
                      "rss_after_imports_mb": rss_imports,
                      "peak_rss_mb": measure.peak_rss_mb()}))
    return 0


def run_isolated(key: str, timeout_s: float = 300.0) -> dict:
    """Run `key` in a fresh interpreter (this one); {'error': ...} instead of raising."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-m", "benchmarks.isolated", key], cwd=root,
                              capture_output=True, text=True, timeout=timeout_s, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout_s:.0f} s"}
    lines = [l for l in done.stdout.splitlines() if l.startswith("{")]
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-800:]}"}
    result = json.loads(lines[-1])
    result["process_wall_s"] = time.perf_counter() - start
    return result


if __name__ == "__main__":
    sys.exit(main())
