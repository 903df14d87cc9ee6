"""SessionRunHooks run around Keras steps (docs/semantics.md, "Hooks and checkpoints").

A TF1 MonitoredSession called `begin()` once the graph was built, `after_create_session`,
then `before_run` / `after_run` around every `session.run`, and `end` at the close. Here the
graph is the traced step: `begin()` runs inside the trace (after the model_fn, in its TF1
world), and every tensor a hook asks for in its first `before_run` gets a mailbox variable the
step writes into; the Keras callback then hands those values to `after_run`. Hooks that need a
real Session to run new ops get a clear error naming them. In training on one replica the train
function itself calls before_run/after_run at every step a hook acts on, running the steps in
between fused (engine/fast_loop.hook_train_function, hooks/schedule.py). With
steps_per_execution N (TPUEstimator's iterations_per_loop, SpecModel) the hooks otherwise run
once per execution (the values of its last step), as TPUEstimator ran them per loop.

The standard hooks whose begin() builds TF1-only machinery (savers, FileWriters, profilers) are
replaced by native equivalents: CheckpointSaverHook and ProfilerHook by NativeHooks the runner
drives like other hooks (native_hooks.py; so they also work as the spec's training hooks),
SummarySaverHook and StepCounterHook by Keras callbacks.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import keras
import tensorflow as tf

from adapters.tf1 import scaffold as scaffold_lib
from adapters.tf1 import world as tf1_world
from adapters.hooks.native import Cadence, native_hook
from adapters.hooks.native import hook_settings as _hook_settings
from adapters.hooks.native import timer_every as _timer_every

_train = tf.compat.v1.train
_log = logging.getLogger("keras_spec")


class HookSessionError(RuntimeError):
    """A hook asked for something only a TF1 Session could do."""


_NO_ARGS = _train.SessionRunArgs(None)  # what a run asks for before the hooks add theirs


def _hook_name(hook: Any) -> str:
    return type(hook).__name__


# ---------------------------------------------------------------------------------------------
# Native replacements for hooks whose begin() builds TF1-only machinery
# ---------------------------------------------------------------------------------------------
class SummaryWriterCallback(keras.callbacks.Callback):
    """SummarySaverHook / StepCounterHook: a default summary writer for the model_fn's summaries
    (written at the global step every N steps) and, for StepCounterHook, global_step/sec."""

    def __init__(self, spec_model: Any, output_dir: str, every_steps: int | None,
                 every_secs: float | None, steps_per_sec: bool = False):
        super().__init__()
        self._spec_model = spec_model
        self._file_writer = tf.summary.create_file_writer(output_dir)
        self._cadence = Cadence(every_steps, every_secs)
        self._steps_per_sec = steps_per_sec
        self._contexts = []
        self._recording = tf.Variable(False, trainable=False)

    def on_train_begin(self, logs=None):
        if not self._steps_per_sec:  # the model_fn's summaries go to this writer
            self._contexts = [self._file_writer.as_default(), tf.summary.record_if(self._recording)]
            for context in self._contexts:
                context.__enter__()
        self._cadence.mark(int(self._spec_model.global_step.numpy()))
        self._recording.assign(False)

    def on_train_batch_begin(self, batch, logs=None):
        if not self._steps_per_sec:
            step = int(self._spec_model.global_step.numpy()) + 1
            self._recording.assign(self._cadence.every_steps is None or self._cadence.due(step))

    def on_train_batch_end(self, batch, logs=None):
        step = int(self._spec_model.global_step.numpy())
        if self._cadence.due(step):
            if self._steps_per_sec:
                elapsed = time.time() - self._cadence.last_time
                rate = (step - self._cadence.last_step) / max(elapsed, 1e-9)
                with self._file_writer.as_default():
                    tf1_world.write_scalar("global_step/sec", rate, step)
                _log.info("global_step/sec: %g", rate)
            self._cadence.mark(step)

    def on_train_end(self, logs=None):
        for context in reversed(self._contexts):
            context.__exit__(None, None, None)
        self._contexts = []
        self._file_writer.flush()


def native_callbacks(spec_model: Any, hooks: list) -> tuple[list, list]:
    """Split hooks into (hooks run through the bridge, Keras callbacks replacing standard ones).

    CheckpointSaverHook and ProfilerHook come back as NativeHooks among the bridged hooks. The
    first CheckpointSaverHook also gets the saving listeners the Estimator facade set aside for
    a CheckpointSaverHook of the spec (tf.estimator added them to the first saver hook).
    """
    bridged, callbacks = [], []
    extra_listeners = scaffold_lib.spec_saver_listeners(scaffold_lib.world_of(spec_model))
    for hook in hooks:
        native = native_hook(spec_model, hook, extra_listeners)
        if native is not None:
            if isinstance(hook, _train.CheckpointSaverHook):
                extra_listeners = []
            bridged.append(native)
        elif isinstance(hook, _train.SummarySaverHook):
            output_dir, timer = _hook_settings(hook, "_output_dir", "_timer")
            if output_dir is None:
                raise HookSessionError("SummarySaverHook needs output_dir: keras-spec writes with "
                                       "tf.summary writers, not a TF1 FileWriter.")
            callbacks.append(SummaryWriterCallback(spec_model, output_dir, *_timer_every(timer)))
        elif isinstance(hook, _train.StepCounterHook):
            output_dir, timer = _hook_settings(hook, "_output_dir", "_timer")
            if output_dir is None:
                output_dir = os.path.join(os.getcwd(), "step_counter")
            callbacks.append(SummaryWriterCallback(spec_model, output_dir, *_timer_every(timer),
                                                   steps_per_sec=True))
        elif isinstance(hook, _train.FeedFnHook):
            raise HookSessionError(
                "FeedFnHook needs a TF1 Session (feed_dict), which TF 2.21 no longer has. Feed "
                "data through the input dataset.")
        else:
            bridged.append(hook)
    return bridged, callbacks


# ---------------------------------------------------------------------------------------------
# The generic bridge
# ---------------------------------------------------------------------------------------------
class _SessionShim:
    """What a hook's `session` argument can still do: read variables (and fetched values)."""

    def __init__(self, runner: "HookRunner", hook: Any):
        self._runner, self._hook = runner, hook
        self.graph = runner.graph

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        if feed_dict:
            raise HookSessionError(f"{_hook_name(self._hook)} calls session.run with a feed_dict; "
                                   "keras-spec runs hooks without a TF1 Session.")
        return tf.nest.map_structure(lambda f: self._runner.read_now(f, self._hook), fetches)


def _attributes(op: tf.Operation) -> tuple:
    """An op's attributes (constants' values, dtypes, shapes), but not the names of the functions
    it calls (unique per trace: such an op never matches, and the step is traced again)."""
    node = op.node_def
    return tuple((key, node.attr[key].SerializeToString(deterministic=True))
                 for key in sorted(node.attr))


def _computation(tensor: tf.Tensor) -> frozenset:
    """What computes a graph tensor: (name, type, inputs, attributes) of every op it depends on."""
    seen, pending, ops = set(), [tensor.op], set()
    while pending:
        op = pending.pop()
        if op.name in seen:
            continue
        seen.add(op.name)
        ops.add((op.name, op.type, tuple(t.name for t in op.inputs), _attributes(op)))
        pending.extend(t.op for t in op.inputs)
        pending.extend(op.control_inputs)
    return frozenset(ops)


def _same_computation(tensor: tf.Tensor, traced: tf.Tensor) -> bool:
    """A probe trace's tensor computes what the traced step's tensor at its place computes."""
    return tensor.name == traced.name and _computation(tensor) == _computation(traced)


def _graph_tensors(value: Any, path: tuple, depth: int = 0):
    """(path, tensor) for every graph tensor held in a hook's attributes (dicts/lists too)."""
    if depth > 3:
        return
    if isinstance(value, tf.Tensor) and not hasattr(value, "numpy"):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _graph_tensors(v, path + (k,), depth + 1)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _graph_tensors(v, path + (i,), depth + 1)


class HookRunner:
    """The bridged hooks of one mode: traced with the step, run around every execution.

    What a hook can fetch is what it holds after begin(): the graph tensors in its attributes
    (LoggingTensorHook's tensors, NanTensorHook's loss, a user hook's fields) get a mailbox
    variable, keyed by (hook position, attribute path) so that every trace of the step (Keras
    retraces for a smaller last batch) writes the same mailbox.
    """

    def __init__(self, user_hooks: list, is_chief: bool, world: Any):
        self.user_hooks = list(user_hooks)
        self.is_chief = is_chief
        self.world = world
        self.hooks: list = []
        self.graph = None
        self._slots: dict[tuple, tf.Variable] = {}   # (hook index, path) -> mailbox
        self._key_of: dict[int, tuple] = {}          # id(graph tensor) -> mailbox key
        self._read_of: dict[tuple, Any] = {}         # mailbox key -> variable it merely reads
        self._tensor_at: dict[tuple, Any] = {}       # mailbox key -> graph tensor it carries
        self._collections: dict = {}                 # the graph's collections at begin()
        self._fresh: list = []                       # hooks traced after the session started
        self._started = False
        self._pending: list = []
        self._stale: dict[int, Any] = {}              # id(fetch) -> global step before the step
        self._step_values: dict | None = None         # mailbox key -> value the step returned
        self._shims: dict[int, _SessionShim] = {}       # id(hook) -> its session argument
        self._global_step_fetch: dict[int, bool] = {}   # id(fetch) -> fetches the global step
        self.stop_requested = False
        # The train function calls before_run/after_run itself, at the steps the hooks act on
        # (adapters/engine/fast_loop.hook_train_function); HookCallback then leaves them out.
        self.driven_by_train_function = False

    # -- trace time (inside the model_fn's TF1 world) --------------------------------------------
    def trace(self, spec_hooks: list) -> list:
        """begin() every hook in this trace's graph; returns the ops filling the mailboxes."""
        self.graph = tf.compat.v1.get_default_graph()
        self.hooks = self.user_hooks + list(spec_hooks)
        self._collections = {key: list(self.graph.get_collection(key))
                             for key in self.graph.get_all_collection_keys()}
        if self._started:
            self._fresh = list(spec_hooks)  # they get after_create_session before their first run
        writes = []
        for index, hook in enumerate(self.hooks):
            hook.begin()
            for path, tensor in _graph_tensors(vars(hook), ()):
                if tensor.graph is not self.graph:
                    continue
                writes.extend(self._mailbox((index,) + path, tensor))
        return writes

    def renew(self, previous: "HookRunner", spec_hooks: list, in_probe: bool = False) -> bool:
        """Run on `previous`'s traced step instead of tracing it again (SpecModel._renew_hooks).

        This runner's hooks (its user hooks, then `spec_hooks`) begin() in the traced step's
        graph, with the collections the model_fn left there; or, `in_probe`, in the probe trace
        of the model_fn being built now (a throwaway graph). True when they are of the classes
        `previous` ran, position by position (checked before any begin()), and every graph
        tensor they hold is what the step already carries out at the same (hook position,
        attribute path): the same tensor, or in the probe the same computation (op names, types,
        inputs, attributes). False: the step must be traced again.
        """
        graph = previous.graph
        if graph is None or not self._same_kinds(previous, spec_hooks):
            return False
        hooks = self.user_hooks + list(spec_hooks)
        own_graph = tf.compat.v1.get_default_graph() if in_probe else graph
        if in_probe:  # inside the model_fn's world already
            for hook in hooks:
                hook.begin()
        else:
            try:
                with graph.as_default(), tf1_world.collections_as(graph, previous._collections):  # pylint: disable=protected-access
                    for hook in hooks:
                        hook.begin()
            except Exception:  # pylint: disable=broad-except
                return False  # begin() needs the model_fn's world: trace again (it raises there)
        traced = previous._tensor_at  # pylint: disable=protected-access
        key_of = {id(tensor): key for key, tensor in traced.items()}
        for index, hook in enumerate(hooks):
            for path, tensor in _graph_tensors(vars(hook), ()):
                if tensor.graph is not own_graph:
                    continue
                key = (index,) + path
                if key not in traced or not (tensor is traced[key]
                                             or _same_computation(tensor, traced[key])):
                    return False
                key_of[id(tensor)] = key
        self.graph, self.hooks, self._key_of = graph, hooks, key_of
        for name in ("_slots", "_read_of", "_tensor_at", "_collections"):
            setattr(self, name, getattr(previous, name))
        return True

    def _same_kinds(self, previous: "HookRunner", spec_hooks: list) -> bool:
        """Whether this runner's hooks (user hooks, then `spec_hooks`) are, position by position,
        of the classes `previous` ran: the precondition of renew(), checked before any begin()
        (a call that adds or drops a hook traces the step again, and begins each hook once)."""
        return ([type(h) for h in self.user_hooks + list(spec_hooks)]
                == [type(h) for h in previous.hooks])

    def _mailbox(self, key: tuple, tensor: tf.Tensor) -> list:
        self._key_of[id(tensor)] = key
        self._tensor_at[key] = tensor
        variable = self._variable_read_by(tensor)
        if variable is not None:
            self._read_of[key] = variable
        slot = self._slots.get(key)
        if slot is None:
            with tf.init_scope(), tf1_world.keras_spec_variables():
                initial = tf.constant(b"") if tensor.dtype == tf.string else tf.zeros([], tensor.dtype)
                slot = tf.Variable(initial, shape=tf.TensorShape(None), trainable=False,
                                   name="keras_spec_hook_mailbox")
            self._slots[key] = slot
        return [slot.assign(tensor)]

    def _key(self, fetch: Any) -> tuple | None:
        if isinstance(fetch, str) and self.graph is not None:
            try:
                fetch = self.graph.as_graph_element(fetch)
            except (KeyError, ValueError):
                return None
        return self._key_of.get(id(fetch))

    # -- run time (Keras callback) --------------------------------------------------------------
    def read_now(self, fetch: Any, hook: Any) -> Any:
        """A value between steps (session.run in a hook): variables now, else the last step's."""
        if isinstance(fetch, tf.Variable):
            return fetch.numpy()
        key = self._key(fetch)
        if key in self._read_of:
            return self._read_of[key].numpy()
        raise HookSessionError(
            f"{_hook_name(hook)} asked session.run for {fetch!r}, which is not a variable read. "
            "keras-spec runs hooks without a TF1 Session: outside a step a hook can only read "
            "variables; tensors are fetched through before_run (those the hook keeps as "
            "attributes after begin(), as TF's own hooks do).")

    def _variable_read_by(self, tensor: tf.Tensor) -> tf.Variable | None:
        """The variable a graph tensor merely reads (global step reads), to read it afresh."""
        op = tensor.op
        while op.type in ("Identity", "Cast") and op.inputs:
            op = op.inputs[0].op
        if op.type != "ReadVariableOp":
            return None
        handle = op.inputs[0]
        for external, internal in self.graph.captures:
            if internal is handle:
                for variable in self.world.variables():
                    if variable.value.handle is external:
                        return variable.value
        return None

    def after_create_session(self) -> None:
        self.stop_requested = False
        self._started, self._fresh = True, []
        for hook in self.hooks:
            hook.after_create_session(_SessionShim(self, hook), None)

    def before_run(self) -> None:
        for hook in self._fresh:  # spec hooks of a retrace that happened mid-run
            hook.after_create_session(_SessionShim(self, hook), None)
        self._fresh = []
        self._pending = []
        self._stale = {}
        self._step_values = None
        shims = self._shims
        for hook in self.hooks:
            shim = shims.get(id(hook))
            if shim is None:
                shim = shims[id(hook)] = _SessionShim(self, hook)
            context = _train.SessionRunContext(_NO_ARGS, shim)
            args = hook.before_run(context)
            self._pending.append((hook, context, args))
            if args is not None:
                self._remember_stale_global_step(args.fetches)

    def after_run(self) -> None:
        for hook, context, args in self._pending:
            results = None
            if args is not None:
                fetches = args.fetches
                if isinstance(fetches, tf.Tensor):  # the common case, without tf.nest
                    results = self._value(fetches, hook)
                else:
                    results = tf.nest.map_structure(lambda f, h=hook: self._value(f, h), fetches)
            hook.after_run(context, _train.SessionRunValues(results=results, options=None,
                                                             run_metadata=None))
            if context.stop_requested:
                self.stop_requested = True
        self._pending = []

    def mailboxes(self) -> tuple[tuple, list]:
        """(keys, variables) of the mailboxes, in one order: a train function that returns
        their values with the step hands them back through set_step_values."""
        return tuple(self._slots), list(self._slots.values())

    def set_step_values(self, values: dict | None) -> None:
        """The mailboxes' values as the step that just ran returned them (None: read them)."""
        self._step_values = values

    def _is_global_step(self, fetch: Any) -> bool:
        step = getattr(self.world, "global_step", None)
        if step is None or isinstance(fetch, (str, tf.Operation)):
            return False
        if isinstance(fetch, tf.Variable):
            return fetch is step.value or fetch is step
        return self._read_of.get(self._key(fetch)) is step.value

    def _remember_stale_global_step(self, fetches: Any) -> None:
        """tf.estimator's session.run fetched the global step with the train op without a
        dependency on it: hooks saw the step count before the step (0..N-1). Read it now."""
        flat = (fetches,) if isinstance(fetches, tf.Tensor) else tf.nest.flatten(fetches)
        for fetch in flat:
            if isinstance(fetch, tf.Tensor):  # a graph tensor a hook holds: decided once
                is_step = self._global_step_fetch.get(id(fetch))
                if is_step is None:
                    is_step = self._global_step_fetch[id(fetch)] = self._is_global_step(fetch)
            else:
                is_step = self._is_global_step(fetch)
            if is_step:
                self._stale[id(fetch)] = self.world.global_step.value.numpy()

    def _value(self, fetch: Any, hook: Any) -> Any:
        """A fetched value as of the end of the step (or execution) that just ran."""
        if id(fetch) in self._stale:
            return self._stale[id(fetch)]
        if isinstance(fetch, tf.Variable):
            return fetch.numpy()
        key = self._key(fetch)
        if key in self._slots:
            values = self._step_values
            if values is not None and key in values:
                return values[key].numpy()
            return self._slots[key].numpy()
        if isinstance(fetch, tf.Operation):
            return None  # an op fetched with the step ran (or was pruned) with it
        raise HookSessionError(
            f"{_hook_name(hook)} fetched {fetch!r} in before_run, but did not hold it after "
            "begin(): keras-spec can only carry out of the step the tensors a hook keeps as "
            "attributes (as TF's own hooks do).")

    def end(self) -> None:
        for hook in self.hooks:
            hook.end(_SessionShim(self, hook))


class HookCallback(keras.callbacks.Callback):
    """Drives a HookRunner from the Keras callbacks of its mode (train, test or predict)."""

    _KERAS_EVENT = {"train": "train", "eval": "test", "infer": "predict"}

    def __init__(self, runner: HookRunner, mode: str):
        super().__init__()
        self._runner, self._mode = runner, mode
        self._started = False
        event = self._KERAS_EVENT[mode]
        setattr(self, f"on_{event}_begin", self._begin)
        setattr(self, f"on_{event}_batch_begin", self._batch_begin)
        setattr(self, f"on_{event}_batch_end", self._batch_end)
        setattr(self, f"on_{event}_end", self._end)

    def _begin(self, logs=None):
        self._runner.after_create_session()
        self._started = True

    def _batch_begin(self, batch, logs=None):
        if not self._driven():
            self._runner.before_run()

    def _batch_end(self, batch, logs=None):
        if not self._driven():
            self._runner.after_run()
        if self._runner.stop_requested and self._mode == "train":
            self.model.stop_training = True

    def _driven(self) -> bool:
        return self._mode == "train" and self._runner.driven_by_train_function

    def _end(self, logs=None):
        if self._started:
            self._runner.end()
