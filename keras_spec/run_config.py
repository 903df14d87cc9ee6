"""RunConfig: the `config` a model_fn receives, with tf.estimator's fields and defaults.

Model_fns read `config.is_chief`, `config.num_worker_replicas`, `config.tf_random_seed`,
`config.model_dir`...; the Estimator facade also uses the checkpoint/summary cadence fields.
Cluster fields come from the TF_CONFIG environment variable, as tf.estimator read them.
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

_DEFAULT_SAVE_CHECKPOINTS_SECS = 600
_FIELDS = ("model_dir", "tf_random_seed", "save_summary_steps", "save_checkpoints_steps",
           "save_checkpoints_secs", "session_config", "keep_checkpoint_max",
           "keep_checkpoint_every_n_hours", "log_step_count_steps", "train_distribute",
           "device_fn", "protocol", "eval_distribute", "experimental_distribute",
           "experimental_max_worker_delay_secs", "session_creation_timeout_secs")


# Fields tf.estimator passed to its TF1 session or server; TF 2.21 has neither. Accepted (so a
# script runs unchanged) and reported once, with what to use instead.
_UNUSED_FIELDS = {
    "session_config": "TF 2 has no sessions: use tf.config.threading.set_intra_op_parallelism_threads"
                      " / set_inter_op_parallelism_threads, tf.config.experimental.set_memory_growth"
                      " and tf.config.set_soft_device_placement before the first step",
    "device_fn": "TF 2 places variables through tf.distribute strategies: pass train_distribute "
                 "(e.g. a ParameterServerStrategy) instead",
    "protocol": "the cluster's protocol is the strategy's cluster resolver setting (grpc)",
    "experimental_max_worker_delay_secs": "workers start together under tf.distribute strategies",
}


def _warn_unused(name: str, value: Any) -> None:
    if value is not None:
        warnings.warn(f"RunConfig.{name}={value!r} is ignored on TensorFlow 2.21: "
                      f"{_UNUSED_FIELDS[name]}.", UserWarning, stacklevel=3)


def _non_negative_int_or_none(name: str, value: Any) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
        raise ValueError(f"RunConfig.{name} must be a non-negative int or None; got {value!r}")


class RunConfig:
    """tf.estimator.RunConfig's constructor, defaults, validation, TF_CONFIG and replace()."""

    def __init__(self, model_dir: str | None = None, tf_random_seed: int | None = None,
                 save_summary_steps: int = 100, save_checkpoints_steps: int | None = None,
                 save_checkpoints_secs: int | None = _DEFAULT_SAVE_CHECKPOINTS_SECS,
                 session_config: Any = None, keep_checkpoint_max: int | None = 5,
                 keep_checkpoint_every_n_hours: float = 10000, log_step_count_steps: int = 100,
                 train_distribute: Any = None, device_fn: Any = None, protocol: Any = None,
                 eval_distribute: Any = None, experimental_distribute: Any = None,
                 experimental_max_worker_delay_secs: int | None = None,
                 session_creation_timeout_secs: int = 7200):
        if save_checkpoints_steps is not None and save_checkpoints_secs not in (
                None, _DEFAULT_SAVE_CHECKPOINTS_SECS):
            raise ValueError("RunConfig: save_checkpoints_steps and save_checkpoints_secs cannot "
                             f"both be set (got {save_checkpoints_steps!r} and "
                             f"{save_checkpoints_secs!r}).")
        if save_checkpoints_steps is not None:
            save_checkpoints_secs = None
        for name, value in (("save_summary_steps", save_summary_steps),
                            ("save_checkpoints_steps", save_checkpoints_steps),
                            ("save_checkpoints_secs", save_checkpoints_secs),
                            ("keep_checkpoint_max", keep_checkpoint_max),
                            ("log_step_count_steps", log_step_count_steps),
                            ("tf_random_seed", tf_random_seed)):
            _non_negative_int_or_none(name, value)
        if model_dir is not None and not isinstance(model_dir, (str, os.PathLike)):
            raise TypeError(f"RunConfig.model_dir must be a path string; got {model_dir!r}")
        self.model_dir = os.fspath(model_dir) if model_dir is not None else None
        self.tf_random_seed = tf_random_seed
        self.save_summary_steps = save_summary_steps
        self.save_checkpoints_steps = save_checkpoints_steps
        self.save_checkpoints_secs = save_checkpoints_secs
        self.session_config = session_config
        self.keep_checkpoint_max = keep_checkpoint_max
        self.keep_checkpoint_every_n_hours = keep_checkpoint_every_n_hours
        self.log_step_count_steps = log_step_count_steps
        self.train_distribute = train_distribute
        self.device_fn = device_fn
        self.protocol = protocol
        self.eval_distribute = eval_distribute
        self.experimental_distribute = experimental_distribute
        self.experimental_max_worker_delay_secs = experimental_max_worker_delay_secs
        self.session_creation_timeout_secs = session_creation_timeout_secs
        for name in _UNUSED_FIELDS:
            _warn_unused(name, getattr(self, name))
        self._read_tf_config()

    def _read_tf_config(self) -> None:
        """Cluster fields as tf.estimator 2.15's RunConfig derived them from TF_CONFIG.

        The evaluator is not part of the training cluster: it sees an empty cluster, no
        replicas and no global id. Task ids are ordered chief first, then the other jobs
        alphabetically, ps last (tf.estimator's `global_id_in_cluster`).
        """
        raw = os.environ.get("TF_CONFIG", "")
        try:
            tf_config = json.loads(raw) if raw else {}
        except json.JSONDecodeError as e:
            raise ValueError(f"TF_CONFIG is not valid JSON: {e}; got {raw[:200]!r}") from None
        if not isinstance(tf_config, dict):
            raise ValueError(f"TF_CONFIG must be a JSON object; got {raw[:200]!r}")
        cluster = tf_config.get("cluster", {}) or {}
        task = tf_config.get("task", {}) or {}
        if not isinstance(cluster, dict) or not all(
                isinstance(v, list) for v in cluster.values()):
            raise ValueError("TF_CONFIG['cluster'] must map job names to lists of 'host:port' "
                             f"addresses; got {cluster!r}")
        self.task_type = task.get("type", "worker")
        try:
            self.task_id = int(task.get("index", 0))
        except (TypeError, ValueError):
            raise ValueError("TF_CONFIG['task']['index'] must be an integer; got "
                             f"{task.get('index')!r}") from None
        self.service = tf_config.get("service")
        self.evaluation_master = ""
        self.master = ""
        if cluster and self.task_type == "evaluator":  # not part of the training cluster
            self.cluster_spec, self.is_chief = {}, False
            self.num_worker_replicas, self.num_ps_replicas = 0, 0
            self.global_id_in_cluster = None
            return
        self.cluster_spec = cluster
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
        self.num_worker_replicas = max(workers, 1)
        self.num_ps_replicas = len(cluster.get("ps", []))
        if not cluster:
            self.is_chief, self.global_id_in_cluster = True, 0
            return
        addresses = cluster.get(self.task_type)
        if not addresses or not 0 <= self.task_id < len(addresses):
            raise ValueError(
                f"TF_CONFIG: task {{'type': {self.task_type!r}, 'index': {self.task_id}}} is not "
                f"in its cluster (jobs: {sorted(cluster)}); set 'task' to one of the cluster's "
                "tasks, or 'evaluator'.")
        self.master = f"grpc://{addresses[self.task_id]}"
        if "chief" in cluster:
            self.is_chief = self.task_type == "chief"
        else:  # a chief-less cluster (MultiWorkerMirroredStrategy): worker 0 is the chief
            self.is_chief = self.task_type in ("worker", "master") and self.task_id == 0
        chief = "chief" if "chief" in cluster else None
        order = ([chief] if chief else []) + sorted(
            job for job in cluster if job not in (chief, "ps")) + (
                ["ps"] if "ps" in cluster else [])
        self.global_id_in_cluster = 0
        for job in order:
            if job == self.task_type:
                self.global_id_in_cluster += self.task_id
                break
            self.global_id_in_cluster += len(cluster[job])

    def replace(self, **kwargs: Any) -> "RunConfig":
        """A copy with some constructor fields changed (unknown names are an error)."""
        unknown = sorted(set(kwargs) - set(_FIELDS))
        if unknown:
            raise ValueError(f"RunConfig.replace: unknown field(s) {unknown}; allowed: {list(_FIELDS)}")
        values = {name: getattr(self, name) for name in _FIELDS}
        if "save_checkpoints_steps" in kwargs and "save_checkpoints_secs" not in kwargs:
            values["save_checkpoints_secs"] = None
        if "save_checkpoints_secs" in kwargs and "save_checkpoints_steps" not in kwargs:
            values["save_checkpoints_steps"] = None
        values.update(kwargs)
        return RunConfig(**values)

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in _FIELDS[:7])
        return f"RunConfig({fields})"
