"""Making the tf.distribute strategy a TPU training script runs under.

A TPUEstimator script named its TPU in RunConfig(cluster=TPUClusterResolver(...)); with
TPUStrategy the script resolves the TPU, connects to it and initializes it before building the
strategy. `tpu_strategy()` does those steps and, on a machine without a TPU, fails with an error
that says so and names the strategies that run the same SpecModel code on CPU/GPU.
`make_strategy()` picks one by name for scripts that take `--strategy`.
"""

from __future__ import annotations

import os

import tensorflow as tf

STRATEGY_NAMES = ("tpu", "mirrored", "multiworker", "default")


class NoTPUFoundError(RuntimeError):
    """No TPU could be resolved, connected to or initialized."""


def tpu_strategy(tpu: str | None = None, zone: str | None = None,
                 project: str | None = None) -> tf.distribute.TPUStrategy:
    """Resolve, connect to and initialize a TPU, and return a TPUStrategy over it.

    `tpu` is the TPU name or grpc address (None: the TPU_NAME environment variable, or the
    TPU of a TPU VM via "local").
    """
    name = tpu if tpu is not None else os.environ.get("TPU_NAME")
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(
            tpu=name, zone=zone, project=project)
        if name not in (None, "", "local"):
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as error:
        raise NoTPUFoundError(
            f"No TPU was found (tpu={name!r}): {str(error).splitlines()[0][:300].rstrip('.')}. "
            "On CPUs or GPUs run the same SpecModel code under "
            "tf.distribute.MirroredStrategy() (all local GPUs, or several logical CPU devices), "
            "MultiWorkerMirroredStrategy() (several machines, from TF_CONFIG) or the default "
            "strategy (one device); e.g. pass --strategy mirrored.") from error


def make_strategy(name: str, tpu: str | None = None) -> tf.distribute.Strategy:
    """The strategy called `name`: tpu | mirrored | multiworker | default."""
    if name == "tpu":
        return tpu_strategy(tpu)
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "default":
        return tf.distribute.get_strategy()
    raise ValueError(f"Unknown strategy {name!r}; expected one of {STRATEGY_NAMES}.")
