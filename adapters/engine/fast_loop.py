"""Faster training executions for SpecModel (issue 7).

Where one training step's time goes (10-16-3 MLP, batch 32, 2 CPU cores; see
benchmarks/ and the profiling notes):
- steps_per_execution=1: ~420 us per step, of which ~250 us is Python: tf.function's per-call
  argument binding and trace-cache lookup for the iterator argument (its nested TypeSpecs are
  hashed on every call), plus Keras's Optional round trip (from_value / has_value / get_value).
- steps_per_execution>1 (no Python per step): ~80 us per step, about 35 us of it the GetNext of
  one small batch; Keras's while_loop / cond / Optional plumbing and SpecModel's nested
  per-mode tf.function cost nothing measurable. With XLA every step is a separate XLA
  launch (~130 us per step, slower than without XLA).

What this module does instead:
- steps_per_execution=1: one tf.function of (iterator) doing GetNext + the step, without the
  Optional (OutOfRangeError before the step means no step ran, and Keras's epoch iterator turns
  it into the end of the epoch), called through a ConcreteFunction cached per iterator type.
  Any dataset. ~1.5x steps/s.
- steps_per_execution=N>1 on a repeated (infinite) dataset whose elements have static shapes:
  the dataset is grouped by N inside tf.data (`batch(N)`: the same batches, in the same order),
  so one GetNext feeds a whole execution, and the N steps run in ONE function (XLA-compiled as
  a whole when jit_compile=True) as a tf.while_loop with the model_fn inlined. Every step's
  TF1 summary tensors and global step are collected (TensorArrays) and written after the loop,
  outside XLA, exactly as SpecModel writes them. ~2x steps/s without XLA, ~4.5x with XLA.
Anything else (SessionRunHooks, several replicas, finite or unknown-size datasets, sparse /
ragged / dynamically shaped inputs, N>1 with a non-repeated dataset) uses SpecModel's own path.

Results are bit-identical to Keras's own loop (losses, every variable, summaries): checked by
tests/test_fast_loop.py. SpecModel.fit / make_train_function call these functions (wired in by
the issue-7 patch); `model.use_fast_loop = False` (set before fit) gives Keras's own loop back,
for debugging or comparison. Uses SpecModel
internals (_train_core, _core, _summary_layout, _loss_tracker, _world, _hook_runners, _core_jit).
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from keras_spec import ModeKeys

from adapters.engine.model_fn_binding import split_features_labels
from adapters.tf1 import world as tf1_world

# SpecModel imports this module; the functions here take the model as a duck-typed argument
# (SpecModel internals named in the module doc) so that the import goes one way only.
SpecModel = Any


def enabled(model: SpecModel) -> bool:
    """False when the user set `model.use_fast_loop = False`: Keras's own train loop then."""
    return bool(getattr(model, "use_fast_loop", True))


def _one_replica_without_hooks(model: SpecModel) -> bool:
    runner = model._hook_runners.get(ModeKeys.TRAIN)  # pylint: disable=protected-access
    return (model.distribute_strategy.num_replicas_in_sync == 1
            and not (runner is not None and runner.hooks))


def can_group(model: SpecModel, x: Any, hooks: list | None = None) -> bool:
    """Whether fit(x) may run whole executions in one fused function (see module doc).

    Call it after SpecModel has prepared the TRAIN hooks (its _prepare_hooks): SessionRunHooks
    from the spec itself (training_hooks, TPUEstimatorSpec host_call) are known only then.
    """
    if (not enabled(model) or model.steps_per_execution <= 1 or hooks
            or not isinstance(x, tf.data.Dataset)):
        return False
    if not _one_replica_without_hooks(model):
        return False
    if int(x.cardinality()) != int(tf.data.INFINITE_CARDINALITY):
        return False  # a last, partial execution would need Keras's Optional handling
    return all(isinstance(s, tf.TensorSpec) and s.shape.is_fully_defined()
               for s in tf.nest.flatten(x.element_spec))


def grouped(x: tf.data.Dataset, steps_per_execution: int) -> tf.data.Dataset:
    """The user's batches, `steps_per_execution` at a time: one element per execution."""
    return x.batch(steps_per_execution, drop_remainder=True)


def single_step_train_function(model: SpecModel) -> Callable:
    """Keras's train_function contract (iterator -> logs) for steps_per_execution=1."""
    if not enabled(model):
        # What keras.Model.make_train_function builds (Keras-private; checked on Keras 3.15.1).
        return model._make_function(model.train_step)  # pylint: disable=protected-access
    core = model._core(ModeKeys.TRAIN)  # pylint: disable=protected-access

    @tf.function(autograph=False, reduce_retracing=True)
    def one_step(iterator):
        features, labels = split_features_labels(iterator.get_next())
        loss, summaries = core(features, labels)[:2]
        model._write_summaries(ModeKeys.TRAIN, summaries)  # pylint: disable=protected-access
        model._update_loss_tracker(loss)  # pylint: disable=protected-access
        return {"loss": model._loss_tracker.result()}  # pylint: disable=protected-access

    concrete: dict = {}

    def function(iterator):
        key = iterator._type_spec  # pylint: disable=protected-access
        fn = concrete.get(key)
        if fn is None:
            fn = concrete[key] = one_step.get_concrete_function(iterator)
        return fn(iterator)

    return function


def fused_train_function(model: SpecModel) -> Callable:
    """Keras's train_function contract for an iterator over `grouped(...)` elements."""
    n = model.steps_per_execution
    world = model._world  # pylint: disable=protected-access

    def one_step(features, labels):
        # The step inlined (no nested function); _train_core returns (loss, summaries[, ...]).
        loss, summaries = model._train_core(features, labels)[:2]  # pylint: disable=protected-access
        model._update_loss_tracker(loss)  # pylint: disable=protected-access
        with tf.control_dependencies([loss]):
            step = world.global_step.value.read_value()
        return summaries, step

    def summary_specs(stacked) -> tuple[list, list]:
        """Dtypes/shapes and layout of the TRAIN summaries, as SpecModel's own TRAIN core trace
        (build_variables, same per-step input shapes) recorded them: the loop body is then
        traced only once, and tags keep the core's name scope instead of the loop's
        ("while/...")."""
        layout = list(model._summary_layout.get(ModeKeys.TRAIN, []))  # pylint: disable=protected-access
        specs = getattr(model, "_summary_specs", {}).get(ModeKeys.TRAIN)
        if specs is None:  # a SpecModel that does not record them: ask its core's trace
            per_step = tf.nest.map_structure(lambda t: tf.TensorSpec(t.shape[1:], t.dtype),
                                             stacked)
            core = model._core(ModeKeys.TRAIN)  # pylint: disable=protected-access
            outputs = core.get_concrete_function(*split_features_labels(per_step)).structured_outputs
            specs = [tf.TensorSpec(t.shape, t.dtype) for t in outputs[1]]
            layout = list(model._summary_layout.get(ModeKeys.TRAIN, []))  # pylint: disable=protected-access
        return specs, layout

    def fused(stacked):
        specs, layout = summary_specs(stacked)
        arrays = [tf.TensorArray(s.dtype, size=n, element_shape=s.shape) for s in specs]
        steps = tf.TensorArray(tf.int64, size=n)

        def body(i, steps, *arrays):
            data = tf.nest.map_structure(lambda t: t[i], stacked)
            summaries, step = one_step(*split_features_labels(data))
            if not arrays:
                return (i + 1, steps)
            return (i + 1, steps.write(i, step)) + tuple(
                a.write(i, t) for a, t in zip(arrays, summaries))

        _, steps, *arrays = tf.while_loop(lambda i, *_: i < n, body,
                                          (tf.constant(0), steps, *arrays),
                                          maximum_iterations=n)
        model._summary_layout[ModeKeys.TRAIN] = layout  # pylint: disable=protected-access
        if not arrays:
            return [], tf.zeros([n], tf.int64)
        return [a.stack() for a in arrays], steps.stack()

    core = tf.function(fused, jit_compile=model._core_jit or None,  # pylint: disable=protected-access
                       autograph=False, reduce_retracing=True)

    def write_summaries(stacked_summaries, steps):
        layout = model._summary_layout.get(ModeKeys.TRAIN, [])  # pylint: disable=protected-access
        if not layout or tf.get_static_value(tf.summary.should_record_summaries()) is False:
            return  # no default writer (decided when tracing, as in SpecModel)
        for j in range(n):
            tf1_world.write_summaries(
                [tf1_world.RecordedSummary(kind, tag, t[j], options)
                 for (kind, tag, options), t in zip(layout, stacked_summaries)],
                step=steps[j])

    @tf.function(autograph=False, reduce_retracing=True)
    def execution(iterator):
        summaries, steps = core(iterator.get_next())  # [steps_per_execution, batch, ...]
        write_summaries(summaries, steps)
        return {"loss": model._loss_tracker.result()}  # pylint: disable=protected-access

    return execution
