"""A TF1 `session` for what a model_fn built for session start (Scaffold init_op, init_fn).

In TF1, ops a model_fn built for initialization (`Scaffold(init_op=tf.group(w.assign(...)))`,
`init_fn=lambda scaffold, sess: sess.run(assign_op, {placeholder: value})`) ran once, when the
session was created, because a session runs only what is fetched. A traced Keras step runs
every stateful op it contains, so those assignments would run on every step.

`TraceSession.run(fetches, feed_dict)` does what the TF1 session did, from inside the trace:
1. the ops the fetches need are copied (GraphDef import) into a separate function that runs
   them once, eagerly, with the feeds and the variables the step captured;
2. the variable assignments among them are kept out of the step: each one is redirected to a
   scratch variable (with an empty value), so the step no longer changes the model's variables
   and no longer needs the feeds.
A "dry" session (`runs_nothing=True`) only does step 2: used on later traces of the step and
when a checkpoint is restored instead (where TF1 did not run init_op / init_fn).

Only plain assignments can be kept out of the step; other variable updates (assign_add,
scatter, control flow) fetched this way raise `TraceSessionError` naming the op.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

import numpy as np
import tensorflow as tf


class TraceSessionError(RuntimeError):
    """What a model_fn asked a session to run cannot be run outside the traced step."""


# Op types that read resources without changing them, and table initializers, which TF makes
# idempotent (re-initializing a table with the same data does nothing): left in the step.
_LEFT_IN_STEP = frozenset({
    "ReadVariableOp", "VarIsInitializedOp", "VariableShape", "ResourceGather",
    "ResourceGatherNd", "LookupTableFindV2", "LookupTableSizeV2", "LookupTableExportV2",
    "InitializeTableV2", "InitializeTableFromTextFileV2", "LookupTableImportV2",
})
_ASSIGN = "AssignVariableOp"


# ---------------------------------------------------------------------------------------------
# TensorFlow private APIs (each wrapped once; checked on TF 2.21.0)
# ---------------------------------------------------------------------------------------------
def _tf_private_update_input(op: tf.Operation, index: int, tensor: tf.Tensor) -> None:
    """Rewire one input of an op already in the graph being traced.

    The only way to keep an op created by user code out of a traced function is to change its
    inputs before the trace ends; TF has no public API for it. `Operation._update_input`,
    checked on TF 2.21.0 (tensorflow/python/framework/ops.py).
    """
    op._update_input(index, tensor)  # pylint: disable=protected-access


def _tf_private_captures(graph: Any) -> list:
    """(outer value, placeholder) pairs of a FuncGraph: what the traced function captured.

    `FuncGraph.captures` / `outer_graph` are attributes of TF's private FuncGraph class.
    Checked on TF 2.21.0 (tensorflow/python/framework/func_graph.py).
    """
    return list(getattr(graph, "captures", ()) or ())


def _tf_private_uncreated_variable(value: tf.Tensor) -> tf.Variable:
    """An unshaped resource variable that no variable creator scope sees.

    `tf.Variable(...)` goes through the creator scopes active where it is called: inside a
    trace, tf.function's (which refuses variables created on any trace but the first), a
    distribution strategy's, keras-spec's TF1 world. Constructing `ResourceVariable` directly
    bypasses them. Checked on TF 2.21.0 (tensorflow/python/ops/resource_variable_ops.py).
    """
    from tensorflow.python.ops import resource_variable_ops  # pylint: disable=g-import-not-at-top

    return resource_variable_ops.ResourceVariable(value, shape=tf.TensorShape(None),
                                                  trainable=False)


def _tf_private_runs_every_stateful_op(graph: Any) -> bool:
    """Whether the function traced in `graph` runs all its stateful ops (tf.function does).

    A `tf.compat.v1.wrap_function` graph (keras-spec's export and metric-value graphs) has no
    automatic control dependencies and is pruned to what it fetches, as a TF1 session ran it:
    nothing needs keeping out there (and a scratch variable captured there would be an
    untracked resource in a SavedModel). `FuncGraph._add_control_dependencies` is private;
    checked on TF 2.21.0 (tensorflow/python/framework/func_graph.py).
    """
    return bool(getattr(graph, "_add_control_dependencies", True))


def _eager_value_of(tensor: tf.Tensor, graph: Any) -> Any:
    """The eager value a captured placeholder stands for (walking out of nested traces)."""
    while not hasattr(tensor, "numpy"):
        outer = next((e for e, i in _tf_private_captures(graph) if i is tensor), None)
        if outer is None:
            return None
        tensor, graph = outer, getattr(graph, "outer_graph", None)
    return tensor


# ---------------------------------------------------------------------------------------------
# Scratch variables the redirected assignments write to
# ---------------------------------------------------------------------------------------------
_scratch_lock = threading.Lock()
_scratch: dict = {}


def _scratch_variable(dtype: tf.DType) -> tf.Variable:
    """One unshaped variable per dtype, outside every model (not tracked, never saved)."""
    with _scratch_lock:
        variable = _scratch.get(dtype)
        if variable is None:
            with tf.init_scope():
                variable = _tf_private_uncreated_variable(tf.zeros([0], dtype))
            _scratch[dtype] = variable
        return variable


_kept_out: "weakref.WeakKeyDictionary[Any, set]" = weakref.WeakKeyDictionary()


def _keep_out_of_step(op: tf.Operation) -> None:
    """Make an AssignVariableOp of the step write an empty value to a scratch variable."""
    graph = op.graph
    done = _kept_out.setdefault(graph, set())
    if op.name in done:
        return
    dtype = tf.as_dtype(op.get_attr("dtype"))
    with graph.as_default():
        handle = graph.capture(_scratch_variable(dtype).handle)
        # Unknown shape, so the edge accepts it whatever the assigned value's shape was.
        empty = tf.raw_ops.PlaceholderWithDefault(input=tf.zeros([0], dtype), shape=None)
    _tf_private_update_input(op, 0, handle)
    _tf_private_update_input(op, 1, empty)
    done.add(op.name)


def _changes_a_resource(op: tf.Operation) -> bool:
    return (op.type not in _LEFT_IN_STEP and op.op_def is not None and op.op_def.is_stateful
            and any(t.dtype == tf.resource for t in op.inputs))


# ---------------------------------------------------------------------------------------------
# The session
# ---------------------------------------------------------------------------------------------
def _as_graph_element(fetch: Any, graph: Any) -> Any:
    if hasattr(fetch, "deref"):  # tensor.ref(): how TF 2 code keys dicts by tensors
        fetch = fetch.deref()
    if isinstance(fetch, str):
        return graph.as_graph_element(fetch)
    parent_op = getattr(fetch, "_parent_op", None)  # graph-mode `variable.assign(...)` result
    if parent_op is not None:
        return parent_op
    return fetch


class TraceSession:
    """The `session` Scaffold.init_fn gets; also runs init_op / local_init_op.

    `run` accepts what a TF1 `session.run` did: ops, tensors, variables or their names, in any
    nested structure, with an optional `feed_dict` of placeholders (keyed by tensors,
    `tensor.ref()`s or names: in a trace TF 2 tensors are hashable only with tensor equality
    disabled); `options` / `run_metadata` are ignored. Variables (and eager values) are read as
    they are; ops and tensors of the model_fn's trace run once, outside the step (see module
    docstring). A session that `runs_nothing` only keeps the fetched assignments out of the step
    and returns None for them (Savers' save/restore do nothing with it).
    """

    def __init__(self, graph: Any, runs_nothing: bool = False, what: str = "session.run"):
        self.graph = graph
        self.runs_nothing = runs_nothing
        self._what = what

    def run(self, fetches: Any, feed_dict: dict | None = None, options: Any = None,
            run_metadata: Any = None) -> Any:
        elements = [_as_graph_element(fetch, self.graph) for fetch in tf.nest.flatten(fetches)]
        in_graph = [i for i, e in enumerate(elements)
                    if isinstance(e, (tf.Operation, tf.Tensor)) and not hasattr(e, "numpy")]
        for i in in_graph:
            if elements[i].graph is not self.graph:
                raise TraceSessionError(
                    f"{self._what} fetched {elements[i].name!r}, which belongs to another graph "
                    "than the model_fn's; build what init ops run inside the model_fn.")
        values = dict(zip(in_graph, self._run_graph([elements[i] for i in in_graph],
                                                    feed_dict or {})))
        results = []
        for i, element in enumerate(elements):
            if i in values:
                results.append(values[i])
            elif hasattr(element, "numpy"):  # variables and eager values: read now
                results.append(np.asarray(element.numpy()))
            else:
                results.append(element)
        return tf.nest.pack_sequence_as(fetches, results)

    # -- what the fetches need ------------------------------------------------------------------
    def _closure(self, fetches: list) -> list:
        """Ops of the trace the fetches need (inputs and control inputs)."""
        seen, order, stack = set(), [], [f if isinstance(f, tf.Operation) else f.op
                                         for f in fetches]
        while stack:
            op = stack.pop()
            if id(op) in seen or op.graph is not self.graph:
                continue
            seen.add(id(op))
            order.append(op)
            stack.extend(t.op for t in op.inputs)  # a fed placeholder is mapped, not run
            stack.extend(op.control_inputs)
        return order

    def _check(self, ops: list) -> None:
        unsupported = [op for op in ops if _changes_a_resource(op) and op.type != _ASSIGN]
        if unsupported:
            listed = ", ".join(f"'{op.name}' ({op.type})" for op in unsupported[:5])
            raise TraceSessionError(
                f"{self._what} asks to run {listed}, which change variables other than by plain "
                "assignment. keras-spec runs these init ops once, outside the traced step, and "
                "can keep only plain assignments (variable.assign, tf.compat.v1.assign) out of "
                "the step. Compute the new value and assign it, or change the variable eagerly "
                "in Scaffold.init_fn (e.g. `w.assign_add(1.0)` there runs once).")

    def _keep_out(self, ops: list) -> None:
        if not _tf_private_runs_every_stateful_op(self.graph):
            return
        for op in ops:
            if op.type == _ASSIGN:
                _keep_out_of_step(op)

    def _input_map(self, ops: list, feeds: list) -> dict:
        """Placeholder tensor name -> what it stands for: a feed or a captured eager value."""
        fed = {id(t): v for t, v in feeds}
        captured = {id(internal) for _, internal in _tf_private_captures(self.graph)}
        mapping = {}
        for op in ops:
            if op.type != "Placeholder":
                continue
            tensor = op.outputs[0]
            if id(tensor) in fed:
                mapping[tensor.name] = np.asarray(fed[id(tensor)],
                                                  dtype=tensor.dtype.as_numpy_dtype)
            elif id(tensor) in captured:
                value = _eager_value_of(tensor, self.graph)
                if value is None:
                    raise TraceSessionError(
                        f"{self._what} needs {tensor.name!r}, a value the step receives from "
                        "outside the model_fn (not a variable); init ops can use variables, "
                        "constants and feed_dict values only.")
                mapping[tensor.name] = value
            else:
                raise TraceSessionError(
                    f"{self._what} needs {tensor.name!r}: the input batch or a placeholder that "
                    "was not fed. Init ops can use variables, constants and feed_dict values; "
                    "feed placeholders through feed_dict (init_feed_dict / local_init_feed_dict "
                    "for the Scaffold's ops).")
        return mapping

    def _run_graph(self, fetches: list, feed_dict: dict) -> list:
        if not fetches:
            return []
        feeds = [(_as_graph_element(key, self.graph), value) for key, value in feed_dict.items()]
        for tensor, _ in feeds:
            if getattr(getattr(tensor, "op", None), "type", None) != "Placeholder":
                raise TraceSessionError(f"{self._what}: feed_dict may feed placeholders only "
                                        f"(built with tf.compat.v1.placeholder); got {tensor!r}.")
        ops = self._closure(fetches)
        self._check(ops)
        if self.runs_nothing:
            self._keep_out(ops)
            return [None] * len(fetches)
        input_map = self._input_map(ops, feeds)
        graph_def = self.graph.as_graph_def()  # before the assignments are redirected
        self._keep_out(ops)
        names = {op.name for op in ops}
        subgraph = tf.compat.v1.GraphDef()
        subgraph.versions.CopyFrom(graph_def.versions)
        subgraph.library.CopyFrom(graph_def.library)
        subgraph.node.extend(node for node in graph_def.node if node.name in names)
        outputs = [f.name for f in fetches]

        def run_once():
            graph = tf.compat.v1.get_default_graph()
            mapped = {name: graph.capture(value) if hasattr(value, "numpy") else tf.constant(value)
                      for name, value in input_map.items()}
            elements = tf.graph_util.import_graph_def(
                subgraph, input_map=mapped, return_elements=outputs, name="keras_spec_session")
            ops_run = [e for e in elements if isinstance(e, tf.Operation)]
            with tf.control_dependencies(ops_run):
                done = tf.constant(0)
            return [done if isinstance(e, tf.Operation) else e for e in elements]

        with tf.init_scope():
            results = tf.function(run_once, autograph=False)()
        return [None if isinstance(f, tf.Operation) else r.numpy()
                for f, r in zip(fetches, results)]
