"""TPUEstimator, TPUConfig and the TPU RunConfig, for scripts written against them.

What TPUEstimator added to Estimator and model_fns rely on: `params['batch_size']` is the
batch size of the current mode (`train_batch_size`, `eval_batch_size`, `predict_batch_size`,
per replica: one replica here), given to both input_fn (which must take `params`) and model_fn,
plus `params['use_tpu']`; `batch_size` is a reserved params key; `iterations_per_loop` steps run
per host round trip (here: Keras `steps_per_execution`). `use_tpu=True` needs a TPU runtime,
which the engine does not drive yet: it is refused with the alternatives named.
"""

from __future__ import annotations

import collections
import math
import re
from typing import Any, Callable

import numpy as np
import tensorflow as tf

from keras_spec import ModeKeys
from keras_spec import run_config as run_config_lib
from keras_spec.tpu_estimator_spec import TPUEstimatorSpec

from adapters.estimator.estimator import Estimator
from adapters.estimator.not_provided import placeholder_module

# tf.estimator.tpu.experimental held only EmbeddingConfigSpec, which is not provided.
experimental = placeholder_module("tpu.experimental", __name__ + ".experimental",
                                  "tf.estimator.tpu.experimental (not provided).")

_BATCH_SIZE_KEY = "batch_size"
_CTX_KEY = "context"
_USE_TPU_KEY = "use_tpu"
_RESERVED_PARAMS_KEYS = [_BATCH_SIZE_KEY, _CTX_KEY]
_ITERATIONS_PER_LOOP = re.compile(r"^(?P<value>[1-9]\d*)((?P<suffix>[smh])$|$)")


def _check_positive_integer(value: Any, name: str) -> None:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"{name} must be int, got {type(value)}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def _parse_iterations_per_loop(value: Any) -> tuple[int, str]:
    """(count, unit): unit 'count' for steps, or 's'/'m'/'h' for a time-based loop."""
    match = _ITERATIONS_PER_LOOP.match(str(value))
    if match is None or (match.group("suffix") is None and not isinstance(value, int)):
        raise ValueError("Invalid TPUConfig `iterations_per_loop` value. Value must be positive "
                         "integer value or time-based value `<N><s|m|h>` where <N> is a positive "
                         f"integer; got {value!r}.")
    return int(match.group("value")), match.group("suffix") or "count"


class InputPipelineConfig:
    """Values of TPUConfig.per_host_input_for_training (see tf.estimator.tpu)."""

    PER_SHARD_V1 = 1
    PER_HOST_V1 = 2
    PER_HOST_V2 = 3
    BROADCAST = 4
    SLICED = 5


class TPUConfig(collections.namedtuple("TPUConfig", [
        "iterations_per_loop", "num_shards", "num_cores_per_replica",
        "per_host_input_for_training", "tpu_job_name", "initial_infeed_sleep_secs",
        "input_partition_dims", "eval_training_input_configuration",
        "experimental_host_call_every_n_steps",
        "experimental_allow_per_host_v2_parallel_get_next",
        "experimental_customized_tpu_infeed_outfeed_session_hook_class"])):
    """tf.estimator.tpu.TPUConfig with its validation."""

    def __new__(cls, iterations_per_loop: Any = 2, num_shards: int | None = None,
                num_cores_per_replica: int | None = None, per_host_input_for_training: Any = True,
                tpu_job_name: str | None = None, initial_infeed_sleep_secs: int | None = None,
                input_partition_dims: Any = None,
                eval_training_input_configuration: int = InputPipelineConfig.PER_HOST_V1,
                experimental_host_call_every_n_steps: int = 1,
                experimental_allow_per_host_v2_parallel_get_next: bool = False,
                experimental_customized_tpu_infeed_outfeed_session_hook_class: Any = None):
        _parse_iterations_per_loop(iterations_per_loop)
        if num_shards is not None:
            _check_positive_integer(num_shards, "TPUConfig num_shards")
        if input_partition_dims is not None:
            if len(input_partition_dims) not in (1, 2):
                raise ValueError("input_partition_dims must be a list/tuple with one or two "
                                 "elements.")
            if per_host_input_for_training is not InputPipelineConfig.PER_HOST_V2:
                raise ValueError("input_partition_dims is only supported in PER_HOST_V2 mode.")
            if num_cores_per_replica is None:
                raise ValueError("input_partition_dims requires setting num_cores_per_replica.")
        if num_cores_per_replica is not None and num_cores_per_replica not in (
                1, 2, 4, 8, 16, 32, 64, 128):
            raise ValueError("num_cores_per_replica must be 1, 2, 4, 8, 16, 32, 64, 128; got "
                             f"{num_cores_per_replica}")
        if eval_training_input_configuration not in (InputPipelineConfig.PER_HOST_V1,
                                                     InputPipelineConfig.SLICED):
            raise ValueError("eval_training_input_configuration must be PER_HOST_V1 or SLICED; "
                             f"got {eval_training_input_configuration}")
        if per_host_input_for_training is False:
            per_host_input_for_training = InputPipelineConfig.PER_SHARD_V1
        elif per_host_input_for_training is True:
            per_host_input_for_training = InputPipelineConfig.PER_HOST_V1
        if initial_infeed_sleep_secs:
            _check_positive_integer(initial_infeed_sleep_secs,
                                    "TPUConfig initial_infeed_sleep_secs")
        return super().__new__(
            cls, iterations_per_loop, num_shards, num_cores_per_replica,
            per_host_input_for_training, tpu_job_name, initial_infeed_sleep_secs,
            input_partition_dims, eval_training_input_configuration,
            experimental_host_call_every_n_steps, experimental_allow_per_host_v2_parallel_get_next,
            experimental_customized_tpu_infeed_outfeed_session_hook_class)


class RunConfig(run_config_lib.RunConfig):
    """tf.estimator.tpu.RunConfig: a RunConfig with `tpu_config`, `master`, `cluster`."""

    def __init__(self, tpu_config: TPUConfig | None = None, evaluation_master: str | None = None,
                 master: str | None = None, cluster: Any = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._tpu_config = tpu_config or TPUConfig()
        self._cluster = cluster
        if master is not None:
            if cluster is not None:
                raise ValueError("Both master and cluster are set.")
            self.master = master
        elif cluster:
            self.master = cluster.master()
        if evaluation_master is not None:
            self.evaluation_master = evaluation_master
        elif not self.evaluation_master and self.task_type != "evaluator":
            self.evaluation_master = self.master

    @property
    def tpu_config(self) -> TPUConfig:
        return self._tpu_config

    @property
    def cluster(self) -> Any:
        return self._cluster

    def replace(self, **kwargs: Any) -> "RunConfig":
        """A copy with fields changed; `tpu_config` may be replaced too."""
        tpu_config = kwargs.pop("tpu_config", self._tpu_config)
        base = super().replace(**kwargs)
        new = RunConfig.__new__(type(self))
        new.__dict__.update(vars(base))
        new._tpu_config, new._cluster = tpu_config, self._cluster
        new.master, new.evaluation_master = self.master, self.evaluation_master
        return new

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f", tpu_config={self._tpu_config!r})"


def _tpu_present() -> bool:
    return bool(tf.config.list_logical_devices("TPU"))


class TPUEstimator(Estimator):
    """tf.estimator.tpu.TPUEstimator on one device (`use_tpu=False`)."""

    def __init__(self, model_fn: Callable | None = None, model_dir: str | None = None,
                 config: RunConfig | None = None, params: dict | None = None,
                 use_tpu: bool = True, train_batch_size: int | None = None,
                 eval_batch_size: int | None = None, predict_batch_size: int | None = None,
                 batch_axis: Any = None, eval_on_tpu: bool = True, export_to_tpu: bool = True,
                 export_to_cpu: bool = True, warm_start_from: Any = None,
                 embedding_config_spec: Any = None, export_saved_model_api_version: Any = None):
        if config is None or not isinstance(config, RunConfig):
            raise ValueError("`config` must be provided with type `tpu_config.RunConfig` "
                             "(adapters.tpu.RunConfig)")
        if params is not None and any(k in params for k in _RESERVED_PARAMS_KEYS):
            raise ValueError(f"{_RESERVED_PARAMS_KEYS} are reserved keys but existed in params "
                             f"{params}.")
        if use_tpu and train_batch_size is None:
            raise ValueError("`train_batch_size` cannot be `None`")
        for name, value in (("train_batch_size", train_batch_size),
                            ("eval_batch_size", eval_batch_size),
                            ("predict_batch_size", predict_batch_size)):
            if value is not None:
                _check_positive_integer(value, name)
        if embedding_config_spec is not None:
            raise NotImplementedError("TPUEstimator(embedding_config_spec=...): TPU embeddings "
                                      "need a TPU runtime; not supported.")
        count, unit = _parse_iterations_per_loop(config.tpu_config.iterations_per_loop)
        if unit != "count":
            raise NotImplementedError(
                f"TPUConfig(iterations_per_loop={config.tpu_config.iterations_per_loop!r}): "
                "time-based loops are not supported; give a number of steps.")
        if use_tpu:
            raise (NotImplementedError if _tpu_present() else ValueError)(
                "TPUEstimator(use_tpu=True): "
                + ("running on TPUs is not supported by keras-spec yet."
                   if _tpu_present() else "no TPU is attached to this machine.")
                + " Pass use_tpu=False to run the same model_fn on CPU/GPU, as "
                "TPUEstimator(use_tpu=False) did; params['batch_size'] is then each mode's "
                "batch size. For several GPUs, tf.distribute.MirroredStrategy is the "
                "replacement for TPUStrategy (see SpecModel).")
        super().__init__(model_fn, model_dir=model_dir, config=config, params=params,
                         warm_start_from=warm_start_from)
        self._use_tpu = use_tpu
        self._iterations_per_loop = count
        self._batch_sizes = {ModeKeys.TRAIN: train_batch_size, ModeKeys.EVAL: eval_batch_size,
                             ModeKeys.PREDICT: predict_batch_size}

    def _per_replica_batch_size(self, mode: str) -> int | None:
        size = self._batch_sizes.get(mode)
        return None if size is None else size  # one replica (see the module docstring)

    def _input_fn_params(self, mode: str) -> dict:
        params = self.params
        size = self._per_replica_batch_size(mode)
        if size is not None:
            params[_BATCH_SIZE_KEY] = size
        return params

    def _model_fn_params(self, params: dict, mode: str) -> dict:
        params = dict(params)
        size = self._per_replica_batch_size(mode)
        if size is not None:
            params[_BATCH_SIZE_KEY] = size
        params[_USE_TPU_KEY] = False
        return params

    def _params_required_by_input_fn(self) -> bool:
        return True

    def _steps_per_execution(self) -> int:
        return self._iterations_per_loop

    def _step_rate_settings(self) -> dict:
        """TPUEstimator's ExamplesPerSecondHook replaced Estimator's StepCounterHook: every
        ceil(log_step_count_steps / iterations_per_loop) steps (its loops' count, taken as steps:
        with use_tpu=False one loop was one step), global_step/sec and examples/sec (global
        batch size x steps/sec)."""
        log_steps = self._config.log_step_count_steps
        if not log_steps:
            return {"rate_every": None}
        return {"rate_every": int(math.ceil(log_steps / self._iterations_per_loop)),
                "examples_per_step": self._batch_sizes.get(ModeKeys.TRAIN)}


__all__ = ["InputPipelineConfig", "RunConfig", "TPUConfig", "TPUEstimator", "TPUEstimatorSpec",
           "experimental"]
