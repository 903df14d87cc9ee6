"""TF1 graph emulation: the one place where a legacy model_fn's world is rebuilt.

A tf.estimator model_fn expects a TF1 graph: `tf.compat.v1.get_variable` backed by a variable
store, graph collections (GLOBAL/TRAINABLE/LOCAL variables, UPDATE_OPS, REGULARIZATION_LOSSES,
GLOBAL_STEP), a global step, and `tf.compat.v1.summary.*` ops that a SummarySaverHook writes.
Keras traces our step functions many times (fit traces twice, every mode once, every retrace
again), so this module makes each model_fn call see that world afresh while every variable is
created exactly once, tracked by the Keras model, and found again by its TF1 name.

Everything that touches TensorFlow private modules lives in the `_tf_private_*` functions
below (checked on TF 2.21.0).
"""

from __future__ import annotations

import contextlib
import functools
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

from adapters.tf1 import keras_names

GraphKeys = tf.compat.v1.GraphKeys

# Collections a model_fn call starts from empty and whose contents are put back afterwards:
# the FuncGraph of a trace shares these lists by reference with the eager default graph.
_LOCAL_COLLECTIONS = (GraphKeys.LOCAL_VARIABLES, GraphKeys.METRIC_VARIABLES)
# training_util's collection key for the global step read tensor (TF 2.21.0).
_GLOBAL_STEP_READ_KEY = "global_step_read_op_cache"


# --------------------------------------------------------------------------------------------
# TensorFlow private modules (each wrapped once; checked on TF 2.21.0).
# --------------------------------------------------------------------------------------------
def _tf_private_variable_store_scope() -> contextlib.AbstractContextManager:
    """A fresh v1 variable store for one model_fn call.

    `tf.compat.v1.get_variable` inside a tf.function raises "Tensor.op is undefined when eager
    execution is enabled" unless a `_VariableStore` is installed; TF has no public API for it.
    Checked on TF 2.21.0 (tensorflow/python/ops/variable_scope.py).
    """
    from tensorflow.python.ops import variable_scope as vs  # pylint: disable=g-import-not-at-top

    return vs.with_variable_store(vs._VariableStore())  # pylint: disable=protected-access


def _tf_private_first_creator_scope(graph: Any, creator: Callable):
    """A variable creator called before any other on `graph`, whatever is entered later.

    A strategy re-enters its scope (and its creator) inside `merge_call`, where compat.v1
    optimizers create their slots; a creator from `tf.variable_creator_scope` would then run
    after the strategy's per-device one and hand it an already distributed variable. The
    graph's priority argument is private. Checked on TF 2.21.0 (framework/ops.py,
    Graph._variable_creator_scope; the public scope uses priority 100).
    """
    return graph._variable_creator_scope(creator, priority=200)  # pylint: disable=protected-access


def _tf_private_estimator_loss_scaling(strategy: tf.distribute.Strategy):
    """The strategy mode in which compat.v1 optimizers divide the loss by the replica count.

    tf.estimator entered it around its distributed training graph; without it compat.v1
    optimizers sum the replicas' gradients (a 2-replica step then moves twice as far as one
    replica on the same global batch). No public API exists. Checked on TF 2.21.0
    (tensorflow/python/distribute/distribute_lib.py, StrategyBase).
    """
    return strategy._scale_loss_for_estimator_enabled()  # pylint: disable=protected-access


def _tf_private_summary_module():
    """The module whose functions back `tf.compat.v1.summary.*` (public API module object).

    The public names live in a generated API module; patching its attributes is what redirects
    a model_fn's `tf.compat.v1.summary.scalar(...)` calls. Checked on TF 2.21.0.
    """
    return tf.compat.v1.summary


# --------------------------------------------------------------------------------------------
# Redirected TF1 entry points: summaries are recorded instead of emitted (so XLA never sees a
# summary op), and compat.v1 optimizers do not update outside TRAIN.
# --------------------------------------------------------------------------------------------
@dataclass
class RecordedSummary:
    """One `tf.compat.v1.summary.*` call of a model_fn: written later with tf.summary (v2)."""

    kind: str  # scalar | histogram | image | audio | text
    tag: str
    tensor: tf.Tensor
    options: dict = field(default_factory=dict)


_SUMMARY_KINDS = ("scalar", "histogram", "image", "audio", "text")
_active_calls = threading.local()


def _current_call() -> "ModelFnCall | None":
    stack = getattr(_active_calls, "stack", None)
    return stack[-1] if stack else None


def _clean_tag(name: str | None) -> str | None:
    return None if name is None else re.sub(r"[^A-Za-z0-9_.\-/]", "_", name)


def _summary_tag(name: str, family: str | None) -> str:
    """The tag a TF1 summary op got: its name scope, made unique in the graph.

    TF1 opened `name_scope(family/name)` for every summary op and used the resulting (unique)
    scope as the tag, so a second `scalar('acc')` is tagged `acc_1`, and one under
    `name_scope('scope')` is `scope/acc`. The trace's graph uniquifies names the same way
    (per model_fn call); a replica's own scope prefix (`replica_1/`) is dropped.
    """
    name, family = _clean_tag(name), _clean_tag(family)
    base = name if family is None else f"{family}/{name}"
    graph = tf.compat.v1.get_default_graph()
    with graph.name_scope(base) as scope:
        tag = scope.rstrip("/")
    call = _current_call()
    prefix = call.base_scope if call is not None else ""
    if prefix and tag.startswith(prefix + "/"):
        tag = tag[len(prefix) + 1:]
    return tag if family is None else f"{family}/{tag}"


def _summary_recorder(kind: str, original: Callable) -> Callable:
    def record(name, tensor, *args, **kwargs):
        call = _current_call()
        if call is None:  # not inside a model_fn run by keras-spec: behave as TF does
            return original(name, tensor, *args, **kwargs)
        options = {}
        if kind == "image":
            options["max_outputs"] = args[0] if args else kwargs.get("max_outputs", 3)
        if kind == "audio":
            options["sample_rate"] = args[0] if args else kwargs["sample_rate"]
            options["max_outputs"] = args[1] if len(args) > 1 else kwargs.get("max_outputs", 3)
        family = kwargs.get("family")
        call.summaries.append(RecordedSummary(kind, _summary_tag(name, family),
                                              tf.convert_to_tensor(tensor), options))
        return tf.constant(b"")

    record.__name__ = f"keras_spec_recorded_{kind}"
    return record


def _merge_placeholder(original: Callable) -> Callable:
    """merge/merge_all return a serialized Summary; the recorded summaries are written instead."""
    def merge(*args, **kwargs):
        if _current_call() is None:
            return original(*args, **kwargs)
        return tf.constant(b"")
    return merge


def _apply_gradients_guard(original: Callable) -> Callable:
    """compat.v1 optimizers apply nothing when the model_fn runs for EVAL or PREDICT.

    Many model_fns build `train_op` in every mode and return it with one EstimatorSpec call.
    A TF1 session ran only what was fetched, so tf.estimator never trained during evaluate();
    a traced Keras step runs every stateful op, so the update is replaced by a no-op here.
    """
    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        call = _current_call()
        if call is not None and call.mode != "train":
            return tf.no_op(name=name or "skipped_apply_gradients")
        return original(self, grads_and_vars, global_step=global_step, name=name)
    return apply_gradients


def _init_from_checkpoint_recorder(original: Callable) -> Callable:
    """init_from_checkpoint replaced variable initializers in the TF1 graph; here the request
    is recorded and applied to the variables this call creates (see TF1World)."""
    def init_from_checkpoint(ckpt_dir_or_file, assignment_map):
        call = _current_call()
        if call is None:
            return original(ckpt_dir_or_file, assignment_map)
        call.checkpoint_inits.append((ckpt_dir_or_file, assignment_map))
        return None
    return init_from_checkpoint


def _cross_replica_sum_redirect(original: Callable) -> Callable:
    """`tf.compat.v1.tpu.cross_replica_sum(x)` in a model_fn: the sum over all replicas.

    On a TPU it summed a tensor over the shards; under any tf.distribute strategy the replica
    context's all-reduce is the same operation (and the identity with one replica).
    """
    def cross_replica_sum(x, group_assignment=None, name=None):
        if _current_call() is None:
            return original(x, group_assignment, name)
        if group_assignment is not None:
            raise NotImplementedError(
                "tf.compat.v1.tpu.cross_replica_sum(group_assignment=...): replica subgroups "
                "exist only on TPUs; keras-spec sums over all replicas. Drop group_assignment.")
        context = tf.distribute.get_replica_context()
        if context is None:
            return tf.identity(x, name=name)
        return context.all_reduce(tf.distribute.ReduceOp.SUM, x)
    return cross_replica_sum


def _cross_shard_delegate(method: str) -> Callable:
    """CrossShardOptimizer acts as the optimizer it wraps inside a keras-spec model_fn.

    On a TPU it scaled the loss by 1/shards and summed gradients with cross_replica_sum. Under
    a tf.distribute strategy the wrapped compat.v1 optimizer already does both (estimator loss
    scaling + the strategy's gradient all-reduce), as tf.estimator's train_distribute did, so
    doing them again would count every gradient twice.
    """
    def factory(original: Callable) -> Callable:
        def delegated(self, *args, **kwargs):
            if _current_call() is None:
                return original(self, *args, **kwargs)
            return getattr(self._opt, method)(*args, **kwargs)  # pylint: disable=protected-access
        return delegated
    return factory


_file_writers: dict = {}


def _file_writer_cache(original: Callable) -> Callable:
    """`tf.summary.create_file_writer(logdir)` called inside a model_fn or host_call.

    TPU host_calls commonly create their writer inside the function. In a TF1 graph that writer
    lived as long as the graph; in a traced step the writer object would be freed after tracing
    and every step would fail on the deleted resource. Inside a keras-spec call, one writer per
    set of arguments is created eagerly and kept for the process (the tf.estimator
    FileWriterCache behaviour).
    """
    def create_file_writer(logdir, *args, **kwargs):
        if _current_call() is None:
            return original(logdir, *args, **kwargs)
        key = (str(logdir), args, tuple(sorted(kwargs.items())))
        with _patch_lock:
            writer = _file_writers.get(key)
            if writer is None:
                with tf.init_scope():
                    writer = _file_writers[key] = original(logdir, *args, **kwargs)
        return writer
    return create_file_writer


@contextlib.contextmanager
def estimator_loss_scaling(strategy: tf.distribute.Strategy) -> Iterator[None]:
    """compat.v1 optimizers average (not sum) gradients over replicas while this is active.

    Enter it around tracing the distributed train function, never inside a replica (replicas
    trace in parallel threads).
    """
    if strategy.num_replicas_in_sync == 1:
        yield
        return
    with _tf_private_estimator_loss_scaling(strategy):
        yield


def _patch_targets() -> list:
    """(owner, attribute, replacement factory) for every TF entry point a call redirects.

    The summary functions live in the generated public API module `tf.compat.v1.summary`; the
    optimizer base class is `tf.compat.v1.train.Optimizer`. Checked on TF 2.21.0.
    """
    module = _tf_private_summary_module()
    targets = [(module, kind, functools.partial(_summary_recorder, kind)) for kind in _SUMMARY_KINDS]
    targets += [(module, name, _merge_placeholder) for name in ("merge", "merge_all")]
    targets.append((tf.compat.v1.train.Optimizer, "apply_gradients", _apply_gradients_guard))
    targets.append((tf.compat.v1.train, "init_from_checkpoint", _init_from_checkpoint_recorder))
    targets.append((tf.compat.v1.tpu, "cross_replica_sum", _cross_replica_sum_redirect))
    targets.append((tf.summary, "create_file_writer", _file_writer_cache))
    for method in ("compute_gradients", "apply_gradients"):
        targets.append((tf.compat.v1.tpu.CrossShardOptimizer, method, _cross_shard_delegate(method)))
    # Keras 3.15.1 private method: where a Sequential with a known input shape builds itself.
    targets.append((keras.Sequential, "_maybe_rebuild", keras_names.constructing_sequential))
    return targets


_patch_lock = threading.Lock()
_patch_depth = 0
_patch_originals: list = []


@contextlib.contextmanager
def _tf1_entry_points_redirected() -> Iterator[None]:
    """Install the redirections while any model_fn call is active (reference counted).

    Each replacement falls back to TensorFlow's own function outside a keras-spec call, so
    other code in the process (or another thread) is unaffected.
    """
    global _patch_depth
    with _patch_lock:
        if _patch_depth == 0:
            for owner, attr, factory in _patch_targets():
                original = getattr(owner, attr)
                _patch_originals.append((owner, attr, original))
                setattr(owner, attr, factory(original))
        _patch_depth += 1
    try:
        yield
    finally:
        with _patch_lock:
            _patch_depth -= 1
            if _patch_depth == 0:
                for owner, attr, original in reversed(_patch_originals):
                    setattr(owner, attr, original)
                _patch_originals.clear()


def write_scalar(tag: str, value: Any, step: Any) -> None:
    """Write one scalar as TF1 summary ops did: a `Summary` proto with `simple_value`.

    `tf.summary.scalar` writes a tensor-valued proto (TensorBoard reads both), but scripts that
    read event files with `summary_iterator` and `value.simple_value` (as under tf.estimator)
    read 0.0 from it. The TF1 `ScalarSummary` kernel builds the very proto a TF1
    `tf.compat.v1.summary.scalar` wrote, under the exact tag (no name scope prefix).
    """
    value = tf.cast(tf.reshape(value, []), tf.float32)
    tf.summary.experimental.write_raw_pb(tf.raw_ops.ScalarSummary(tags=tag, values=value),
                                         step=step)


def write_summaries(summaries: list[RecordedSummary], step: tf.Tensor) -> None:
    """Write recorded TF1 summaries to the default tf.summary writer, if one is active.

    Called outside the (possibly XLA-compiled) core step. Without a default writer (Keras's
    TensorBoard callback sets one when update_freq is not 'epoch') nothing is written, just as
    a TF1 summary op did nothing unless a SummarySaverHook ran it.
    """
    if not summaries or tf.get_static_value(tf.summary.should_record_summaries()) is False:
        return  # no default writer (or recording switched off): a summary op would do nothing
    # TF1 summaries were written at the global step. A step the user set as a variable
    # (tf.summary.experimental.set_step(v)) wins; Keras's TensorBoard sets a Python int, which
    # a traced step would freeze at its trace-time value, so that one is ignored.
    explicit = tf.summary.experimental.get_step()
    if isinstance(explicit, (tf.Variable, tf.Tensor)) or hasattr(explicit, "value"):
        step = explicit
    for s in summaries:
        if s.kind == "scalar":
            write_scalar(s.tag, s.tensor, step)
        elif s.kind == "histogram":
            tf.summary.histogram(s.tag, s.tensor, step=step)
        elif s.kind == "image":
            tf.summary.image(s.tag, s.tensor, step=step, max_outputs=s.options["max_outputs"])
        elif s.kind == "audio":
            tf.summary.audio(s.tag, s.tensor, s.options["sample_rate"], step=step,
                             max_outputs=s.options["max_outputs"])
        elif s.kind == "text":
            tf.summary.text(s.tag, s.tensor, step=step)


# --------------------------------------------------------------------------------------------
# Variables
# --------------------------------------------------------------------------------------------
class VariableCreationError(ValueError):
    """A model_fn variable could not be created outside the traced step."""


@dataclass
class ModelFnCall:
    """What one model_fn call saw and produced in the emulated TF1 world."""

    mode: str
    graph: Any
    summaries: list[RecordedSummary] = field(default_factory=list)
    occurrences: dict = field(default_factory=dict)
    created: list = field(default_factory=list)  # keras.Variables created during this call
    hook_writes: list = field(default_factory=list)  # ops carrying hook fetches out of the step
    v1_variables: dict = field(default_factory=dict)  # get_variable name -> keras.Variable
    checkpoint_inits: list = field(default_factory=list)  # init_from_checkpoint(...) calls
    base_scope: str = ""  # name scope the call started in ("replica_1" under a strategy ...)
    tpu_tensors: dict = field(default_factory=dict)  # TPU eval_metrics/host_call, several replicas

    def collection(self, key: str) -> list:
        return list(self.graph.get_collection(key))


def _eager_initial_value(initial_value: Any, tf1_name: str) -> tf.Tensor:
    """Evaluate a variable's initial value eagerly (we create variables under init_scope)."""
    if isinstance(initial_value, tf.Tensor) and not hasattr(initial_value, "numpy"):
        # A graph tensor of the trace (get_variable(initializer=tf.constant(...))).
        static = tf.get_static_value(initial_value)
        if static is None:
            raise VariableCreationError(
                f"Variable '{tf1_name}': its initial value is a graph tensor computed from other "
                f"values ({initial_value}); keras-spec creates variables once, outside the traced "
                "step, and cannot evaluate it there. Give the variable an initializer (e.g. "
                "tf.compat.v1.get_variable(..., initializer=tf.compat.v1.constant_initializer(...)))"
                " or a constant initial value.")
        with tf.init_scope():
            return tf.constant(static, dtype=initial_value.dtype)
    with tf.init_scope():
        value = initial_value() if callable(initial_value) else initial_value
        if isinstance(value, tf.Variable):
            value = value.read_value()
        if isinstance(value, tf.Tensor) and not hasattr(value, "numpy"):
            return _eager_initial_value(value, tf1_name)
        return tf.convert_to_tensor(value)


def _keras_aggregation(aggregation) -> str:
    mapping = {
        tf.VariableAggregation.NONE: "none",
        tf.VariableAggregation.SUM: "sum",
        tf.VariableAggregation.MEAN: "mean",
        tf.VariableAggregation.ONLY_FIRST_REPLICA: "only_first_replica",
    }
    return mapping.get(aggregation, "none")


def _keras_synchronization(synchronization) -> str:
    mapping = {
        tf.VariableSynchronization.AUTO: "auto",
        tf.VariableSynchronization.NONE: "none",
        tf.VariableSynchronization.ON_WRITE: "on_write",
        tf.VariableSynchronization.ON_READ: "on_read",
    }
    return mapping.get(synchronization, "auto")


def _keras_private_set_unknown_shape(variable: keras.Variable, tf_variable: tf.Variable) -> None:
    """Back a keras.Variable by `tf_variable`, whose shape is not (fully) known.

    keras.Variable always has a static shape, but `tf.Variable(..., shape=TensorShape(None))`
    (a value whose shape changes between assignments) is valid TF1/TF2 code. TF1 code only sees
    the underlying tf.Variable, so that one is replaced. Private attribute of Keras's TF
    backend Variable; checked on Keras 3.15 (keras/src/backend/tensorflow/core.py).
    """
    variable._value = tf_variable  # pylint: disable=protected-access


def make_named_variable(tf1_name: str, value: tf.Tensor, trainable: bool,
                        aggregation: str = "none", synchronization: str = "auto",
                        shape: Any = None) -> keras.Variable:
    """A keras.Variable whose underlying tf.Variable carries the exact TF1 name.

    Keras forbids '/' in variable names, so the last path part is the Keras name and the prefix
    comes from an absolute name scope: checkpoints and optimizer slots (`<name>/Adam`) then see
    the TF1 name. `shape` (as `tf.Variable(shape=...)`) may be partly or wholly unknown.
    """
    prefix, _, last = tf1_name.rpartition("/")
    dtype = keras.backend.standardize_dtype(value.dtype.name)
    shape = None if shape is None else tf.TensorShape(shape)
    if shape is not None and not shape.is_compatible_with(value.shape):
        raise VariableCreationError(
            f"Variable '{tf1_name}': requested shape {shape} does not match its initial value's "
            f"shape {value.shape}.")
    with tf.init_scope():
        scope = tf.name_scope(prefix + "/") if prefix else contextlib.nullcontext()
        with scope:
            variable = keras.Variable(initializer=lambda shape, dtype: value, shape=value.shape,
                                      dtype=dtype, trainable=trainable, name=last,
                                      aggregation=aggregation, synchronization=synchronization)
            if shape is not None and not shape.is_fully_defined():
                _keras_private_set_unknown_shape(variable, tf.Variable(
                    value, shape=shape, trainable=trainable, name=last,
                    aggregation=variable.value.aggregation,
                    synchronization=variable.value.synchronization))
            return variable


def _stable_scope(name_scope: str) -> str:
    """A name scope without the numeric suffixes Keras and graph uniquification add.

    An unnamed inline layer is `dense_7/` in one trace and `dense_12/` in the next; an explicit
    `name="head"` stays `head/` (or `head_1/` when used twice). Keyed by this plus the
    occurrence count, a layer finds its variables again whatever other layers the model_fn
    creates before it in a given mode (e.g. a TRAIN-only auxiliary head).
    """
    return "/".join(re.sub(r"(_\d+)+$", "", part) for part in name_scope.split("/"))


def _assign_every_copy(variable: keras.Variable, value: np.ndarray) -> None:
    """Assign `value` to a variable and, under a strategy, to every replica's copy.

    Called from inside a replica's model_fn call: an assign there (even under init_scope)
    reaches only that replica's copy of a mirrored variable, while tf.estimator's
    init_from_checkpoint replaced the initializer every copy was initialized from.
    """
    with tf.init_scope():
        tf_variable = variable.value
        copies = getattr(tf_variable, "values", None)  # DistributedValues: one per device
        for copy in (copies if copies else (tf_variable,)):
            copy.assign(tf.cast(value, copy.dtype))


_own_variables = threading.local()


@contextlib.contextmanager
def _tf_private_outer_variable_creators() -> Iterator[None]:
    """Create variables through the creators in effect outside every function being traced.

    Under `tf.init_scope()` a variable is created eagerly, but `tf.Variable` still runs the
    creator stack of the default graph, i.e. of the innermost function being traced. On a
    tf.function's first trace that stack holds tf.function's own capturing creator: a
    variable it sees makes tf.function trace the Python function a second time ("variables
    created on the first trace"), which runs the model_fn and every hook's begin() again.
    The outermost (non-function) graph's stack keeps the creators entered outside the
    trace (a strategy's scope) and none of the trace's own. The stack is a private property
    of Graph (its docstring describes this save/replace/restore). Checked on TF 2.21.0
    (framework/ops.py Graph._variable_creator_stack; polymorphic_function.py
    variable_capturing_scope).
    """
    graph = tf.compat.v1.get_default_graph()
    outer = graph
    while getattr(outer, "building_function", False) and getattr(outer, "outer_graph", None):
        outer = outer.outer_graph
    if outer is graph:
        yield
        return
    saved = graph._variable_creator_stack  # pylint: disable=protected-access
    graph._variable_creator_stack = list(outer._variable_creator_stack)  # pylint: disable=protected-access
    try:
        yield
    finally:
        graph._variable_creator_stack = saved  # pylint: disable=protected-access


@contextlib.contextmanager
def keras_spec_variables() -> Iterator[None]:
    """Variables created here are keras-spec's own bookkeeping (hook mailboxes), not the
    model_fn's: not in TF1 collections, checkpoints or get_variable_names(); and, entered
    under `tf.init_scope()` inside a trace, created as outside it: no tf.function sees
    them as created by its trace (which would trace it, and call hooks' begin(), again)."""
    previous = getattr(_own_variables, "active", False)
    _own_variables.active = True
    try:
        with _tf_private_outer_variable_creators():
            yield
    finally:
        _own_variables.active = previous


@contextlib.contextmanager
def collections_as(graph: Any, collections: dict) -> Iterator[None]:
    """The graph's TF1 collections set to `collections` (key -> items) for the block, then
    restored: a model_fn call starts with none; a hook's begin() on a kept step sees the ones
    the model_fn left (hooks/bridge.HookRunner.renew)."""
    saved = {key: list(graph.get_collection(key)) for key in graph.get_all_collection_keys()}
    for key in set(saved) | set(collections):
        graph.get_collection_ref(key)[:] = collections.get(key, [])
    try:
        yield
    finally:
        for key in graph.get_all_collection_keys():
            graph.get_collection_ref(key)[:] = saved.get(key, [])


class TF1World:
    """Per-model TF1 state: every variable by TF1 name, the global step, local variables.

    `call(mode)` enters the emulated world for one model_fn call (inside a traced function);
    variables requested there are created once (eagerly, under init_scope) and handed back on
    every later call by their key: the full TF1 name for TF1-style variables (get_variable,
    compat.v1 metrics, optimizer slots) and (name scope without numeric suffixes + name,
    occurrence in this call) for TF2/Keras variables, whose name scopes carry Keras's
    ever-growing layer counters (see _stable_scope).
    """

    def __init__(self, track_variable: Callable[[keras.Variable], None]):
        self._track_variable = track_variable
        self._lock = threading.RLock()
        self._by_key: dict[tuple, keras.Variable] = {}
        self._by_name: dict[str, keras.Variable] = {}
        self._keras_state: list[keras.Variable] = []  # Keras RNG state: no TF1 counterpart
        self._local_initial: dict[str, np.ndarray] = {}
        self._metric_state: set[str] = set()
        self._creating = threading.local()
        self.global_step = make_named_variable(
            "global_step", tf.constant(0, tf.int64), trainable=False,
            aggregation="only_first_replica")
        self._register(self.global_step)

    # -- lookups ------------------------------------------------------------------------------
    def _register(self, variable: keras.Variable) -> None:
        self._by_name[variable.value.name.split(":")[0]] = variable
        self._track_variable(variable)

    def variable_names(self) -> list[str]:
        return sorted(self._by_name)

    def variable(self, name: str) -> keras.Variable:
        try:
            return self._by_name[name]
        except KeyError:
            raise ValueError(
                f"No variable named '{name}'. Known variables: {self.variable_names()}") from None

    def keras_variable_for(self, tf_variable: tf.Variable) -> keras.Variable:
        """The tracked keras.Variable behind a tf.Variable handed to the model_fn."""
        return self._by_name[tf_variable.name.split(":")[0]]

    def global_variables(self) -> dict[str, tf.Variable]:
        """TF1 name -> tf.Variable for everything a tf.estimator Saver checkpointed.

        LOCAL_VARIABLES (metric state) were never saved; everything else was.
        """
        return {name: v.value for name, v in sorted(self._by_name.items())
                if name not in self._local_initial and name not in self._metric_state}

    def mark_metric_state(self, tf_variable: tf.Variable) -> None:
        """A Keras Metric object's variable: evaluation state, not saved in checkpoints."""
        self._metric_state.add(tf_variable.name.split(":")[0])

    def variables(self) -> list[keras.Variable]:
        """Every variable the model_fn created, Keras RNG state included (exports need it)."""
        return list(self._by_name.values()) + list(self._keras_state)

    def reset_local_variables(self) -> None:
        """Re-initialize LOCAL_VARIABLES (metric state), as Estimator's local_init_op did."""
        for name, initial in self._local_initial.items():
            self._by_name[name].assign(initial)

    # -- the emulated world for one call ------------------------------------------------------
    @contextlib.contextmanager
    def call(self, mode: str) -> Iterator[ModelFnCall]:
        graph = tf.compat.v1.get_default_graph()
        if not getattr(graph, "building_function", False):
            raise RuntimeError("TF1World.call must run inside a traced function (tf.function).")
        state = ModelFnCall(mode=mode, graph=graph, base_scope=graph.get_name_scope())
        stack = getattr(_active_calls, "stack", None)
        if stack is None:
            stack = _active_calls.stack = []
        stack.append(state)
        try:
            with contextlib.ExitStack() as ctx:
                ctx.enter_context(collections_as(graph, {}))  # the call's own, as a new graph
                ctx.enter_context(_tf1_entry_points_redirected())
                ctx.enter_context(_tf_private_variable_store_scope())
                ctx.enter_context(keras_names.fresh_layer_names())  # per call, as per TF1 graph
                ctx.enter_context(tf.compat.v1.variable_scope(
                    tf.compat.v1.VariableScope(reuse=tf.compat.v1.AUTO_REUSE, name=""),
                    auxiliary_name_scope=False))
                ctx.enter_context(_tf_private_first_creator_scope(
                    graph, lambda next_creator, **kw: self._creator(state, next_creator, **kw)))
                gs = self.global_step.value
                graph.add_to_collection(GraphKeys.GLOBAL_STEP, gs)
                graph.add_to_collection(GraphKeys.GLOBAL_VARIABLES, gs)
                # TF's standard hooks read the step through this collection; building it the
                # TF1 way needs `.op` of the (eager) variable, which TF 2 does not have.
                graph.add_to_collection(_GLOBAL_STEP_READ_KEY, gs.read_value())
                yield state
                self._apply_checkpoint_inits(state)
        finally:
            stack.pop()

    def _creator(self, state: ModelFnCall, next_creator, **kwargs):
        if getattr(self._creating, "active", False) or getattr(_own_variables, "active", False):
            return next_creator(**kwargs)
        is_v1 = "collections" in kwargs or "use_resource" in kwargs
        keras_rng_state = False
        requested = kwargs.get("name") or "Variable"
        # A trailing "/" marks an absolute name (compat.v1 slot creators use get_variable("")).
        absolute = requested.endswith("/")
        requested = requested.rstrip("/") or "Variable"
        graph = state.graph
        name_scope = graph.get_name_scope()
        if is_v1:
            if name_scope and not absolute:  # relative to the variable scope (compat.v1 metrics, v1 Variable)
                var_scope = tf.compat.v1.get_variable_scope().name
                tf1_name = f"{var_scope}/{requested}" if var_scope else requested
            else:  # get_variable and slot creators pass the full name under name_scope(None)
                tf1_name = requested
            key_name = ("tf1", tf1_name)
        else:
            tf1_name = f"{name_scope}/{requested}" if name_scope else requested
            scope = name_scope
            base = state.base_scope
            if base and (scope == base or scope.startswith(base + "/")):
                scope = scope[len(base):].lstrip("/")  # same key in every replica
            key_name = ("tf2", _stable_scope(scope) + "/" + requested)
            keras_scope = keras_names.tf1_scope(scope)
            if keras_scope is not None:  # a Keras layer's variable: the name Keras 2 gave it
                tf1_name = f"{keras_scope[0]}/{requested}" if keras_scope[0] else requested
                keras_rng_state = keras_scope[1]
        count = state.occurrences.get(key_name, 0)
        state.occurrences[key_name] = count + 1
        key = (key_name, count)
        if (kwargs.get("synchronization") == tf.VariableSynchronization.ON_READ
                and tf.distribute.in_cross_replica_context()
                and tf.distribute.get_strategy().num_replicas_in_sync > 1):
            # A metric_fn run once on cross-replica tensors (TPU eval_metrics): its metric
            # state must be updatable there, which sync-on-read variables refuse.
            kwargs = dict(kwargs, synchronization=tf.VariableSynchronization.AUTO,
                          aggregation=tf.VariableAggregation.NONE)
        with self._lock:
            variable = self._by_key.get(key)
            if variable is None:
                variable = self._create(tf1_name, kwargs, tf1=not keras_rng_state)
                self._by_key[key] = variable
                state.created.append(variable)
        if keras_rng_state:  # Keras's dropout seed: the model's state, never a TF1 variable
            return variable.value
        if is_v1 and not name_scope:
            state.v1_variables[tf1_name] = variable
        tf_variable = variable.value
        trainable = variable.trainable
        collections = kwargs.get("collections")
        if collections is None:
            collections = [GraphKeys.GLOBAL_VARIABLES]
            if trainable:
                collections = collections + [GraphKeys.TRAINABLE_VARIABLES]
        elif trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
            collections = list(collections) + [GraphKeys.TRAINABLE_VARIABLES]
        graph.add_to_collections(list(dict.fromkeys(collections)), tf_variable)
        return tf_variable

    def _create(self, tf1_name: str, kwargs: dict, tf1: bool = True) -> keras.Variable:
        """Create a variable once, eagerly; `tf1=False`: Keras-internal state, tracked by the
        model but absent from TF1 names, collections and checkpoints."""
        tf1_name = self._unique_name(tf1_name)
        synchronization = kwargs.get("synchronization") or tf.VariableSynchronization.AUTO
        trainable = kwargs.get("trainable")
        if trainable is None:
            trainable = synchronization != tf.VariableSynchronization.ON_READ
        value = _eager_initial_value(kwargs.get("initial_value"), tf1_name)
        dtype = kwargs.get("dtype")
        if dtype is not None:
            dtype = tf.as_dtype(dtype).base_dtype
            if value.dtype != dtype:
                value = tf.cast(value, dtype)
        self._creating.active = True
        try:
            variable = make_named_variable(
                tf1_name, value, trainable=bool(trainable),
                aggregation=_keras_aggregation(kwargs.get("aggregation")),
                synchronization=_keras_synchronization(synchronization),
                shape=kwargs.get("shape"))
        finally:
            self._creating.active = False
        if not tf1:
            self._keras_state.append(variable)
            self._track_variable(variable)
            return variable
        self._register(variable)
        collections = kwargs.get("collections") or ()
        if any(c in _LOCAL_COLLECTIONS for c in collections):
            self._local_initial[variable.value.name.split(":")[0]] = value.numpy()
        return variable

    def _apply_checkpoint_inits(self, state: ModelFnCall) -> None:
        """tf.compat.v1.train.init_from_checkpoint, with tf.estimator's semantics.

        The checkpoint value becomes the *initial* value: it is loaded into the variables this
        call created (first trace), never over values a later trace finds already trained.
        """
        created = {id(v) for v in state.created}
        for ckpt, assignment_map in state.checkpoint_inits:
            reader = tf.train.load_checkpoint(ckpt)
            shapes = reader.get_variable_to_shape_map()
            for name_in_ckpt, target in sorted(dict(assignment_map).items()):
                for variable, tensor_name in self._checkpoint_targets(state, name_in_ckpt, target):
                    if tensor_name not in shapes:
                        raise ValueError(f"init_from_checkpoint: tensor '{tensor_name}' is not in "
                                         f"checkpoint {ckpt}; it holds {sorted(shapes)[:20]}")
                    if list(shapes[tensor_name]) != variable.shape.as_list():
                        raise ValueError(
                            f"init_from_checkpoint: variable {variable.value.name} has shape "
                            f"{variable.shape.as_list()} but '{tensor_name}' in {ckpt} has "
                            f"{shapes[tensor_name]}")
                    if id(variable) in created:
                        _assign_every_copy(variable, reader.get_tensor(tensor_name))

    def _checkpoint_targets(self, state: ModelFnCall, name_in_ckpt: str, target: Any) -> list:
        """(variable, checkpoint tensor name) pairs of one assignment_map entry."""
        if isinstance(target, (tf.Variable, keras.Variable)):
            tf_variable = target.value if isinstance(target, keras.Variable) else target
            return [(self.variable(tf_variable.name.split(":")[0]), name_in_ckpt)]
        if not isinstance(target, str):
            raise TypeError("init_from_checkpoint assignment_map values must be variable names, "
                            f"scopes or variables; got {target!r}")
        if target in state.v1_variables:
            return [(state.v1_variables[target], name_in_ckpt)]
        if not name_in_ckpt.endswith("/"):
            raise ValueError(f"init_from_checkpoint: '{target}' is not a variable of the model_fn; "
                             "a scope mapping must look like {'ckpt_scope/': 'scope/'}.")
        scope = target.rstrip("/") if target != "/" else ""
        pairs = []
        for name, variable in sorted(state.v1_variables.items()):
            if scope and not name.startswith(scope + "/"):
                continue
            suffix = name[len(scope):].lstrip("/")
            prefix = "" if name_in_ckpt == "/" else name_in_ckpt
            pairs.append((variable, prefix + suffix))
        return pairs

    def _unique_name(self, tf1_name: str) -> str:
        if tf1_name not in self._by_name:
            return tf1_name
        i = 1
        while f"{tf1_name}_{i}" in self._by_name:
            i += 1
        return f"{tf1_name}_{i}"
