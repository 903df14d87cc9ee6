"""eval_metric_ops as Keras metrics, with the values tf.estimator reported.

tf.estimator ran every update op over the evaluation data, then fetched the value tensors once
more in a final `session.run`. Inside a traced step a value tensor read before its update op
(compat.v1 precision/recall do that) reports the previous batch, so the in-step value is only
used for the progress bar; the number `evaluate()` returns comes from a values-only function:
the EVAL model_fn traced once more in a `tf.compat.v1.wrap_function` graph and pruned to the
value tensors, which reads the metric variables without running any update.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
import tensorflow as tf


def is_metric_object(entry: Any) -> bool:
    """Keras 3 (or tf_keras) Metric objects are used as they are."""
    return isinstance(entry, keras.metrics.Metric) or (
        hasattr(entry, "result") and hasattr(entry, "reset_state") and hasattr(entry, "update_state"))


def _depends_on(tensor: tf.Tensor, sources: set) -> bool:
    """Whether `tensor` is computed from any op in `sources` (the step's input tensors' ops)."""
    if not sources:
        return False
    seen = set()
    stack = [tensor.op]
    while stack:
        op = stack.pop()
        if op in sources:
            return True
        if op in seen:
            continue
        seen.add(op)
        stack.extend(t.op for t in op.inputs)
        stack.extend(op.control_inputs)
    return False


class BridgedMetric(keras.metrics.Metric):
    """One eval_metric_ops entry as Keras sees it: updates happen in the model_fn's step."""

    def __init__(self, key: str, bridge: "MetricBridge"):
        super().__init__(name=key)
        self._key = key
        self._bridge = bridge

    def update_state(self, *args, **kwargs):
        raise RuntimeError(f"Metric '{self._key}' is updated by the model_fn's eval_metric_ops "
                           "in test_step, not by update_state().")

    def result(self):
        return self._bridge.final_value(self._key)

    def reset_state(self):
        """Nothing per metric: SpecModel.reset_metrics resets the bridge's state once."""


class MetricBridge:
    """Holds every eval_metric_ops key seen, how to read its value, and how to reset it."""

    def __init__(self, reset_local_variables: Callable[[], None],
                 trace_eval_metric_ops: Callable[[Any, Any], dict],
                 mark_metric_state: Callable[[tf.Variable], None] = lambda v: None):
        self._reset_local_variables = reset_local_variables
        self._mark_metric_state = mark_metric_state
        self._trace_eval_metric_ops = trace_eval_metric_ops
        self._default_trace = trace_eval_metric_ops
        self.metrics: dict[str, BridgedMetric] = {}
        self._metric_objects: dict[str, Any] = {}
        self._holders: dict[str, tf.Variable] = {}
        self._input_signature = None
        self._values_fn = None

    # -- inside the traced test step ----------------------------------------------------------
    def step(self, eval_metric_ops: dict, features: Any, labels: Any,
             retrace: Callable[[Any, Any], dict] | None = None) -> dict:
        """Run every update op; return the in-step values (for progress display).

        `retrace(features, labels)` rebuilds the same eval_metric_ops for the values-only graph
        (default: the EVAL model_fn); a TPU metric_fn run on gathered tensors passes its own.
        """
        trace = retrace or self._default_trace
        if trace is not self._trace_eval_metric_ops:
            self._trace_eval_metric_ops, self._values_fn = trace, None
            self._input_signature = None
        self._remember_signature(features, labels)
        sources = {t.op for t in tf.nest.flatten((features, labels)) if isinstance(t, tf.Tensor)}
        updates, values = [], {}
        if "loss" in eval_metric_ops:
            raise ValueError("eval_metric_ops must not have a key named 'loss': evaluate() "
                             "reports the spec's loss under that name (tf.estimator refused it too).")
        for key in sorted(eval_metric_ops):
            entry = eval_metric_ops[key]
            if key not in self.metrics:
                self.metrics[key] = BridgedMetric(key, self)
            if is_metric_object(entry):
                self._metric_objects[key] = entry
                for variable in getattr(entry, "variables", []):
                    self._mark_metric_state(getattr(variable, "value", variable))
                continue
            value, update = entry
            updates.append(update)
            values[key] = value
        deps = [u for u in updates if u is not None]
        logs = {}
        with tf.control_dependencies(deps):
            for key in sorted(eval_metric_ops):
                entry = eval_metric_ops[key]
                if is_metric_object(entry):
                    logs[key] = entry.result()
                    continue
                value = tf.convert_to_tensor(values[key])
                if _depends_on(value, sources):
                    holder = self._holder(key, value)
                    holder.assign(value)
                    self._values_fn = None  # the set of batch-dependent values changed
                logs[key] = tf.identity(value)
        return logs

    def _holder(self, key: str, value: tf.Tensor) -> tf.Variable:
        holder = self._holders.get(key)
        if holder is None:
            context = tf.distribute.get_replica_context()
            if context is not None and context.num_replicas_in_sync > 1:
                raise ValueError(
                    f"eval_metric_ops['{key}']: its value tensor depends on the batch, which "
                    "under several replicas would report one replica's last batch. Use a "
                    "tf.compat.v1.metrics.* metric or a Keras Metric object (aggregated across "
                    "replicas), or TPUEstimatorSpec eval_metrics (computed on all replicas' "
                    "tensors).")
            if not value.shape.is_fully_defined():
                raise ValueError(
                    f"eval_metric_ops['{key}']: its value tensor depends on the batch and has a "
                    f"dynamic shape {value.shape}; keras-spec reports such values from the last "
                    "batch and needs a static shape. Use a tf.compat.v1.metrics.* metric or a "
                    "Keras Metric object, whose value is computed from its accumulated state.")
            with tf.init_scope():
                holder = tf.Variable(tf.zeros(value.shape, value.dtype), trainable=False,
                                     name=f"keras_spec_last_value_{key}")
            self._holders[key] = holder
        return holder

    def _remember_signature(self, features: Any, labels: Any) -> None:
        if self._input_signature is not None:
            return

        def spec_of(t):
            if t is None:  # labels=None: a features-only input (tf.estimator passed None too)
                return None
            if isinstance(t, tf.SparseTensor):
                return tf.SparseTensorSpec(t.shape, t.dtype)
            # The step's own shapes (static batch included): model_fns read params['batch_size'].
            return tf.TensorSpec(t.shape, t.dtype)

        self._input_signature = tf.nest.map_structure(spec_of, (features, labels))

    # -- eager, after the loop ---------------------------------------------------------------
    def _build_values_fn(self):
        structure = self._input_signature
        flat_structure = tf.nest.flatten(structure, expand_composites=False)
        flat_specs = [s for s in flat_structure if s is not None]
        value_keys = [k for k in self.metrics
                      if k not in self._metric_objects and k not in self._holders]
        captured = {}

        def values_graph(*flat_inputs):
            inputs = iter(flat_inputs)
            flat = [None if s is None else next(inputs) for s in flat_structure]
            features, labels = tf.nest.pack_sequence_as(structure, flat)
            ops = self._trace_eval_metric_ops(features, labels)
            captured["values"] = {k: tf.convert_to_tensor(ops[k][0]) for k in value_keys if k in ops}
            return []

        wrapped = tf.compat.v1.wrap_function(values_graph, signature=flat_specs)
        fetches = captured["values"]
        if not fetches:
            return lambda: {}
        pruned = wrapped.prune(feeds=[], fetches=fetches)
        return pruned

    def final_value(self, key: str):
        if key in self._metric_objects:
            return self._metric_objects[key].result()
        if key in self._holders:
            return self._holders[key].read_value()
        if self._values_fn is None:
            with tf.init_scope():
                self._values_fn = self._build_values_fn()
        return self._values_fn()[key]

    def reset(self) -> None:
        """Start of every evaluation: locals re-initialized, Keras metric objects reset."""
        self._reset_local_variables()
        for metric in self._metric_objects.values():
            metric.reset_state()
        for holder in self._holders.values():
            holder.assign(tf.zeros_like(holder))
