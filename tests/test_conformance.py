"""SpecModel reproduces what the real tf.estimator 2.15 recorded for the same model_fn source.

Quantities: per-step training losses, every variable after training (optimizer slots and
global_step included), evaluate() results and predictions, within 1e-4 relative (float32).
"""

import numpy as np
import pytest

from conformance_runner import GOLDEN, max_relative_error, run_case

RTOL = 1e-4
# (case, steps_per_execution, jit_compile): every case plainly, plus the fast paths.
RUNS = [("linreg", 1, False), ("mlp_classifier", 1, False), ("tpu_metrics", 1, False),
        ("mlp_classifier", 4, True), ("tpu_metrics", 5, False)]


@pytest.fixture(scope="module", params=RUNS, ids=lambda r: f"{r[0]}-spe{r[1]}-jit{int(r[2])}")
def result(request):
    name, spe, jit = request.param
    r = run_case(name, steps_per_execution=spe, jit_compile=jit)
    r["steps_per_execution"] = spe
    return name, r


def test_train_losses_match(result):
    name, r = result
    spe = r["steps_per_execution"]
    golden = np.asarray(GOLDEN[name]["train_losses"])
    # each History entry is the mean loss of one execution of `spe` steps
    golden = golden.reshape(-1, spe).mean(axis=1)
    assert len(r["train_losses"]) == len(golden)
    assert max_relative_error(r["train_losses"], golden) < RTOL


def test_variables_match(result):
    name, r = result
    golden = GOLDEN[name]["variables"]
    model = r["model"]
    assert set(golden) <= set(model.get_variable_names())
    for var_name, expected in golden.items():
        actual = model.get_variable_value(var_name)
        assert list(actual.shape) == GOLDEN[name]["variable_shapes"][var_name], var_name
        assert max_relative_error(actual, expected, floor=1e-3) < RTOL, var_name


def test_evaluate_matches(result):
    name, r = result
    golden = dict(GOLDEN[name]["evaluate"])
    assert r["model"].get_variable_value("global_step") == golden.pop("global_step")
    assert set(r["evaluate"]) == set(golden)
    for key, expected in golden.items():
        assert max_relative_error(r["evaluate"][key], expected) < RTOL, key


def test_predictions_match(result):
    name, r = result
    golden = GOLDEN[name]["predict_first8"]
    predictions = r["predict"]
    for key in golden[0]:
        expected = np.array([example[key] for example in golden])
        assert max_relative_error(predictions[key][:8], expected, floor=1e-3) < RTOL, key
