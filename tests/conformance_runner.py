"""Runs a conformance case (tests/conformance/cases.py) through SpecModel the way the golden
recording ran it through tf.estimator, and returns every recorded quantity for comparison."""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import tensorflow as tf

import keras_spec
from adapters import SpecModel

HERE = os.path.dirname(os.path.abspath(__file__))
CONFORMANCE_DIR = os.path.join(HERE, "conformance")
sys.path.insert(0, CONFORMANCE_DIR)
import cases  # noqa: E402  (vendored from shared/conformance)

cases.SPEC = keras_spec

with open(os.path.join(CONFORMANCE_DIR, "golden.json")) as f:
    GOLDEN = json.load(f)["cases"]


def make_case(name: str) -> dict:
    return cases.ALL_CASES[name]()


def train_dataset(case: dict) -> tf.data.Dataset:
    return (tf.data.Dataset.from_tensor_slices(({"x": case["train_x"]}, case["train_y"]))
            .repeat().batch(case["train_batch_size"], drop_remainder=True))


def eval_dataset(case: dict) -> tf.data.Dataset:
    return (tf.data.Dataset.from_tensor_slices(({"x": case["eval_x"]}, case["eval_y"]))
            .batch(case["eval_batch_size"], drop_remainder=True).take(case["eval_steps"]))


def predict_dataset(case: dict) -> tf.data.Dataset:
    return (tf.data.Dataset.from_tensor_slices({"x": case["eval_x"]})
            .batch(case["predict_batch_size"], drop_remainder=True))


def run_case(name: str, steps_per_execution: int = 1, jit_compile: bool = False) -> dict:
    """Train, evaluate and predict; returns {'model', 'train_losses', 'evaluate', 'predict'}."""
    case = make_case(name)
    model = SpecModel(case["model_fn"], params=case["params"])
    model.compile(steps_per_execution=steps_per_execution, jit_compile=jit_compile)
    # One execution per epoch: History then holds the mean forward loss of those steps (with
    # steps_per_execution 1, each step's loss, which tf.estimator fetched with train_op).
    assert case["train_steps"] % steps_per_execution == 0
    history = model.fit(train_dataset(case), epochs=case["train_steps"] // steps_per_execution,
                        steps_per_epoch=steps_per_execution, verbose=0)
    evaluation = model.evaluate(eval_dataset(case), return_dict=True, verbose=0)
    predictions = model.predict(predict_dataset(case), verbose=0)
    return dict(model=model, case=case, train_losses=history.history["loss"],
                evaluate=evaluation, predict=predictions)


def max_relative_error(actual, expected, floor: float = 1e-6) -> float:
    """max |a - e| / max(|e|, floor): relative error, absolute below `floor`."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    if actual.size == 0:
        return 0.0
    return float(np.max(np.abs(actual - expected) / np.maximum(np.abs(expected), floor)))
