"""TF1 names for the variables of Keras layers created inside a model_fn.

tf.estimator called the model_fn in a fresh graph, and Keras 2 numbered layers per graph: a
Sequential built in the model_fn always gave `conv2d/kernel`, `conv2d_1/kernel`,
`dense/kernel`, whatever the process built before. Keras 3 numbers layers per process
(`dense_12`), and a traced FuncGraph uniquifies name scopes again (`conv2d_1_1`), so the graph's
name scope alone gives names no tf.estimator checkpoint holds. Here:

- each model_fn call starts Keras's auto-name counters afresh (`fresh_layer_names`), as a new
  TF1 graph did;
- a Keras variable's TF1 scope is the user's own name/variable scopes (from the graph) followed
  by the names of the Keras objects building it (from Keras's name-scope stack, free of the
  graph's `_1` suffixes) — `tf1_scope`;
- a Sequential whose input shape is known is built by its constructor: Keras 2 did that outside
  any model scope (`conv2d/kernel`), Keras 3 inside `sequential/`; that model scope is dropped
  (`constructing_sequential`);
- Keras 3's random-seed state (`seed_generator_state`, from Dropout etc.) has no TF1
  counterpart: it is reported as such so that it is never a TF1 (checkpointed) variable.

Recorded against tf.estimator 2.15 / Keras 2 in tests/real_world/goldens/keras_in_model_fn.
Keras private state is read in the `_keras_private_*` functions (checked on Keras 3.15.1).
"""

from __future__ import annotations

import collections
import contextlib
import re
import threading
from typing import Any, Callable, Iterator

import keras

_constructing = threading.local()


def _keras_private_global_state():
    """Keras 3's thread-local global state (auto-name counters, name-scope stack).

    No public API exposes either. Checked on Keras 3.15.1 (keras/src/backend/common/
    global_state.py; counters under "object_name_uids" in keras/src/utils/naming.py, the stack
    under "name_scope_stack" in keras/src/backend/common/name_scope.py).
    """
    from keras.src.backend.common import global_state  # pylint: disable=g-import-not-at-top

    return global_state


def _keras_private_name_scope_stack() -> list:
    """The Keras name scopes open now: objects with `.name` and `.caller` (outermost first)."""
    return list(_keras_private_global_state().get_global_attribute("name_scope_stack") or [])


@contextlib.contextmanager
def fresh_layer_names() -> Iterator[None]:
    """Keras auto-names (`dense`, `dense_1`, ...) counted from zero for one model_fn call."""
    state = _keras_private_global_state()
    saved = state.get_global_attribute("object_name_uids")
    state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    try:
        yield
    finally:
        state.set_global_attribute("object_name_uids", saved)


def constructing_sequential(original: Callable) -> Callable:
    """Wraps `keras.Sequential._maybe_rebuild` (Keras 3.15.1: the constructor's and `add`'s
    build when the input shape is known) to mark the model whose scope Keras 2 did not add."""
    def _maybe_rebuild(self, *args, **kwargs):
        stack = getattr(_constructing, "models", None)
        if stack is None:
            stack = _constructing.models = []
        stack.append(self)
        try:
            return original(self, *args, **kwargs)
        finally:
            stack.pop()
    return _maybe_rebuild


def _is_seed_generator(obj: Any) -> bool:
    return isinstance(obj, keras.random.SeedGenerator)


def _matches(segment: str, name: str) -> bool:
    """A graph name-scope segment made from Keras scope `name` (possibly uniquified `name_3`)."""
    return segment == name or re.fullmatch(re.escape(name) + r"(_\d+)+", segment) is not None


def tf1_scope(graph_scope: str) -> tuple[str, bool] | None:
    """(TF1 name scope, is Keras RNG state) for a variable Keras creates now, or None when no
    Keras object is building it (a TF2 `tf.Variable` in the model_fn: the graph scope stands).

    `graph_scope` is the graph's name scope relative to the call's base scope.
    """
    stack = _keras_private_name_scope_stack()
    if not stack:
        return None
    segments = [s for s in graph_scope.split("/") if s]
    keras_parts = []
    for entry in reversed(stack):  # each Keras scope opened one graph scope, innermost last
        if not segments or not _matches(segments[-1], entry.name):
            return None  # a user scope inside a Keras call: keep the graph's names
        segments.pop()
        keras_parts.append(entry)
    keras_parts.reverse()
    constructing = getattr(_constructing, "models", None) or []
    names = [e.name for e in keras_parts
             if not any(e.caller is model for model in constructing)]
    is_rng_state = _is_seed_generator(stack[-1].caller)
    return "/".join(segments + names), is_rng_state
