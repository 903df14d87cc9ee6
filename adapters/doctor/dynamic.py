"""The dynamic pass: run the user's model_fn in a subprocess with a time limit.

A subprocess, because a model_fn may hang, exhaust memory or leave global TensorFlow state
behind; arguments and results travel as JSON files (nothing pickled). Failures come back as
findings at the user's own line.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

from adapters.doctor.report import BLOCKER, WARNING, Finding

_STAGE_WHAT = {"import": "importing the model_fn", "input": "building the input",
               "model": "SpecModel(model_fn)",
               "train": "one TRAIN step", "eval": "one EVAL step", "predict": "PREDICT",
               "export": "export_saved_model", "xla": "one TRAIN step with jit_compile=True"}


def run(args: argparse.Namespace) -> tuple[dict, list[Finding]]:
    request = {"model_fn": args.model_fn, "input_fn": args.input_fn,
               "feature_spec": json.loads(args.feature_spec) if args.feature_spec else None,
               "params": json.loads(args.params or "{}"), "batch_size": args.batch_size,
               "path_root": os.path.abspath(args.path_root), "xla": not args.no_xla}
    package_root = str(pathlib.Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [package_root, request["path_root"]] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH")
                                                 else []))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="keras-spec-doctor-") as tmp:
        req, res = os.path.join(tmp, "request.json"), os.path.join(tmp, "result.json")
        with open(req, "w", encoding="utf-8") as fh:
            json.dump(request, fh)
        try:
            proc = subprocess.run([sys.executable, "-m", "adapters.doctor.probe", req, res],
                                  cwd=request["path_root"], env=env, capture_output=True,
                                  text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            result = {"model_fn": args.model_fn, "stages": [
                {"stage": "run", "status": "failed",
                 "message": f"did not finish within {args.timeout:g} s (--timeout)"}]}
            return result, [Finding(args.model_fn, 0, 0, "KS200", BLOCKER,
                                    result["stages"][0]["message"], "")]
        if not os.path.exists(res):
            tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
            result = {"model_fn": args.model_fn, "stages": [
                {"stage": "run", "status": "failed",
                 "message": f"the run exited with status {proc.returncode}: {tail}"}]}
            return result, [Finding(args.model_fn, 0, 0, "KS200", BLOCKER,
                                    result["stages"][0]["message"], "")]
        with open(res, encoding="utf-8") as fh:
            result = json.load(fh)
    return result, findings_of(result)


def findings_of(result: dict) -> list[Finding]:
    found = []
    for s in result.get("stages", []):
        if s["status"] != "failed":
            continue
        what = _STAGE_WHAT.get(s["stage"], s["stage"])
        if s.get("path"):
            message = (f"{what} fails at your line {s['line']} (`{s.get('source', '')}`): "
                       f"{s['message']}")
            found.append(Finding(s["path"], s["line"], 0, "KS201", BLOCKER, message,
                                 "fix this line; the static findings above may name why"))
        else:
            found.append(Finding(result["model_fn"], 0, 0, "KS201", BLOCKER,
                                 f"{what} fails: {s['message']}", ""))
        if s["stage"] == "xla":
            found[-1].severity = WARNING
    pairs = result.get("unstable_names", [])
    if pairs:
        shown = ", ".join(f"`{p['later']}` in {p['later_mode']} where {p['first_mode']} "
                          f"built `{p['first']}`" for p in pairs[:5])
        found.append(Finding(
            result["model_fn"], 0, 0, "KS211", WARNING,
            f"Keras layers with unstable names: {shown}" + (" ..." if len(pairs) > 5 else "")
            + " (names that differ only by a numeric suffix between model_fn calls); "
            "tf.estimator gave such layers fresh, untrained variables in EVAL/PREDICT, and "
            "their TF1 checkpoint names depend on the call",
            "give such layers/variables fixed names (name=...) that do not depend on how "
            "often the model_fn was called"))
    for w in result.get("warnings", []):
        found.append(Finding(result["model_fn"], 0, 0, "KS210", WARNING, w, ""))
    return found
