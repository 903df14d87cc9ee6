"""`Estimator`: tf.estimator's methods on top of SpecModel, for scripts that call them.

Scripts written for tf.estimator call `train(input_fn, steps=...)`, `evaluate`, `predict`,
`export_saved_model` and expect a model_dir that carries everything between calls: every call
(as in tf.estimator, where each built a fresh graph) first loads the latest checkpoint (or the
one given), so what one call trained is what the next sees, a run killed mid-way resumes from
its last complete checkpoint, and a model_dir written by tf.estimator itself restores (the
checkpoints are keyed by TF1 variable names). One SpecModel per Estimator holds the variables;
its traced steps are reused across calls.

What tf.estimator added around the model_fn is kept: the `loss` summary and a logged
loss/steps-per-second in model_dir, a NaN check, evaluation results as summaries under
`model_dir/eval[_name]`, `global_step` in the results, and its errors and log lines.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
import math
import os
import random
import tempfile
from typing import Any, Callable, Iterator

import numpy as np
import tensorflow as tf

from keras_spec import ModeKeys

from adapters.estimator import cluster
from adapters.estimator.eager import iterate_eagerly, run_eagerly
from adapters.estimator import event_files
from adapters.estimator import ps_training
from adapters.estimator import input_fn as input_fns
from adapters.estimator import warm_start as warm_starting
from adapters.tf1 import checkpoint_state
from adapters.tf1 import model_dir as model_dir_lib
from adapters.tf1 import scaffold as scaffold_lib
from adapters.engine.model_fn_binding import BoundModelFn, model_fn_arg_names
from keras_spec.run_config import RunConfig
from adapters.engine.spec_model import SpecModel
from adapters.tf1.saver import SaverSettings
from adapters.estimator.train_loop import TrainLoop, checkpoint_plan, plan_hook_steps

_log = logging.getLogger("keras_spec")


def _config_with_model_dir(config: Any, model_dir: Any) -> RunConfig:
    """tf.estimator's maybe_overwrite_model_dir_and_session_config."""
    if config is None:
        config = RunConfig()
        _log.info("Using default config.")
    if not isinstance(config, RunConfig):
        raise ValueError(f"config must be an instance of `RunConfig`, but provided {config}.")
    model_dir = os.fspath(model_dir) if model_dir is not None else None
    if model_dir is not None and config.model_dir is not None and config.model_dir != model_dir:
        raise ValueError("`model_dir` are set both in constructor and `RunConfig`, but with "
                         f"different values. In constructor: '{model_dir}', in `RunConfig`: "
                         f"'{config.model_dir}' ")
    if model_dir:
        config = config.replace(model_dir=model_dir)
    elif config.model_dir is None:
        model_dir = tempfile.mkdtemp()
        _log.warning("Using temporary folder as model directory: %s", model_dir)
        config = config.replace(model_dir=model_dir)
    return config


@contextlib.contextmanager
def _random_seed(seed: int | None) -> Iterator[None]:
    """`RunConfig.tf_random_seed` for one call, as tf.estimator seeded each graph it built.

    TensorFlow's global seed, Python's `random` (Keras draws its default seeds from it) and
    NumPy's are seeded on entry and put back on exit, so the seed does not leak into the
    rest of the process.
    """
    if seed is None:
        yield
        return
    tf_seed = tf.compat.v1.get_seed(None)[0]
    python_state, numpy_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        tf.random.set_seed(tf_seed)


def check_hooks(hooks: Any) -> list:
    """Hooks as a list; each must be a SessionRunHook (tf.estimator's rule)."""
    hooks = list(hooks or [])
    for hook in hooks:
        if not isinstance(hook, tf.compat.v1.train.SessionRunHook):
            raise TypeError(f"All hooks must be `SessionRunHook` instances, given: {hook}")
    return hooks


def check_listeners(listeners: Any) -> list:
    """Saving listeners as a list; each must be a CheckpointSaverListener."""
    listeners = list(listeners or [])
    for listener in listeners:
        if not isinstance(listener, tf.compat.v1.train.CheckpointSaverListener):
            raise TypeError("All saving_listeners must be `CheckpointSaverListener` "
                            f"instances, given: {listener}")
    return listeners


def _hooks_kwargs(method: Callable, hooks: list) -> dict:
    """`hooks=` for SpecModel.fit/evaluate/predict, passed only when there are hooks."""
    if not hooks:
        return {}
    if "hooks" not in inspect.signature(method).parameters:
        raise NotImplementedError(
            f"SessionRunHooks ({[type(h).__name__ for h in hooks]}) need SpecModel."
            f"{method.__name__}(hooks=...), which this version of keras-spec does not have.")
    return {"hooks": hooks}


def _global_step_in(model_dir: str) -> int:
    """The global step of the latest checkpoint in model_dir, 0 without one (a damaged latest
    checkpoint raises: training must not restart from step 0 over intact checkpoints)."""
    latest = checkpoint_state.latest(model_dir, "train")
    if latest is None:
        return 0
    try:
        return int(tf.train.load_variable(latest, "global_step"))
    except (tf.errors.NotFoundError, ValueError):
        return 0


def _numpy_result(value: Any) -> Any:
    array = np.asarray(value)
    return array.astype(np.float32)[()] if array.dtype == np.float64 else array[()]


def _receiver_features_spec(serving_input_receiver_fn: Callable) -> Any:
    """TypeSpecs of the features a receiver_fn makes (it builds placeholders: in a graph)."""
    with tf.Graph().as_default():
        receiver = serving_input_receiver_fn()
        features = getattr(receiver, "features", None)
        if features is None:
            raise TypeError("serving_input_receiver_fn must return a ServingInputReceiver; got "
                            f"{type(receiver).__name__}")
        return tf.nest.map_structure(tf.type_spec_from_value, features)


def _checkpointed_variables(model: SpecModel) -> dict[str, tf.Variable]:
    """TF1 name -> variable for what a checkpoint holds (global, not metric state)."""
    return model.checkpoint_variables()


def _extract_keys(predictions: Any, predict_keys: Any) -> Any:
    """tf.estimator's predict_keys filter, plus a warning naming keys it did not know."""
    if not predict_keys:
        return predictions
    if isinstance(predict_keys, str):
        predict_keys = [predict_keys]
    if not isinstance(predictions, dict):
        raise ValueError("predict_keys argument is not valid in case of non-dict predictions.")
    selected = {key: value for key, value in predictions.items() if key in predict_keys}
    if not selected:
        raise ValueError(f"Expected to run at least one output from {sorted(predictions)}, "
                         f"provided {list(predict_keys)}.")
    unknown = [key for key in predict_keys if key not in predictions]
    if unknown:
        _log.warning("predict_keys %s are not among the predictions %s; ignored.", unknown,
                     sorted(predictions))
    return selected


def _batch_length(predictions: dict) -> int:
    length = None
    for key, value in predictions.items():
        length = length or value.shape[0]
        if value.shape[0] != length:
            raise ValueError("Batch length of predictions should be same. %s has different batch "
                             "length than others." % key)
    return length or 0


def _no_scope() -> Any:
    return contextlib.nullcontext()


class Estimator:
    """tf.estimator.Estimator's API for a model_fn, run by a Keras SpecModel.

    `model_fn(features, labels, mode, params, config)` returns an EstimatorSpec (or a
    TPUEstimatorSpec / ModelFnOps). Checkpoints, summaries and exports go to `model_dir`
    (a temporary directory when neither `model_dir` nor `config.model_dir` is given).
    `warm_start_from` is a checkpoint or SavedModel path, or `WarmStartSettings`.
    """

    def __init__(self, model_fn: Callable, model_dir: str | None = None,
                 config: RunConfig | None = None, params: dict | None = None,
                 warm_start_from: Any = None):
        self._config = _config_with_model_dir(config, model_dir)
        self._model_dir = self._config.model_dir
        _log.info("Using config: %s", self._config)
        if model_fn is None:
            raise ValueError("model_fn must be provided to Estimator.")
        self._binding = BoundModelFn(model_fn, params, self._config)  # tf.estimator's checks
        self._model_fn = model_fn
        self._params = dict(params or {})
        self._warm_start_settings = warm_starting.settings_from(warm_start_from)
        train_strategy = self._config.train_distribute
        eval_strategy = self._config.eval_distribute
        if eval_strategy is not None and train_strategy is not None and (
                eval_strategy is not train_strategy):
            raise NotImplementedError(
                "RunConfig(eval_distribute=...) differs from train_distribute: keras-spec runs "
                "train, evaluate and predict on one model under one strategy. Pass the same "
                "strategy to both, or only train_distribute (metrics are computed across all "
                "replicas, so they equal a single-device evaluation).")
        self._strategy = train_strategy or eval_strategy
        if self._config.task_type == "evaluator":
            # tf.estimator's evaluator task built no strategy: it is not part of the training
            # cluster and evaluates checkpoints on its own.
            self._strategy = None
        self._model: SpecModel | None = None
        self._last_loss: tf.Variable | None = None
        self._summary_first: tf.Variable | None = None
        self._train_writer: Any = None

    # -- properties ---------------------------------------------------------------------------
    @property
    def model_dir(self) -> str:
        return self._model_dir

    @property
    def config(self) -> RunConfig:
        """A copy, as tf.estimator gave; the strategies in it are shared, not copied
        (MultiWorkerMirroredStrategy refuses a deep copy in eager mode)."""
        memo = {id(s): s for s in (self._config.train_distribute,
                                   self._config.eval_distribute) if s is not None}
        return copy.deepcopy(self._config, memo)

    @property
    def params(self) -> dict:
        return self._binding.params_for(None)

    @property
    def model_fn(self) -> Callable:
        """The model_fn bound to `params`: `model_fn(features, labels, mode, config)`."""
        def public_model_fn(features, labels, mode, config):
            return self._call_model_fn(features, labels, mode, self.params, config)
        return public_model_fn

    # -- what subclasses (TPUEstimator) adjust --------------------------------------------------
    def _input_fn_params(self, mode: str) -> dict:
        return self.params

    def _model_fn_params(self, params: dict, mode: str) -> dict:
        return params

    def _steps_per_execution(self) -> int:
        return 1

    def _train_steps_per_execution(self, model: SpecModel, hooks: list) -> int:
        """Steps per Keras execution in train().

        tf.estimator made one session.run per step. Nothing but SessionRunHooks needs Python
        between steps, so train() runs the steps in executions aligned with the cadences it acts
        on (summaries, loss logging, checkpoint steps; at most 100): summaries are still
        recorded at their exact global steps, and logs and checkpoints land on the same steps as
        before. SessionRunHooks still see every step: inside an execution the engine calls them
        at each step they act on (train_loop.plan_hook_steps).
        """
        configured = self._steps_per_execution()
        if configured != 1:
            return configured  # TPUEstimator: iterations_per_loop
        return plan_hook_steps(model, self._config, hooks)

    def _params_required_by_input_fn(self) -> bool:
        return False

    def _step_rate_settings(self) -> dict:
        """How TrainLoop writes global_step/sec (TPUEstimator adds examples/sec)."""
        return {}

    # -- checkpoints and variables --------------------------------------------------------------
    def latest_checkpoint(self) -> str | None:
        """The newest checkpoint prefix in model_dir, or None."""
        return tf.train.latest_checkpoint(self._model_dir)

    def _check_checkpoint_available(self) -> str:
        """The latest checkpoint's prefix (a damaged one raises, naming the newest intact)."""
        latest = checkpoint_state.latest(self._model_dir, "restore")
        if not latest:
            raise ValueError(f"Could not find trained model in model_dir: {self._model_dir}.")
        return latest

    @run_eagerly
    def get_variable_names(self) -> list[str]:
        """TF1 names of the variables in the latest checkpoint."""
        return [name for name, _ in tf.train.list_variables(self._check_checkpoint_available())]

    @run_eagerly
    def get_variable_value(self, name: str) -> np.ndarray:
        """The value of variable `name` in the latest checkpoint."""
        return tf.train.load_variable(self._check_checkpoint_available(), name)

    def eval_dir(self, name: str | None = None) -> str:
        """Where evaluate(name=name) writes its summaries."""
        return os.path.join(self._model_dir, "eval" if not name else "eval_" + name)

    # -- the model ------------------------------------------------------------------------------
    def _call_model_fn(self, features: Any, labels: Any, mode: str, params: dict,
                       config: Any) -> Any:
        """The user's model_fn with the arguments it names (tf.estimator's _call_model_fn)."""
        names = set(model_fn_arg_names(self._model_fn))
        kwargs: dict[str, Any] = {}
        if "labels" in names:
            kwargs["labels"] = labels
        elif labels is not None:
            raise ValueError("model_fn does not take labels, but input_fn returns labels.")
        if "mode" in names:
            kwargs["mode"] = mode
        if "params" in names:
            kwargs["params"] = params
        if "config" in names:
            kwargs["config"] = config
        return self._model_fn(features=features, **kwargs)

    def _engine_model_fn(self) -> Callable:
        """The model_fn the SpecModel runs: the user's, plus tf.estimator's `loss` summary.

        The TRAIN loss is also kept in a variable outside the model for the loss log line
        (Keras's own `loss` is a running mean).
        """
        last_loss = self._last_loss

        def model_fn(features, labels, mode, params, config):
            spec = self._call_model_fn(features, labels, mode,
                                       self._model_fn_params(params, mode), config)
            loss = getattr(spec, "loss", None)
            if mode == ModeKeys.TRAIN and loss is not None:
                loss = tf.convert_to_tensor(loss)
                if loss.shape.num_elements() == 1:
                    loss = tf.reshape(tf.cast(loss, tf.float32), [])
                    tf.compat.v1.summary.scalar("loss", loss)
                    last_loss.assign(loss)
            return spec

        return model_fn

    def _spec_model(self) -> SpecModel:
        if self._model is None:
            # Under parameter-server training the step runs on a remote worker: the variables it
            # writes must live on a ps (made under the strategy's scope).
            with (self._strategy.scope() if cluster.is_parameter_server_strategy(self._strategy)
                  else _no_scope()):
                self._last_loss = tf.Variable(float("nan"), trainable=False, dtype=tf.float32,
                                              name="keras_spec_last_loss")
                self._summary_first = tf.Variable(1, trainable=False, dtype=tf.int64,
                                                  name="keras_spec_first_summary_step")
            scope = self._strategy.scope() if self._strategy is not None else _no_scope()
            with scope:  # the strategy the model's steps run under
                self._model = SpecModel(self._engine_model_fn(), params=self._params,
                                        config=self._config)
            self._model.compile(steps_per_execution=self._steps_per_execution())
            # Estimator's default Saver (used when the spec's Scaffold has none).
            scaffold_lib.set_default_saver(self._model, SaverSettings(
                max_to_keep=self._config.keep_checkpoint_max,
                keep_checkpoint_every_n_hours=self._config.keep_checkpoint_every_n_hours))
        return self._model

    def _input(self, input_fn: Callable, mode: str,
               input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
        if input_context is None and mode == ModeKeys.TRAIN:
            input_context = input_fns.worker_input_context(self._strategy)
        result = input_fns.call_input_fn(input_fn, mode, self._input_fn_params(mode), self.config,
                                         params_required=self._params_required_by_input_fn(),
                                         input_context=input_context)
        return input_fns.to_dataset(result, mode)

    def _load(self, model: SpecModel, checkpoint_path: str | None) -> None:
        """Variables from `checkpoint_path`, or warm-started / initial ones without one."""
        if checkpoint_path:
            model.restore_checkpoint(checkpoint_path)
        elif self._warm_start_settings is not None:
            _log.info("Warm-starting with WarmStartSettings: %s", self._warm_start_settings)
            warm_starting.warm_start(_checkpointed_variables(model), self._warm_start_settings)

    def _prepare(self, input_fn: Callable, mode: str,
                 checkpoint_path: str | None) -> tuple[SpecModel, tf.data.Dataset]:
        """The model with `mode`'s variables loaded, and input_fn's data (labels dropped in
        PREDICT), as tf.estimator built a graph, called input_fn and restored per call."""
        model = self._spec_model()
        dataset = self._input(input_fn, mode)
        if mode == ModeKeys.PREDICT:
            dataset = input_fns.features_only(dataset)
        with scaffold_lib.restoring(model, bool(checkpoint_path)):  # Scaffold init ops: skipped
            model.build_variables(dataset, mode)
        self._load(model, checkpoint_path)
        return model, dataset

    def _checkpoint_or_initialization(self, checkpoint_path: str | None, action: str) -> str | None:
        if not checkpoint_path:
            # A damaged latest checkpoint: the newest intact one, with a WARNING (or an error
            # when none is intact); never initial weights while checkpoints exist.
            checkpoint_path = checkpoint_state.latest(self._model_dir, action)
            if not checkpoint_path:
                _log.info("Could not find trained model in model_dir: %s, running initialization "
                          "to %s.", self._model_dir, action)
        return checkpoint_path

    # -- train ----------------------------------------------------------------------------------
    @run_eagerly
    def train(self, input_fn: Callable, hooks: list | None = None, steps: int | None = None,
              max_steps: int | None = None, saving_listeners: list | None = None) -> "Estimator":
        """Train from the latest checkpoint: `steps` more steps, or up to global step `max_steps`.

        Without either, trains until input_fn's data ends. Checkpoints per RunConfig and at the
        end, unless a CheckpointSaverHook in `hooks` or the spec's training hooks replaces that
        (it then gets `saving_listeners`); returns self.
        """
        if self._config.task_type in ("evaluator", "ps"):
            raise ValueError("Train has been called wrong configuration. Please use "
                             "train_and_evaluate which calls proper API according to given "
                             f"configuration. Current configuration: {self._config}.")
        if steps is not None and max_steps is not None:
            raise ValueError("Can not provide both steps and max_steps.")
        if steps is not None and steps <= 0:
            raise ValueError(f"Must specify steps > 0, given: {steps}")
        if max_steps is not None and max_steps <= 0:
            raise ValueError(f"Must specify max_steps > 0, given: {max_steps}")
        model_dir_lib.check_directory(self._model_dir)
        # The chief writes checkpoints: it holds model_dir's writer lock for the whole run (a
        # second writer gets a clear error) and first removes what a killed run left there.
        lock = (model_dir_lib.writer_lock(self._model_dir) if self._config.is_chief
                else contextlib.nullcontext())
        with lock:
            try:
                return self._train(input_fn, hooks, steps, max_steps, saving_listeners)
            except tf.errors.OpError as e:  # e.g. the summary writer on a full disk
                reason = model_dir_lib.describe_os_error(e)
                if "disk is full" not in reason and "read-only" not in reason:
                    raise
                raise model_dir_lib.ModelDirError(
                    f"Training stopped: writing into model_dir '{self._model_dir}' failed: "
                    f"{reason}. The checkpoints written before are intact.") from None

    def _train(self, input_fn: Callable, hooks: list | None, steps: int | None,
               max_steps: int | None, saving_listeners: list | None) -> "Estimator":
        if max_steps is not None and max_steps <= _global_step_in(self._model_dir):
            _log.info("Skipping training since max_steps has already saved.")
            return self
        hooks = check_hooks(hooks)
        listeners = check_listeners(saving_listeners)
        config = self._config
        if cluster.is_parameter_server_strategy(self._strategy):
            if max_steps is None:
                if steps is None:
                    raise ValueError("Parameter-server training needs a step count: pass "
                                     "max_steps (TrainSpec(max_steps=...)) or steps.")
                max_steps = _global_step_in(self._model_dir) + steps
            with _random_seed(config.tf_random_seed):
                ps_training.train(self, input_fn, max_steps, hooks, listeners)
            return self
        with _random_seed(config.tf_random_seed):
            latest = checkpoint_state.latest(self._model_dir, "train")
            model, dataset = self._prepare(input_fn, ModeKeys.TRAIN, latest)
            plan = checkpoint_plan(model, config, hooks, listeners)  # after the spec is known
            steps_per_execution = self._train_steps_per_execution(model, hooks)
            if model.steps_per_execution != steps_per_execution:
                model.steps_per_execution, model.train_function = steps_per_execution, None
            start = int(model.global_step.numpy())
            to_run = steps if steps is not None else (max_steps - start if max_steps else None)
            if to_run is not None:
                if to_run <= 0:
                    _log.info("Skipping training since max_steps has already saved.")
                    return self
                dataset = dataset.take(to_run)  # exact, whatever steps_per_execution is
            if input_fns.is_multi_worker(self._strategy):
                per_worker = dataset  # already made with this worker's input_context
                dataset = input_fns.per_worker_input(self._strategy, lambda _: per_worker)
            if self._train_writer is None:  # only the chief writes summaries, as tf.estimator
                self._train_writer = (event_files.writer_for(self._model_dir) if config.is_chief
                                      else tf.summary.create_noop_writer())
            loop = TrainLoop(
                start_step=start, config=config, listeners=plan.loop_listeners,
                writer=self._train_writer, saves_checkpoints=plan.default_saving,
                # One writer: only the chief checkpoints (tf.estimator's non-chief workers had
                # no CheckpointSaverHook); every worker still runs the collective steps.
                save=(lambda: model.save_checkpoint(self._model_dir, config.keep_checkpoint_max))
                if config.is_chief else (lambda: None),
                global_step=lambda: int(model.global_step.numpy()),
                last_loss=lambda: float(self._last_loss.numpy()),
                latest_saved_step=start if latest else None, total_steps=to_run,
                **self._step_rate_settings())
            if loop.begin():
                loop.on_train_end()
                return self
            # model_fn summaries (and the loss) are written at the first step of this train()
            # and then every save_summary_steps steps (SummarySaverHook: start+1, start+1+N..).
            every, gs = config.save_summary_steps, model.global_step
            self._summary_first.assign(start + 1)
            first = self._summary_first
            record = (lambda: tf.equal(tf.math.floormod(gs.value - first, every), 0)) if (
                every and config.is_chief) else False
            with self._train_writer.as_default(), tf.summary.record_if(record), plan.context:
                model.fit(dataset, epochs=1, verbose=0, callbacks=[loop],
                          **_hooks_kwargs(SpecModel.fit, hooks))
            self._train_writer.flush()
        _log.info("Loss for final step: %s.", loop.final_loss)
        return self

    # -- evaluate -------------------------------------------------------------------------------
    @run_eagerly
    def evaluate(self, input_fn: Callable, steps: int | None = None, hooks: list | None = None,
                 checkpoint_path: str | None = None, name: str | None = None) -> dict:
        """Metrics of the latest (or given) checkpoint on `steps` batches (or all of input_fn).

        Returns `loss`, every eval_metric_ops key and `global_step` (numpy values), and writes
        them as summaries under `eval_dir(name)` at that global step.
        """
        hooks = check_hooks(hooks)
        if steps is not None and steps <= 0:
            raise ValueError(f"Must specify steps > 0, given: {steps}")
        model_dir_lib.check_directory(self._model_dir)  # a file there fails clearly, up front
        checkpoint_path = self._checkpoint_or_initialization(checkpoint_path, "evaluate")
        with _random_seed(self._config.tf_random_seed):
            model, dataset = self._prepare(input_fn, ModeKeys.EVAL, checkpoint_path)
            runner = model._hook_runners.get(ModeKeys.EVAL)  # pylint: disable=protected-access
            configured = self._steps_per_execution()
            if (hooks or (runner is not None and runner.hooks)) and (
                    model.steps_per_execution != configured):
                # train() ran longer executions; evaluation hooks see every step, as before
                model.steps_per_execution, model.test_function = configured, None
            if steps is not None:
                dataset = dataset.take(steps)
            with tf.summary.record_if(False):  # model_fn summaries were not written in evaluation
                logs = model.evaluate(dataset, return_dict=True, verbose=0,
                                      **_hooks_kwargs(SpecModel.evaluate, hooks))
        if "global_step" in logs:
            raise ValueError("Metric with name `global_step` is not allowed, because Estimator "
                             "already defines a default metric with the same name.")
        results = {key: _numpy_result(value) for key, value in logs.items()}
        results["global_step"] = np.int64(model.global_step.numpy())
        step = int(results["global_step"])
        _log.info("Saving dict for global step %d: %s", step, ", ".join(
            f"{k} = {v}" for k, v in sorted(results.items())))
        writer = event_files.writer_for(self.eval_dir(name))
        event_files.write(writer, {k: v for k, v in results.items() if k != "global_step"}, step)
        if checkpoint_path:
            event_files.write(writer, {"checkpoint_path": checkpoint_path}, step)
        return results

    # -- predict --------------------------------------------------------------------------------
    @iterate_eagerly
    def predict(self, input_fn: Callable, predict_keys: Any = None, hooks: list | None = None,
                checkpoint_path: str | None = None,
                yield_single_examples: bool = True) -> Iterator[Any]:
        """Yield predictions of the latest (or given) checkpoint, one example at a time.

        A generator, as in tf.estimator: nothing runs until it is iterated. With
        `yield_single_examples=False` whole batches are yielded. `predict_keys` selects keys of
        dict predictions. Batches are predicted one at a time as they are consumed; with
        `hooks`, SpecModel.predict runs them all first (and yields them as one batch).
        """
        hooks = check_hooks(hooks)
        checkpoint_path = self._checkpoint_or_initialization(checkpoint_path, "predict")
        with _random_seed(self._config.tf_random_seed):
            model, dataset = self._prepare(input_fn, ModeKeys.PREDICT, checkpoint_path)
            if hooks:
                batches = iter([model.predict(dataset, verbose=0,
                                              **_hooks_kwargs(SpecModel.predict, hooks))])
        if not hooks:
            batches = (model.predict_on_batch(features) for features in dataset)
        for batch in batches:
            batch = _extract_keys(batch, predict_keys)
            if not yield_single_examples:
                yield batch
            elif not isinstance(batch, dict):
                yield from batch
            else:
                for i in range(_batch_length(batch)):
                    yield {key: value[i] for key, value in batch.items()}

    # -- export ---------------------------------------------------------------------------------
    @run_eagerly
    def export_saved_model(self, export_dir_base: str, serving_input_receiver_fn: Callable,
                           assets_extra: dict | None = None, as_text: bool = False,
                           checkpoint_path: str | None = None,
                           experimental_mode: str = ModeKeys.PREDICT) -> bytes:
        """SavedModel of the latest (or given) checkpoint under a new timestamped directory.

        Returns the directory as bytes, as tf.estimator did (scripts call `.decode()` on it).
        """
        if not serving_input_receiver_fn:
            raise ValueError("An input_receiver_fn must be defined.")
        if not checkpoint_path:
            checkpoint_path = checkpoint_state.latest(self._model_dir, "export")
        if not checkpoint_path:
            if self._warm_start_settings is None:
                raise ValueError(f"Couldn't find trained model at {self._model_dir}.")
            checkpoint_path = warm_starting.checkpoint_prefix(
                self._warm_start_settings.ckpt_to_initialize_from)
        with _random_seed(self._config.tf_random_seed):
            model = self._spec_model()
            with scaffold_lib.restoring(model):
                model.build_variables(_receiver_features_spec(serving_input_receiver_fn),
                                      ModeKeys.PREDICT)
            try:
                model.restore_checkpoint(checkpoint_path)
            except ValueError as e:
                raise ValueError(
                    "Could not load all requested variables from checkpoint. Please make sure your "
                    "model_fn does not expect variables that were not saved in the checkpoint.\n\n"
                    f"Encountered error with mode `{experimental_mode}` while restoring checkpoint "
                    f"from: `{checkpoint_path}`: {e}") from e
            with tf.summary.record_if(False):
                path = model.export_saved_model(export_dir_base, serving_input_receiver_fn,
                                                assets_extra=assets_extra, as_text=as_text,
                                                experimental_mode=experimental_mode)
        return os.fsencode(path)

    @run_eagerly
    def export_savedmodel(self, export_dir_base: str, serving_input_receiver_fn: Callable,
                          assets_extra: dict | None = None, as_text: bool = False,
                          checkpoint_path: str | None = None,
                          strip_default_attrs: bool = False) -> bytes:
        """TF 1.x's name for `export_saved_model` (PREDICT only); returns the directory as bytes.

        `strip_default_attrs` is accepted and has no effect: TF 2.21 writes the SavedModel with
        `tf.saved_model.save`, whose graphs any TF 2.x loader reads either way.
        """
        del strip_default_attrs
        return self.export_saved_model(export_dir_base, serving_input_receiver_fn,
                                       assets_extra=assets_extra, as_text=as_text,
                                       checkpoint_path=checkpoint_path)
