"""Train and test functions of a SpecModel under a tf.distribute strategy with several replicas.

Keras's own step functions run `train_step`/`test_step` inside `strategy.run` and mean-reduce
whatever they return, which leaves no place for what a spec needs *between* the replicas:
TPUEstimatorSpec `eval_metrics` and `host_call` run their function once on the tensors of all
replicas concatenated along the batch dimension (TPUEstimator's outfeed), the loss is averaged
over replicas, summaries are written once, and compat.v1 optimizers average gradients (the
estimator loss scaling). These functions do each step as

    per_replica = strategy.run(replica step)        # the model_fn on each replica's shard
    cross-replica merge                             # reduce, gather, metric_fn / host_call once

and run `steps_per_execution` such steps in one tf.function (a tf.while_loop), so that setting
works under strategies too (Keras 3.15's own multi-step loop fails there).
"""

from __future__ import annotations

from typing import Any, Callable

import tensorflow as tf

from keras_spec import ModeKeys

from adapters.tf1 import world as tf1_world


def _first_replica(strategy: tf.distribute.Strategy, value: Any) -> Any:
    """Replica 0's (local) value of a per-replica structure."""
    return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], value)


def is_first_local_replica() -> bool:
    """Whether the code runs for this worker's first replica (or outside any replica).

    Hooks, host_call bookkeeping and scaffold_fn run once per worker: on this replica.
    """
    context = tf.distribute.get_replica_context()
    if context is None or tf.distribute.in_cross_replica_context():
        return True
    strategy = tf.distribute.get_strategy()
    if strategy.num_replicas_in_sync == 1:
        return True
    replica_id = tf.get_static_value(context.replica_id_in_sync_group)
    if replica_id is None:
        return True
    # Replica ids are global (worker index x local replicas + local index).
    return int(replica_id) % len(strategy.extended.worker_devices) == 0


def _per_replica_spec(spec: Any, replicas: int) -> Any:
    """A global batch's TensorSpec as one replica sees it (batch split evenly)."""
    def split(s):
        if not isinstance(s, tf.TensorSpec) or not s.shape.rank or s.shape[0] is None:
            return s
        return tf.TensorSpec([s.shape[0] // replicas] + s.shape[1:].as_list(), s.dtype)
    return tf.nest.map_structure(split, spec)


def global_spec(per_replica_spec: Any, replicas: int) -> Any:
    """The global batch's TensorSpecs of a per-replica element spec (one replica's batch times
    the replicas); a PerReplicaSpec (several local replicas) counts by its first component."""
    def scale(s):
        value_specs = getattr(s, "_value_specs", None)  # PerReplicaSpec (TF 2.21)
        if value_specs:
            s = value_specs[0]
        if not isinstance(s, tf.TensorSpec) or not s.shape.rank or s.shape[0] is None:
            return s
        return tf.TensorSpec([s.shape[0] * replicas] + s.shape[1:].as_list(), s.dtype)
    return tf.nest.map_structure(scale, per_replica_spec)


def trace_replica_step(model: Any, core: Callable, mode: str, features: Any, labels: Any) -> None:
    """Trace one replicated step without running it: creates the variables and begins hooks
    before Keras's first step (as build_variables does on one device)."""
    strategy = model.distribute_strategy
    replicas = strategy.num_replicas_in_sync
    features, labels = _per_replica_spec((features, labels), replicas)
    if mode == ModeKeys.PREDICT:
        fn = tf.function(lambda f: strategy.run(core, args=(f,)), autograph=False)
        fn.get_concrete_function(features)
        return
    def replicated(f, l):
        with model._world.call(mode):
            return strategy.run(core, args=(f, l))

    fn = tf.function(replicated, autograph=False)
    with tf1_world.estimator_loss_scaling(strategy):
        fn.get_concrete_function(features, labels)


def eval_metric_values(model: Any, features: Any, labels: Any) -> dict:
    """{key: (value, None)} of an EstimatorSpec's eval_metric_ops read across replicas.

    Called in the metric bridge's values-only graph: the EVAL model_fn runs in replica context
    (compat.v1 metrics compute their value from every replica's variables there).
    """
    strategy = model.distribute_strategy
    from adapters.engine.metric_bridge import is_metric_object  # pylint: disable=g-import-not-at-top

    def replica_values(f, l):
        spec, _, _ = model._run_model_fn(f, l, ModeKeys.EVAL)
        return {k: tf.convert_to_tensor(v[0]) for k, v in spec.eval_metric_ops.items()
                if not is_metric_object(v)}

    with strategy.scope(), model._world.call(ModeKeys.EVAL):
        values = strategy.run(replica_values, args=(features, labels))
    return {k: (_first_replica(strategy, v), None) for k, v in values.items()}


def gather(strategy: tf.distribute.Strategy, tensors: Any) -> Any:
    """Every replica's tensors concatenated along the batch dimension, in replica order.

    On one worker all replicas' values are local and are concatenated directly; across
    workers `strategy.gather` runs a collective all-gather. (MirroredStrategy's gather is a
    collective too, whose instance keys collide between two strategies made in one process.)
    """
    if len(strategy.extended.worker_devices) == strategy.num_replicas_in_sync:
        return tf.nest.map_structure(
            lambda t: tf.concat(strategy.experimental_local_results(t), axis=0), tensors)
    return tf.nest.map_structure(lambda t: strategy.gather(t, axis=0), tensors)


def _loop(model: Any, one_step: Callable, iterator: Any) -> Any:
    """Run `steps_per_execution` steps in one call.

    The first step reads with get_next (at the end of the data that raises OutOfRangeError,
    which Keras turns into the end of the epoch); the others stop early when the data runs out.
    No step runs inside a tf.cond: replicated steps in a cond branch fail to run under
    MirroredStrategy ("You must feed a value for placeholder tensor"), so the loop condition
    tests whether the next element exists, and the next element is only requested while
    steps remain (nothing is consumed and dropped).
    """
    first = iterator.get_next()
    logs = one_step(first)
    steps = model.steps_per_execution
    if steps == 1:
        return logs
    strategy = model.distribute_strategy
    shapes = tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0].shape,
                                   first)

    def with_first_shapes(data):
        # Optional elements lose the static batch size that params['batch_size'] is read from.
        return tf.nest.map_structure(
            lambda t, shape: tf.ensure_shape(t, shape) if isinstance(t, tf.Tensor) else t,
            data, shapes)

    def cond(i, optional, _):
        return tf.logical_and(i < steps, optional.has_value())

    def body(i, optional, _):
        data = strategy.run(with_first_shapes, args=(optional.get_value(),))
        new_logs = one_step(data)
        following = tf.cond(i + 1 < steps, iterator.get_next_as_optional, lambda: optional)
        return i + 1, following, new_logs

    _, _, logs = tf.while_loop(cond, body, (tf.constant(1), iterator.get_next_as_optional(), logs))
    return logs


def _executions(model: Any, one_step: Callable) -> Callable:
    """What Keras calls once per execution: with an iterator (Keras's usual input), all steps
    run in one tf.function; with an iterable of batches (Keras hands multi-worker data that
    way), one traced step per batch."""
    step = tf.function(one_step, autograph=False, reduce_retracing=True)
    loop = tf.function(lambda it: _loop(model, step, it), autograph=False,
                       reduce_retracing=True)

    def run(iterator):
        if isinstance(iterator, (tf.data.Iterator, tf.distribute.DistributedIterator)):
            return loop(iterator)
        logs = None
        for _, data in zip(range(model.steps_per_execution), iterator):
            logs = step(data)
        if logs is None:
            raise StopIteration
        return logs

    return run


def make_train_function(model: Any) -> Callable:
    """model.train_function for several replicas: see the module docstring."""
    strategy = model.distribute_strategy

    def one_step(data):
        with model._world.call(ModeKeys.TRAIN):  # merge_call runs here (optimizer slots)
            per_replica = strategy.run(model._replica_train_step, args=(data,))
        _, summaries, host_tensors = per_replica
        model._write_summaries(ModeKeys.TRAIN, _first_replica(strategy, summaries))
        if host_tensors:
            model._run_host_call(ModeKeys.TRAIN, gather(strategy, host_tensors))
        # The replicas updated the (sync-on-read) loss tracker: its result is the mean over
        # replicas, which with equal shards is the loss of the whole batch.
        return {"loss": model._loss_tracker.result()}

    run = _executions(model, one_step)

    def train_function(iterator):
        # Traced on first call; compat.v1 optimizers then average the replicas' gradients.
        with tf1_world.estimator_loss_scaling(strategy):
            return run(iterator)

    return train_function


def make_test_function(model: Any) -> Callable:
    """model.test_function for several replicas: see the module docstring."""
    strategy = model.distribute_strategy

    def one_step(data):
        with model._world.call(ModeKeys.EVAL):
            per_replica = strategy.run(model._replica_test_step, args=(data,))
        _, logs, summaries, tpu_tensors = per_replica
        # In-step values of eval_metric_ops (compat.v1 metrics compute them from all replicas'
        # variables); only shown by the progress bar, evaluate() reports the final values.
        logs = _first_replica(strategy, logs)
        model._write_summaries(ModeKeys.EVAL, _first_replica(strategy, summaries))
        if tpu_tensors.get("host_call"):
            model._run_host_call(ModeKeys.EVAL, gather(strategy, tpu_tensors["host_call"]))
        if tpu_tensors.get("eval_metrics"):
            logs = dict(logs, **model._run_metric_fn(gather(strategy, tpu_tensors["eval_metrics"])))
        return {"loss": model._loss_tracker.result(), **logs}

    return _executions(model, one_step)


def make_predict_function(model: Any) -> Callable:
    """model.predict_function for several replicas (Keras's contract: a list of batches in,
    the replicas' predictions concatenated out). The replicated step runs inside a TF1-world
    call on the main thread, like the train and test steps: the replicas' calls interleave
    on one graph, and this outer call is what restores its collections afterwards."""
    strategy = model.distribute_strategy

    def one_step(data):
        with model._world.call(ModeKeys.PREDICT):
            outputs = strategy.run(model.predict_step, args=(data,))
        return gather(strategy, outputs)

    def predict_function(batches):
        outputs = one_step(batches[0])
        for data in batches[1:]:
            outputs = tf.nest.map_structure(lambda a, b: tf.concat([a, b], axis=0), outputs,
                                            one_step(data))
        return outputs

    return tf.function(predict_function, autograph=False, reduce_retracing=True)
