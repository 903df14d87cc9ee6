"""Runs estimator_script.py with another Python (real tf.estimator) and reads its JSON.

tf.estimator needs TF <= 2.15, so it cannot share the benchmark's process: it runs in a
subprocess with the interpreter given by --estimator-python. Checked twice: cheaply before the
(long) keras-spec benchmark starts (`check`), and for real afterwards (`run`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "estimator_script.py")


class EstimatorUnavailable(RuntimeError):
    """The --estimator-python interpreter is missing or cannot import tf.estimator."""


def _last_json_line(stdout: str) -> dict | None:
    for line in reversed(stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def _stderr_tail(stderr: str, lines: int = 12) -> str:
    """The end of a child's stderr without TensorFlow's start-up log lines."""
    kept = [l for l in stderr.strip().splitlines()
            if not l.startswith(("I0000", "W0000", "E0000", "WARNING: All log messages"))]
    return "\n".join(kept[-lines:])


def check(python: str, timeout_s: float = 180.0) -> str:
    """Fail fast: the interpreter exists and imports tensorflow + tf.estimator. Returns its
    TensorFlow version."""
    if not python:
        raise EstimatorUnavailable("--estimator-python is empty")
    if not os.path.exists(python):
        raise EstimatorUnavailable(
            f"--estimator-python {python!r} does not exist. Give the python of an environment "
            "with TF 2.15 and tensorflow-estimator (e.g. python3.11 -m venv /opt/est && "
            "/opt/est/bin/pip install tensorflow==2.15.1 tensorflow-estimator==2.15.0).")
    if not os.access(python, os.X_OK) or os.path.isdir(python):
        raise EstimatorUnavailable(f"--estimator-python {python!r} is not an executable file.")
    probe = ("import json, tensorflow as tf; from tensorflow import estimator; "
             "estimator.Estimator; print(json.dumps({'tensorflow': tf.__version__}))")
    try:
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True,
                              timeout=timeout_s, env=_env())
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EstimatorUnavailable(f"could not run {python!r}: {e}") from None
    found = _last_json_line(done.stdout)
    if done.returncode != 0 or not found:
        raise EstimatorUnavailable(
            f"{python!r} cannot import tensorflow and tf.estimator (exit {done.returncode}). "
            f"Its stderr ends with:\n{_stderr_tail(done.stderr)}")
    return found["tensorflow"]


def _env() -> dict:
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    env.pop("PYTHONPATH", None)  # the other interpreter must not see this venv's packages
    return env


def run(python: str, cases: list[str], quick: bool, timeout_s: float = 1800.0) -> dict:
    """The script's figures ({'tensorflow', 'cases': {name: figures}}), or raises with the cause.

    One fresh process per case, so each case's time to first step includes tf.estimator's
    first-graph/first-session costs (as the keras-spec cold start in benchmarks.isolated does)
    instead of depending on which case ran first.
    """
    merged: dict = {"cases": {}}
    for case in cases:
        command = [python, SCRIPT, "--cases", case] + (["--quick"] if quick else [])
        print(f"tf.estimator: {case}", file=sys.stderr, flush=True)
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                                  env=_env())
        except subprocess.TimeoutExpired:
            raise EstimatorUnavailable(f"tf.estimator run of {case} exceeded {timeout_s:.0f} s") from None
        except OSError as e:
            raise EstimatorUnavailable(f"could not run {python!r}: {e}") from None
        result = _last_json_line(done.stdout)
        if done.returncode != 0 or result is None or result.get("error"):
            detail = (result or {}).get("error") or _stderr_tail(done.stderr)
            raise EstimatorUnavailable(
                f"tf.estimator run of {case} failed (exit {done.returncode}): {detail}")
        merged["cases"].update(result.get("cases") or {})
        merged.update({k: v for k, v in result.items() if k != "cases"})
    merged["python_path"] = python
    return merged
