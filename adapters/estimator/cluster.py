"""What each TF_CONFIG task does in `train_and_evaluate`, on TF 2.21's own engines.

tf.estimator ran the same script in every process of a cluster and chose the work from the
task type. Here:

- no cluster: local train-and-evaluate;
- `evaluator`: never trains; evaluates each new checkpoint (evaluator.py). It is not part of
  the training cluster and builds no strategy;
- a cluster with `ps` tasks: the `chief` coordinates parameter-server training through
  `tf.distribute.experimental.ParameterServerStrategy` + `ClusterCoordinator` (ps_training.py);
  `worker` and `ps` tasks only serve (a `tf.distribute.Server`) until the chief's final
  checkpoint is in model_dir, then exit (tf.estimator's ps blocked in `server.join()` forever);
- otherwise `chief`/`worker` train with `RunConfig.train_distribute` (synchronous all-reduce
  with MultiWorkerMirroredStrategy); only the chief writes checkpoints.

Every training-cluster task first waits until the tasks it needs accept connections, at most
`RunConfig.session_creation_timeout_secs` (tf.estimator's bound on waiting for a session), and
otherwise fails naming the unreachable address.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from typing import Any, Callable

import tensorflow as tf

_log = logging.getLogger("keras_spec")

LOCAL, CHIEF, WORKER, PS, EVALUATOR = "local", "chief", "worker", "ps", "evaluator"
_POLL_SECS = 0.5


class ClusterUnreachableError(RuntimeError):
    """A task of the TF_CONFIG cluster did not accept connections in time."""


def role_of(config: Any) -> str:
    """local | chief | worker | ps | evaluator, from a RunConfig built under TF_CONFIG."""
    if config.task_type == EVALUATOR:
        return EVALUATOR
    if not config.cluster_spec:
        return LOCAL
    if config.task_type == PS:
        return PS
    return CHIEF if config.is_chief else WORKER


def has_parameter_servers(config: Any) -> bool:
    return bool(config.cluster_spec.get(PS))


def training_cluster(config: Any) -> dict[str, list[str]]:
    """The cluster without the evaluator (which is not part of training)."""
    return {job: list(tasks) for job, tasks in config.cluster_spec.items()
            if job != EVALUATOR and tasks}


def _address(config: Any, job: str, index: int) -> str:
    return config.cluster_spec[job][index]


def _reachable(address: str, timeout: float) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            return True
    except (OSError, ValueError):
        return False


def wait_for_tasks(config: Any, jobs: tuple[str, ...], timeout_secs: float | None = None) -> None:
    """Wait until every task of `jobs` (but this one) accepts TCP connections.

    Raises ClusterUnreachableError naming the first address still unreachable after
    `timeout_secs` (default: RunConfig.session_creation_timeout_secs).
    """
    timeout = config.session_creation_timeout_secs if timeout_secs is None else timeout_secs
    me = (config.task_type, config.task_id)
    pending = [(job, i, address) for job in jobs
               for i, address in enumerate(config.cluster_spec.get(job, []))
               if (job, i) != me]
    deadline = time.monotonic() + timeout
    while pending:
        pending = [t for t in pending if not _reachable(t[2], timeout=2.0)]
        if not pending:
            break
        if time.monotonic() >= deadline:
            job, i, address = pending[0]
            raise ClusterUnreachableError(
                f"Task {config.task_type}:{config.task_id} could not reach {job}:{i} at "
                f"{address} within {timeout:g} s (RunConfig.session_creation_timeout_secs). "
                "Check that every task of TF_CONFIG's cluster was started and that the address "
                "is reachable from this machine.")
        time.sleep(_POLL_SECS)


def start_server(config: Any) -> tf.distribute.Server:
    """This task's in-process gRPC server in the training cluster (worker and ps tasks)."""
    cluster = tf.train.ClusterSpec(training_cluster(config))
    return tf.distribute.Server(cluster, job_name=config.task_type, task_index=config.task_id,
                                protocol=config.protocol or "grpc", start=True)


def serve_until_done(config: Any, training_done: Callable[[], bool]) -> None:
    """A worker or ps task of parameter-server training: serve until training is done.

    The chief's coordinator runs the steps on the workers and keeps variables on the ps; this
    process only hosts them. It exits when `training_done()` (the chief has written
    TRAINING_DONE_FILE for the final step), or when the chief stays unreachable longer than
    session_creation_timeout_secs (a chief that never came back).
    """
    server = start_server(config)  # first: the chief waits for every worker and ps
    _log.info("Serving as %s:%d at %s until training is done.", config.task_type,
              config.task_id, server.target)
    chief = _address(config, CHIEF, 0)
    last_seen = time.monotonic()
    while not training_done():
        if _reachable(chief, timeout=2.0):
            last_seen = time.monotonic()
        elif time.monotonic() - last_seen > config.session_creation_timeout_secs:
            raise ClusterUnreachableError(
                f"Task {config.task_type}:{config.task_id} could not reach the chief at {chief} "
                "for more than "
                f"{config.session_creation_timeout_secs:g} s and training is not done; "
                f"{config.task_type}:{config.task_id} stops serving.")
        time.sleep(_POLL_SECS * 2)
    _log.info("Training is done: %s:%d stops serving.", config.task_type, config.task_id)


# Written by the chief of parameter-server training when it has finished with the cluster (final
# checkpoint written, every variable read done): worker and ps tasks exit only then. The final
# checkpoint alone is not enough: the chief still reads variables on the ps after writing it.
TRAINING_DONE_FILE = "keras_spec_training_done.json"


def mark_training_done(model_dir: str, global_step: int) -> None:
    """The chief's word that training ended at `global_step` (atomic: temp file + rename)."""
    path = os.path.join(model_dir, TRAINING_DONE_FILE)
    temp = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(temp, "w") as f:
        f.write(json.dumps({"global_step": int(global_step)}))
    tf.io.gfile.rename(temp, path, overwrite=True)


def training_done_step(model_dir: str) -> int | None:
    """The step the chief said training ended at, or None when it has not said so."""
    path = os.path.join(model_dir, TRAINING_DONE_FILE)
    try:
        with tf.io.gfile.GFile(path) as f:
            return int(json.loads(f.read())["global_step"])
    except (tf.errors.NotFoundError, ValueError, KeyError, TypeError):
        return None


def parameter_server_strategy(config: Any) -> tf.distribute.Strategy:
    """ParameterServerStrategy over the training cluster, for the chief (the coordinator).

    Built from the cluster without the evaluator: the coordinator connects to every task of the
    cluster it is given, and the evaluator runs no server.
    """
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        tf.train.ClusterSpec(training_cluster(config)), task_type=CHIEF, task_id=0,
        rpc_layer=config.protocol or "grpc")
    return tf.distribute.experimental.ParameterServerStrategy(resolver)


def is_parameter_server_strategy(strategy: Any) -> bool:
    return isinstance(strategy, tf.distribute.experimental.ParameterServerStrategy)
