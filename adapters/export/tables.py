"""Lookup tables made while tracing the serving graph, carried into the SavedModel.

Feature columns (vocabulary list/file, and the tables behind them) create lookup tables when
the PREDICT model_fn runs on the serving receiver's features. In the TF1 graph tf.estimator
exported, the tables were ops of the graph, filled by a `tables_initializer()` main op fed the
copied vocabulary assets. Here the graph is a `wrap_function` graph: each table's handle is an
eager resource captured by the signatures (TF 2's `tf.saved_model.save` refuses untracked
ones) and its initializer is an op of the wrapped graph no signature runs. So:

- each table is tracked through `_ServingTable`, which hands the SavedModel the table's own
  creation function and nothing else (its TF1 initializer reads tensors of the wrapped graph and
  cannot be traced again);
- one `_TableInitializer` resource runs the tables' initializer ops, pruned into a function
  whose inputs are the vocabulary file paths (as TF1 fed ASSET_FILEPATHS); the files become
  SavedModel assets, and `tf.saved_model.load` runs the initializer at load time.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import tensorflow as tf


def _tf_private_resource_tracker():
    """TF's scope that collects every TrackableResource created inside it (tables included).

    Private (tensorflow/python/trackable/resource.py); Keras uses it for the same purpose.
    Checked on TF 2.21.0.
    """
    from tensorflow.python.trackable import resource  # pylint: disable=g-import-not-at-top

    tracker = resource.ResourceTracker()
    return tracker, resource.resource_tracker_scope(tracker)


@contextlib.contextmanager
def collect_resources() -> Iterator[list]:
    """Yields a list that holds, afterwards, the TrackableResources created in the block."""
    tracker, scope = _tf_private_resource_tracker()
    found: list = []
    with scope:
        yield found
    found.extend(tracker.resources)


def _tf_private_table_creator(table: Any):
    """The table's own resource-creation function (private `_create_resource`, TF 2.21.0):
    a creation op that depends on no graph tensor, safe to trace into the SavedModel."""
    return table._create_resource  # pylint: disable=protected-access


class _ServingTable(tf.saved_model.experimental.TrackableResource):
    """Tracks one serving-graph table: recreated empty at load, filled by _TableInitializer."""

    def __init__(self, table: Any):
        super().__init__()
        self._create = _tf_private_table_creator(table)
        # The signatures capture this handle; setting it makes this object its owner.
        self._resource_handle = table.resource_handle

    def _create_resource(self):
        return self._create()

    def _initialize(self):
        return tf.no_op()  # filled by _TableInitializer


class _TableInitializer(tf.saved_model.experimental.TrackableResource):
    """Runs the serving graph's table initializers, fed the vocabulary assets' paths."""

    def __init__(self, init_fn: Any, assets: list):
        super().__init__()
        self._init_fn = init_fn
        self._assets = assets

    def _create_resource(self):
        return tf.constant(1.0)  # a resource only so that load runs _initialize

    def _initialize(self):
        return self._init_fn(*[a.asset_path for a in self._assets])


def _tf_private_init_op(table: Any) -> Any:
    """The op a TF1 initializable table's initializer added to the graph (private `_init_op`
    of lookup_ops.InitializableLookupTableBase, TF 2.21.0). The TABLE_INITIALIZERS collection
    cannot be used: the emulated model_fn call restores the graph's collections afterwards."""
    return getattr(table, "_init_op", None)


def tracked_tables(wrapped: Any, resources: list) -> dict:
    """Trackable attributes that carry the tables of `wrapped`'s graph into the SavedModel.

    `resources`: what `collect_resources` found while tracing; `wrapped`: the
    `tf.compat.v1.wrap_function` of the serving graph. Empty when the graph made no table.
    """
    graph_tables, eager_tables, handles, initializers = [], [], [], []
    for resource in resources:
        if not _is_table(resource):
            continue
        handle = resource.resource_handle
        if any(handle is h for h in handles):
            continue  # a wrapper of a table already seen (IdTableWithHashBuckets)
        handles.append(handle)
        init_op = _tf_private_init_op(resource)
        if init_op is not None and getattr(init_op, "graph", None) is wrapped.graph:
            graph_tables.append(resource)
            initializers.append(init_op)
        else:  # initialized eagerly (inside a control-flow context): its own initializer traces
            eager_tables.append(resource)
    found = {"serving_tables_initialized_eagerly": eager_tables} if eager_tables else {}
    if not graph_tables:
        return found
    paths = []  # vocabulary files: constant file-name inputs of the initializers (TF1 assets)
    for op in initializers:
        if op.type == "InitializeTableFromTextFileV2":
            name = op.inputs[1]
            if name.op.type == "Const" and all(name is not p for p in paths):
                paths.append(name)
    assets = [tf.saved_model.Asset(tf.get_static_value(p).decode()) for p in paths]
    with wrapped.graph.as_default():
        anchor = tf.constant(0.0, name="table_init_anchor")
    init_fn = wrapped.prune(feeds=paths, fetches=[anchor] + initializers)
    return dict(found, serving_tables=[_ServingTable(t) for t in graph_tables],
                serving_table_initializer=_TableInitializer(init_fn, assets))


def _is_table(resource: Any) -> bool:
    """A lookup table (tf.lookup's tables, the index tables of feature columns)."""
    return all(hasattr(resource, a) for a in ("lookup", "key_dtype", "value_dtype"))
