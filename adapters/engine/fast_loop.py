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

import time
from typing import Any, Callable

import tensorflow as tf

from keras_spec import ModeKeys

from adapters.engine.model_fn_binding import split_features_labels
from adapters.tf1 import world as tf1_world

# SpecModel imports this module; the functions here take the model as a duck-typed argument
# (SpecModel internals named in the module doc) so that the import goes one way only.
SpecModel = Any


def iterator_caller(concrete: Any) -> Callable:
    """`concrete(iterator)` without re-binding the iterator to the signature on every call.

    ConcreteFunction.__call__ canonicalizes its structured arguments per call (~100 us for an
    iterator: its nested TypeSpecs are compared); an iterator's flat inputs (its resource
    tensor) never change, so they are computed once per iterator and passed to
    ConcreteFunction._call_flat, the method __call__ ends in (TF-private; checked on TF 2.21).
    """
    call_flat = getattr(concrete, "_call_flat", None)
    if call_flat is None:  # another TF: the public call
        return concrete
    cache: dict = {"iterator": None, "flat": None}

    def call(iterator):
        if cache["iterator"] is not iterator:
            cache.update(iterator=iterator,
                         flat=tf.nest.flatten(iterator, expand_composites=True))
        return call_flat(cache["flat"], concrete.captured_inputs)

    return call


def flat_iterator_caller(concrete: Any) -> Callable:
    """`concrete(iterator)` returning its outputs as a flat list of tensors.

    Skips ConcreteFunction's per-call output packing (TypeSpec comparisons, ~50 us) by calling
    its inference AtomicFunction with the flat inputs (TF-private: `_inference_function`,
    `call_flat`; checked on TF 2.21). Only for functions that nothing differentiates (a train
    step: no gradient tape records it); another TF gets the public call, flattened.
    """
    atomic = getattr(concrete, "_inference_function", None)
    deferred = any(callable(c) for c in getattr(concrete, "_captured_inputs", [None]))
    if atomic is None or not hasattr(atomic, "call_flat") or deferred:
        # Another TF, or a capture read at call time (tf.function's by-reference captures).
        return lambda iterator: tf.nest.flatten(concrete(iterator))
    captured = concrete.captured_inputs
    cache: dict = {"iterator": None, "flat": None}

    def call(iterator):
        if cache["iterator"] is not iterator:
            cache.update(iterator=iterator,
                         flat=tf.nest.flatten(iterator, expand_composites=True) + list(captured))
        return atomic.call_flat(*cache["flat"])

    return call


class IteratorFunctions:
    """Functions built per iterator TypeSpec (and an extra key), found without hashing the
    TypeSpec on every call (~50-100 us for nested features): the current iterator's are
    remembered by identity. `build(iterator, extra)` makes one."""

    def __init__(self, build: Callable[[Any, Any], Callable]):
        self._build = build
        self._by_spec: dict = {}
        self._current: tuple = (None, {})

    def get(self, iterator: Any, extra: Any = ()) -> Callable:
        current, functions = self._current
        if current is not iterator:
            functions = {}
            self._current = (iterator, functions)
        function = functions.get(extra)
        if function is None:
            key = (iterator._type_spec, extra)  # pylint: disable=protected-access
            function = self._by_spec.get(key)
            if function is None:
                function = self._by_spec[key] = self._build(iterator, extra)
            functions[extra] = function
        return function


def count_steps_run(model: SpecModel, steps: int) -> None:
    """model._steps_run_in_fit = steps, without Keras's attribute tracking (~50 us per call, per
    step when hooks act every step): an int needs none."""
    object.__setattr__(model, "_steps_run_in_fit", steps)


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

    functions = IteratorFunctions(
        lambda iterator, _: iterator_caller(one_step.get_concrete_function(iterator)))

    def function(iterator):
        return functions.get(iterator)(iterator)

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


def drives_hooks(model: SpecModel) -> bool:
    """Whether fit runs the TRAIN SessionRunHooks inside the train function (hook_train_function):
    one replica, fast loop on, and each Keras execution either one step or asked to call the
    hooks at every step (`model._exact_hook_steps`, the Estimator facade). Otherwise (TPUEstimator's
    iterations_per_loop, SpecModel at steps_per_execution N) hooks run once per execution."""
    runner = model._hook_runners.get(ModeKeys.TRAIN)  # pylint: disable=protected-access
    if not enabled(model) or model.distribute_strategy.num_replicas_in_sync != 1:
        return False
    if getattr(model, "_exact_hook_steps", False):
        return True  # the facade: also ends executions at its time-based cadences
    return runner is not None and bool(runner.hooks) and model.steps_per_execution == 1


def _steps_before_due(model: SpecModel, step_secs: float | None) -> int:
    """Steps that fit before `model._time_cadence` (the facade's TrainLoop, for
    save_checkpoints_secs) is due, at least 1."""
    cadence = getattr(model, "_time_cadence", None)
    if cadence is None:
        return 1 << 30
    if not step_secs:
        return 10  # no estimate yet: a short first call measures one
    return max(1, int(cadence.seconds_until_due() / step_secs))


def hook_train_function(model: SpecModel) -> Callable:
    """Keras's train_function contract with SessionRunHooks observing every step.

    Each call runs the execution's steps_per_execution steps in segments: a segment's last step
    is the first step at which some hook acts (adapters/hooks/schedule.py), its other steps are
    steps the hooks would only count. The hooks' before_run/after_run run around the segment's
    last step, with that step's fetched values; the steps before it run fused, in the same
    function call. With a hook whose schedule is unknown every segment is one step, as in
    tf.estimator's session loop. Same steps, same order, same values as one call per step.
    """
    from adapters.hooks.schedule import HookSchedule  # pylint: disable=g-import-not-at-top

    core = model._core(ModeKeys.TRAIN)  # pylint: disable=protected-access

    def run_step(data):
        features, labels = split_features_labels(data)
        loss, summaries = core(features, labels)[:2]
        with tf.compat.v1.name_scope(None):  # summary tags as outside the loop, not "while/..."
            model._write_summaries(ModeKeys.TRAIN, summaries)  # pylint: disable=protected-access
        model._loss_tracker.update_state(loss)  # pylint: disable=protected-access

    @tf.function(autograph=False, reduce_retracing=True)
    def segment(iterator, n):
        """Up to n steps; stops early when the input ends. Returns (steps run, logs)."""
        def body(i, ran):
            optional = iterator.get_next_as_optional()

            def step():
                run_step(optional.get_value())
                return ran + 1
            return i + 1, tf.cond(optional.has_value(), step, lambda: ran)

        _, ran = tf.while_loop(lambda i, ran: tf.logical_and(i < n, tf.equal(ran, i)), body,
                               (tf.constant(0), tf.constant(0)))
        return ran, {"loss": model._loss_tracker.result()}  # pylint: disable=protected-access

    def one_step(slots: list) -> Callable:
        """One step without control flow (a 1-step while_loop costs ~3x more per call); an
        OutOfRangeError before it means no step ran. Also returns the hooks' mailboxes as the
        step left them: one call instead of one variable read per fetched tensor."""
        @tf.function(autograph=False, reduce_retracing=True)
        def step(iterator):
            run_step(iterator.get_next())
            return [model._loss_tracker.result()] + [slot.read_value() for slot in slots]  # pylint: disable=protected-access
        return step

    # Per iterator type: the one-step function per set of mailboxes (the hooks' fetches), and
    # the segment function.
    single_steps = IteratorFunctions(lambda iterator, _keys: flat_iterator_caller(
        one_step(state["slots"]).get_concrete_function(iterator)))
    segments = IteratorFunctions(lambda iterator, _: segment.get_concrete_function(
        iterator, tf.TensorSpec([], tf.int32)))
    counts: dict = {}
    state = {"runner": None, "hooks": None, "schedule": None, "step_secs": None,
             "iterator": None, "left": None, "slots": []}

    def call_segment(iterator, n: int):
        if n == 1:
            runner = state["runner"]
            keys, state["slots"] = runner.mailboxes() if runner is not None else ((), [])
            fn = single_steps.get(iterator, keys)
            try:
                loss, *values = fn(iterator)
            except tf.errors.OutOfRangeError:
                return 0, None
            if runner is not None:
                runner.set_step_values(dict(zip(keys, values)))
            return 1, {"loss": loss}
        if state["runner"] is not None:
            state["runner"].set_step_values(None)  # after_run reads the mailboxes themselves
        fn = segments.get(iterator)
        count = counts.get(n)
        if count is None:
            count = counts[n] = tf.constant(n, tf.int32)
        return fn(iterator, count)

    def function(iterator):
        runner = model._hook_runners.get(ModeKeys.TRAIN)  # pylint: disable=protected-access
        hooks = list(runner.hooks) if runner is not None else []
        if state["runner"] is not runner or state["hooks"] != hooks:
            state.update(runner=runner, hooks=hooks, schedule=HookSchedule(hooks))
        if state["iterator"] is not iterator:  # a new epoch: batches it has, when known
            state.update(iterator=iterator, left=getattr(model, "_fit_batches", None))
        schedule = state["schedule"]
        remaining, logs, steps_run = model.steps_per_execution, None, 0
        counted = model._steps_run_in_fit or 0  # pylint: disable=protected-access
        if state["left"] is not None:
            remaining = min(remaining, max(state["left"], 1))

        def run(k: int) -> int:
            """Runs up to k steps in one call; counts them; 0 when the input had ended."""
            nonlocal logs, steps_run
            started = time.perf_counter()
            ran, step_logs = call_segment(iterator, k)
            ran, logs = int(ran), step_logs or logs
            if ran:
                state["step_secs"] = (time.perf_counter() - started) / ran
                steps_run += ran
                if state["left"] is not None:
                    state["left"] -= ran
            return ran

        while remaining > 0:
            global_step = 0 if schedule.every_step else int(model.global_step.numpy())
            n = min(remaining, schedule.steps_until_needed(global_step, state["step_secs"]),
                    _steps_before_due(model, state["step_secs"]))
            ran = 0
            if hooks:
                schedule.skip(n - 1)  # the hooks' calls for the first n-1 steps would do nothing
                if n > 1:
                    # The steps no hook acts on run first, so that before_run sees the state just
                    # before the step it asks about (a fetched global step reads as in tf.estimator).
                    ran = run(n - 1)
                    if ran < n - 1:  # the input ended before the step the hooks asked about
                        if not steps_run:
                            raise tf.errors.OutOfRangeError(None, None, "End of sequence")
                        break
                runner.before_run()
            ran += run(n - ran)
            if ran == 0:  # the input ended before the step: no after_run (as OutOfRangeError)
                if not steps_run:
                    raise tf.errors.OutOfRangeError(None, None, "End of sequence")
                break
            if ran < n:  # the input ended before the step the hooks asked about: no after_run
                break
            if hooks:
                # Callbacks that see a step before the hooks (the facade's checkpoint and
                # train_and_evaluate's evaluation of it) act on this step first, as tf.estimator's
                # chief CheckpointSaverHook did before the user's hooks.
                before_hooks = getattr(model, "_callbacks_before_hooks", ())
                if before_hooks:
                    count_steps_run(model, counted + steps_run)
                    step_logs = {k: float(v) for k, v in (logs or {}).items()}
                    for callback in before_hooks:
                        callback.on_train_batch_end(steps_run - 1, step_logs)
                runner.after_run()
            remaining -= ran
            if hooks and runner.stop_requested:
                model.stop_training = True
                break
            cadence = getattr(model, "_time_cadence", None)
            if cadence is not None and cadence.seconds_until_due() <= 0:
                count_steps_run(model, counted + steps_run)
                cadence.act()  # a checkpoint every N seconds, between two steps
        count_steps_run(model, counted + steps_run)
        return logs

    function.drives_hooks = True
    return function
