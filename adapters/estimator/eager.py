"""Facade calls run eagerly, even in a script that disabled eager execution.

TF1-era scripts ported to TF 2.x often start with `tf.compat.v1.disable_eager_execution()` or
`tf.compat.v1.disable_v2_behavior()`; tf.estimator 2.15 built its own graphs and ran them either
way. keras-spec runs Keras 3, which needs eager execution: in graph mode the first variable
failed with a misleading "initial value is a graph tensor" error. So each facade entry point
runs in eager mode for its own duration only; the script's own graph-mode code around it is
untouched, and the results are numpy values and bytes, as tf.estimator returned.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Callable, Iterator

import tensorflow as tf


def _private_eager_mode() -> Any:
    """TF has no public scoped switch to eager execution (`tf.compat.v1.enable_eager_execution`
    is global and refuses once graphs exist): `context.eager_mode()` is private; checked on TF
    2.21.0."""
    from tensorflow.python.eager import context  # pylint: disable=import-outside-toplevel
    return context.eager_mode()


@contextlib.contextmanager
def _eager_mode() -> Iterator[None]:
    """Eager execution with the TF2 variables and control flow Keras 3 needs, restored afterwards.

    `disable_v2_behavior()` also switched off resource variables and control flow v2; they are
    switched back on (public toggles) for the facade call only. TF1 TensorShapes stay as the
    script chose: a model_fn written for TF1 behaviour keeps its `shape[1].value`, as under
    tf.estimator.
    """
    v1 = tf.compat.v1
    toggles = [(v1.resource_variables_enabled(), v1.enable_resource_variables,
                v1.disable_resource_variables),
               (v1.control_flow_v2_enabled(), v1.enable_control_flow_v2,
                v1.disable_control_flow_v2)]
    for enabled, enable, _ in toggles:
        if not enabled:
            enable()
    try:
        with _private_eager_mode():
            yield
    finally:
        for enabled, _, disable in toggles:
            if not enabled:
                disable()


def _needs_switch() -> bool:
    # Inside a tf.function (never a facade call site) graph building is wanted: leave it.
    return not tf.executing_eagerly() and not tf.inside_function()


def run_eagerly(method: Callable) -> Callable:
    """Run `method` in eager mode when called from graph mode."""

    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _needs_switch():
            return method(*args, **kwargs)
        with _eager_mode():
            return method(*args, **kwargs)

    return wrapper


def iterate_eagerly(generator_function: Callable) -> Callable:
    """Like run_eagerly for a generator function: each step of the generator runs eagerly,
    and the caller's own code between items runs in its own mode."""

    @functools.wraps(generator_function)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
        if not _needs_switch():
            yield from generator_function(*args, **kwargs)
            return
        with _eager_mode():
            generator = generator_function(*args, **kwargs)
        while True:
            with _eager_mode():
                try:
                    item = next(generator)
                except StopIteration:
                    return
            yield item

    return wrapper
