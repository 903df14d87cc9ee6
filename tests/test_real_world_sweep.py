"""Issue 12 sweep: public-style tf.estimator programs, one line added, against tf.estimator 2.15.

Each program in tests/real_world/sweep/ is written (by us, in the style of a public program)
for TF 2.15 + tensorflow-estimator 2.15 and ran there unchanged to record goldens.json
(record_goldens.py). Here each runs in a fresh process on TF 2.21 with
`import adapters.estimator; adapters.estimator.install()` inserted after `import tensorflow as
tf`, as a user would, and its JSON line must match the golden (rtol 1e-4): per-step losses
from the event files, evaluation metrics, predictions, signature keys and a served prediction,
variable names. Programs run two at a time.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import subprocess
import sys

import pytest

from estimator_helpers import assert_nested_close

HERE = pathlib.Path(__file__).resolve().parent
SWEEP = HERE / "real_world" / "sweep"
GOLDENS = json.loads((SWEEP / "goldens.json").read_text())
INSTALL_LINE = "import adapters.estimator; adapters.estimator.install()"
PROGRAMS = ("iris_custom_estimator", "official_mnist", "logistic_regressor", "mnist_tpu",
            "bert_classifier", "tf1_compat_wide_deep")
# Keys compared on the steps both runs wrote: tf.estimator's SummarySaverHook reads the global
# step in the same session.run as the train op, so under some input pipelines (numpy_input_fn's
# queue) the step it wrote races with the increment (1, 5, 9, ... instead of 1, 6, 11, ...).
STEP_KEYED = {"train_losses"}
# Known differences, each shown by its own strict xfail below: program -> keys.
KNOWN_DIFFERENCES = {"iris_custom_estimator": {"train_accuracy_summary"},
                     "official_mnist": {"logged_train_accuracy"},
                     "tf1_compat_wide_deep": {"signature_keys"}}


def _with_install_line(source: str) -> str:
    """The line a user adds: after `import tensorflow as tf` (or `import tensorflow.compat.v1 as
    tf`, the TF1 script's spelling)."""
    lines = source.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("import tensorflow")) + 1
    return "".join(lines[:at] + [INSTALL_LINE + "\n"] + lines[at:])


def _run(name: str, work: pathlib.Path) -> dict:
    original = (SWEEP / f"{name}.py").read_text()
    script = work / f"{name}.py"
    script.write_text(_with_install_line(original))
    assert len(script.read_text().splitlines()) == len(original.splitlines()) + 1
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(HERE.parent)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = work / f"{name}.json"
    done = subprocess.run([sys.executable, str(script), str(out), str(work / name)], env=env,
                          cwd=work, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"__error__": done.stderr[-4000:]}
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    work = tmp_path_factory.mktemp("sweep")
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        futures = {name: pool.submit(_run, name, work) for name in PROGRAMS if name in GOLDENS}
        return {name: f.result() for name, f in futures.items()}


def _result(results, name):
    if name not in results:
        pytest.fail(f"{name} has no golden: run record_goldens.py under TF 2.15")
    result = results[name]
    assert "__error__" not in result, result.get("__error__")
    return result


@pytest.mark.parametrize("name", PROGRAMS)
def test_program_matches_tf_estimator_with_one_line_added(results, name):
    result, golden = _result(results, name), GOLDENS[name]
    assert sorted(result) == sorted(golden)
    for key in golden:
        if key in KNOWN_DIFFERENCES.get(name, ()):
            continue
        if key in STEP_KEYED and isinstance(golden[key], dict):
            common = sorted(set(golden[key]) & set(result[key]), key=int)
            assert len(common) >= 2 and "1" in common, (key, sorted(golden[key]), sorted(result[key]))
            assert_nested_close({s: result[key][s] for s in common}, {s: golden[key][s] for s in common}, key)
        else:
            assert_nested_close(result[key], golden[key], key)


ONLY_WHEN_FETCHED = (
    "A train-mode metric update op fetched only by a summary or a LoggingTensorHook "
    "(`summary.scalar('accuracy', acc[1])`, `tf.identity(acc[1], name='train_accuracy')`): "
    "tf.estimator's session.run ran it only at the steps that fetched it (every "
    "save_summary_steps / every_n_iter); keras-spec's traced step runs every stateful op of the "
    "model_fn every step, so the streaming accuracy counts every batch. Needs the step pruned "
    "per fetch set (engine), not done.")


@pytest.mark.xfail(strict=True, reason=ONLY_WHEN_FETCHED + " iris: 0.55 vs 0.475 at step 11.")
def test_iris_train_accuracy_summary_counts_only_summary_steps(results):
    name = "iris_custom_estimator"
    assert_nested_close(_result(results, name)["train_accuracy_summary"],
           GOLDENS[name]["train_accuracy_summary"], "train_accuracy_summary")


@pytest.mark.xfail(strict=True, reason=ONLY_WHEN_FETCHED + " mnist: 0.2 vs 0.175 at step 11.")
def test_official_mnist_logged_train_accuracy_counts_only_logged_steps(results):
    name = "official_mnist"
    assert_nested_close(_result(results, name)["logged_train_accuracy"],
           GOLDENS[name]["logged_train_accuracy"], "logged_train_accuracy")


@pytest.mark.xfail(strict=True, reason=(
    "A TF1 loader (tf.saved_model.loader.load) lists signature_def keys: keras-spec's SavedModel "
    "is written by tf.saved_model.save, which keeps its init op as a `__saved_model_init_op` "
    "signature; tf.estimator's builder put it in the `saved_model_main_op` collection. Serving "
    "`serving_default` gives the same numbers (compared above)."))
def test_tf1_loader_sees_only_the_models_signatures(results):
    name = "tf1_compat_wide_deep"
    assert _result(results, name)["signature_keys"] == GOLDENS[name]["signature_keys"]


class _FakeEstimator:
    """Records the exports a BestExporter asks for (one timestamp-named directory each)."""

    def __init__(self, model_dir):
        self.model_dir = str(model_dir)
        self.exported = []

    def export_saved_model(self, export_path, serving_input_receiver_fn, **kwargs):
        path = os.path.join(export_path, str(1000000000 + len(self.exported)))
        os.makedirs(path)
        self.exported.append(kwargs["checkpoint_path"])
        return path.encode()


def test_best_exporter_exports_first_then_only_better_losses(tmp_path):
    import adapters.estimator as tf_estimator  # pylint: disable=import-outside-toplevel
    with pytest.raises(ValueError, match="best_eval_result"):
        tf_estimator.BestExporter(serving_input_receiver_fn=lambda: None,
                                  compare_fn=lambda a, b: True)
    with pytest.raises(ValueError, match="exports_to_keep"):
        tf_estimator.BestExporter(serving_input_receiver_fn=lambda: None, exports_to_keep=0)
    exporter = tf_estimator.BestExporter(serving_input_receiver_fn=lambda: None,
                                         exports_to_keep=2)
    estimator = _FakeEstimator(tmp_path)  # no eval event files: nothing to start from
    export_path = str(tmp_path / "export" / "best_exporter")
    results = [exporter.export(estimator, export_path, f"ckpt-{step}", {"loss": loss}, False)
               for step, loss in ((1, 0.5), (2, 0.6), (3, 0.4), (4, 0.45), (5, 0.1))]
    assert estimator.exported == ["ckpt-1", "ckpt-3", "ckpt-5"]
    assert [r is None for r in results] == [False, True, False, True, False]
    assert len(os.listdir(export_path)) == 2  # exports_to_keep
    with pytest.raises(ValueError, match="no loss"):
        exporter.export(estimator, export_path, "ckpt-6", {"accuracy": 1.0}, False)


def test_add_metrics_names_a_bad_metric_fn_argument(tmp_path):
    import adapters.estimator as tf_estimator  # pylint: disable=import-outside-toplevel
    estimator = tf_estimator.Estimator(lambda features, labels, mode: None,
                                       model_dir=str(tmp_path))
    with pytest.raises(ValueError, match=r"not expected args: \['logits'\]"):
        tf_estimator.add_metrics(estimator, lambda labels, logits: {})
    added = tf_estimator.add_metrics(estimator, lambda labels, predictions: {})
    assert added.model_dir == estimator.model_dir and added is not estimator
