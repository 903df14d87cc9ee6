"""What the dynamic pass runs in its subprocess: the user's model_fn through SpecModel.

Run as `python -m adapters.doctor.probe REQUEST.json RESULT.json` (arguments travel as JSON,
nothing is pickled). Stages: import, input, TRAIN (one step), EVAL (one step), PREDICT (one
batch), EXPORT (a SavedModel in a scratch directory), and XLA (one TRAIN step with
jit_compile=True). The Keras layer scopes of successive model_fn calls are compared: a later
call's scope that differs from the first call's only by numeric suffixes is an unstable name
(`unstable_names`). A failing stage is reported with the deepest frame in the user's own files
(under path_root), not keras-spec's or TensorFlow's; TF's graph errors name the user's line only
in their message ("defined at ... File ..., line N"), which is read too.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
import tempfile
import traceback
import warnings
from typing import Any

_FILE_LINE = re.compile(r'File "([^"]+)", line (\d+)')
_PKG_DIRS = tuple(os.path.dirname(os.path.dirname(os.path.abspath(p))) + os.sep
                  for p in (__file__,))


def _is_user_file(path: str, root: str) -> bool:
    path = os.path.abspath(path)
    if not path.startswith(root) or "site-packages" in path or "dist-packages" in path:
        return False
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # .../adapters
    ours = (here + os.sep, os.path.join(os.path.dirname(here), "keras_spec") + os.sep)
    return not path.startswith(ours)


def user_frame(exc: BaseException, root: str) -> tuple[str, int, str] | None:
    """(file, line, source line) of the deepest frame of `exc` in the user's files."""
    found: list[tuple[str, int]] = []
    seen = set()
    e: BaseException | None = exc
    chain = []
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append(e)
        e = e.__cause__ or e.__context__
    for e in reversed(chain):  # the original error first, the one raised last at the end
        for fs in traceback.extract_tb(e.__traceback__):
            if _is_user_file(fs.filename, root):
                found.append((fs.filename, fs.lineno))
        for path, line in _FILE_LINE.findall(str(e)):
            if _is_user_file(path, root):
                found.append((path, int(line)))
    if not found:
        return None
    path, line = found[-1]
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read().splitlines()[line - 1].strip()
    except (OSError, IndexError):
        text = ""
    return path, line, text


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    first = next((t for t in text if t.strip()), "")
    return f"{type(e).__name__}: {first[:300]}"


def _load(spec: str) -> Any:
    module, _, name = spec.partition(":")
    obj: Any = importlib.import_module(module)
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def _synthesized(spec: dict, batch: int):
    import numpy as np
    import tensorflow as tf
    rng = np.random.RandomState(0)

    def make(s: dict):
        dtype = tf.as_dtype(s.get("dtype", "float32"))
        shape = [batch] + list(s.get("shape", []))
        if dtype.is_integer:
            return rng.randint(0, int(s.get("max", 2)), size=shape).astype(dtype.as_numpy_dtype)
        if dtype == tf.string:
            return np.array([b"a"] * int(np.prod(shape))).reshape(shape)
        return rng.rand(*shape).astype(dtype.as_numpy_dtype)

    features = {k: make(v) for k, v in spec["features"].items()}
    element = (features, make(spec["labels"])) if "labels" in spec else features
    return tf.data.Dataset.from_tensors(element).repeat()


def run(request: dict) -> dict:
    root = os.path.abspath(request["path_root"]) + os.sep
    sys.path.insert(0, root)
    result: dict = {"model_fn": request["model_fn"], "stages": []}
    caught: list = []

    def stage(name: str, fn):
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                value = fn()
            except Exception as e:  # noqa: BLE001 - every failure is reported, none raised
                where = user_frame(e, root)
                entry = {"stage": name, "status": "failed", "message": _first_line(e)}
                if where:
                    entry.update(path=where[0], line=where[1], source=where[2])
                result["stages"].append(entry)
                caught.extend(w)
                return None, False
        caught.extend(w)
        result["stages"].append({"stage": name, "status": "ok"})
        return value, True

    model_fn, ok = stage("import", lambda: (_load(request["model_fn"]),
                                            _load(request["input_fn"])
                                            if request.get("input_fn") else None))
    if not ok:
        return result
    model_fn, input_fn = model_fn
    import tensorflow as tf

    from adapters.engine.spec_model import SpecModel, XlaCompilationError
    from adapters.estimator import input_fn as input_fns
    from keras_spec import ModeKeys, export
    params = dict(request.get("params") or {}) or None

    def data(mode):
        if input_fn is None:
            return _synthesized(request["feature_spec"], request["batch_size"])
        return input_fns.to_dataset(input_fns.call_input_fn(input_fn, mode, params or {}, None), mode)

    train_ds, ok = stage("input", lambda: data(ModeKeys.TRAIN))
    if not ok:
        return result
    def build():
        m = SpecModel(model_fn, params=params)
        m.compile()
        return m

    traces = _record_keras_scopes()
    model, ok = stage("model", build)
    if not ok:
        return result
    _, trained = stage("train", lambda: model.fit(train_ds, epochs=1, steps_per_epoch=1,
                                                  verbose=0))
    before = set(model.get_variable_names()) if trained else set()
    _, evaluated = stage("eval", lambda: model.evaluate(data(ModeKeys.EVAL).take(1), verbose=0,
                                                        return_dict=True))
    if trained and evaluated:
        new = sorted(set(model.get_variable_names()) - before)
        new = [n for n in new if not _looks_like_metric(n)]
        if new:
            result.setdefault("warnings", []).append(
                f"EVAL created variables TRAIN did not: {new[:5]}"
                + (" ..." if len(new) > 5 else "") + ": a variable created per call, or a "
                "Keras layer whose name depends on call order; EVAL/PREDICT then use fresh, "
                "untrained values and TF1 checkpoints will not match")
    pred_ds = input_fns.features_only(data(ModeKeys.PREDICT)).take(1)
    stage("predict", lambda: model.predict(pred_ds, verbose=0))

    def do_export():
        spec = pred_ds.element_spec
        features = spec if isinstance(spec, dict) else {"feature": spec}
        if not isinstance(spec, dict):
            raise ValueError("the doctor exports dict features only (give a dict in input_fn)")
        receiver = export.build_raw_serving_input_receiver_fn(dict(features))
        with tempfile.TemporaryDirectory() as tmp:
            return model.export_saved_model(tmp, receiver)

    stage("export", do_export)
    pairs = unstable_names(traces)
    if pairs:
        result["unstable_names"] = pairs
    if request.get("xla", True) and trained:
        def xla():
            compiled = SpecModel(model_fn, params=params)
            compiled.compile(jit_compile=True)
            try:
                compiled.fit(train_ds, epochs=1, steps_per_epoch=1, verbose=0)
            except XlaCompilationError as e:
                result.setdefault("warnings", []).append(
                    f"jit_compile=True fails: {_first_line(e)}; leave XLA off for this model_fn")
        stage("xla", xla)
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if (isinstance(w.filename, str) and _is_user_file(w.filename, root)) or "keras" in text:
            result.setdefault("warnings", []).append(text + f" ({w.filename}:{w.lineno})")
    del tf
    return result


_NUMBERED = re.compile(r"_\d+$")


def _unnumbered(name: str) -> str:
    """`block_2/dense_1/kernel` -> `block/dense/kernel`: a name without its counters."""
    return "/".join(_NUMBERED.sub("", part) for part in name.split("/"))


def _record_keras_scopes() -> list:
    """Record, per model_fn call, the TF1 scopes of the Keras layers it builds.

    Taps keras-spec's own naming (adapters/tf1/keras_names.tf1_scope, called for each Keras
    variable a model_fn creates, inside TF1World.call whose stack says which call): this
    subprocess only. Returns the list [(mode, [scope, ...]), ...] filled as calls run.
    """
    from adapters.tf1 import keras_names, world  # pylint: disable=import-outside-toplevel
    original = keras_names.tf1_scope
    calls: dict[int, tuple[str, list]] = {}
    traces: list = []

    def recording(scope: str):
        found = original(scope)
        stack = getattr(world._active_calls, "stack", None)  # pylint: disable=protected-access
        if found is not None and found[0] and stack:
            state = stack[-1]
            if id(state) not in calls:
                calls[id(state)] = (str(state.mode), [])
                traces.append(calls[id(state)])
            if found[0] not in calls[id(state)][1]:
                calls[id(state)][1].append(found[0])
        return found

    keras_names.tf1_scope = recording
    return traces


def unstable_names(traces: list) -> list[dict]:
    """Keras layer scopes of a later model_fn call that differ from the first call's only by
    numeric suffixes (`logits_1` where the first call built `logits_0`).

    tf.estimator built each mode in a fresh graph and restored TRAIN's checkpoint by name: such
    a layer gets fresh, untrained variables there (and its TF1 checkpoint names do not match).
    Keras auto-names restart per call (as per graph), so only names from a Python counter, a
    uid or state kept across calls show up.
    """
    if len(traces) < 2:
        return []
    first_mode, first = traces[0]
    by_stem = {_unnumbered(n): n for n in first}
    found = []
    for mode, names in traces[1:]:
        for n in names:
            stem = _unnumbered(n)
            if n not in first and stem in by_stem and all(f["later"] != n for f in found):
                found.append({"first": by_stem[stem], "first_mode": first_mode,
                              "later": n, "later_mode": mode})
    return found


def _looks_like_metric(name: str) -> bool:
    last = name.split("/")
    return any(p in ("total", "count", "true_positives", "false_positives", "true_negatives",
                     "false_negatives", "accumulator") or p.startswith("metrics") for p in last)


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as fh:
        request = json.load(fh)
    result = run(request)
    with open(argv[1], "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
