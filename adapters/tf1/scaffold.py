"""A spec's Scaffold, and what a MonitoredSession did with it when the session started.

TF1's session creation (SessionManager.prepare_session) restored the latest checkpoint or, when
there was none, ran `Scaffold.init_op` (with `init_feed_dict`) and then `init_fn(scaffold,
session)`; `local_init_op` (with `local_init_feed_dict`) ran in both cases. `Scaffold.saver`
wrote and restored the checkpoints. keras-spec has no session; a SpecModel is one long session
whose start is the trace of its step:

- At the end of the first model_fn call whose spec gives a part, while the step is still being
  traced, that part runs once (`TraceSession`): init_op, init_fn, then local_init_op. When the
  Estimator facade is about to restore a checkpoint (`restoring(model)`), init_op and init_fn
  are skipped, as in TF1. On every other trace the parts are called with a session that runs
  nothing, so the assignments they would run are kept out of the step (a traced step runs every
  stateful op; see trace_session).
- `Scaffold.saver` (a Saver built in the model_fn, made eager by tf1_saver) decides what the
  model's TF1-named checkpoints hold and how many are kept: `checkpoint_saver(world)`.
- `ready_op` / `ready_for_local_init_op` are not needed (variables are initialized when they
  are created) and are ignored.

State is kept per TF1World (one per SpecModel), weakly.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any, Iterator

import tensorflow as tf

from keras_spec import ModeKeys

from adapters.tf1 import saver as tf1_saver
from adapters.tf1.trace_session import TraceSession, TraceSessionError
from adapters.tf1.saver import SaverSettings


@dataclass
class _ModelState:
    done: set = field(default_factory=set)  # session-start parts whose moment has passed
    restoring: bool = False
    saver: SaverSettings | None = None  # Scaffold.saver of the latest spec that gave one
    default_saver: SaverSettings | None = None  # the facade's Saver (RunConfig settings)
    saver_hook_in_train_spec: bool = False
    spec_saver_listeners: list = field(default_factory=list)
    lock: Any = field(default_factory=threading.Lock)


_states: "weakref.WeakKeyDictionary[Any, _ModelState]" = weakref.WeakKeyDictionary()
_states_lock = threading.Lock()


def _state(world: Any) -> _ModelState:
    with _states_lock:
        state = _states.get(world)
        if state is None:
            state = _states[world] = _ModelState()
        return state


def world_of(model: Any) -> Any:
    """The TF1World of a SpecModel: the key of everything recorded here (and its checkpoints).

    SpecModel keeps it private; the facade and the hook bridge reach it through this function.
    """
    return model._world  # pylint: disable=protected-access


# ---------------------------------------------------------------------------------------------
# What the facade and the checkpoint writers ask
# ---------------------------------------------------------------------------------------------
def checkpoint_saver(world: Any) -> SaverSettings | None:
    """The Saver the model's checkpoints follow: the spec's Scaffold.saver, else the facade's."""
    state = _state(world)
    return state.saver or state.default_saver


def set_default_saver(model: Any, settings: SaverSettings) -> None:
    """The Saver used when no Scaffold gives one (Estimator's, from RunConfig)."""
    _state(world_of(model)).default_saver = settings


@contextlib.contextmanager
def restoring(model: Any, will_restore: bool = True) -> Iterator[None]:
    """Traces inside are followed by a checkpoint restore: init_op / init_fn are not run."""
    state = _state(world_of(model))
    previous, state.restoring = state.restoring, bool(will_restore)
    try:
        yield
    finally:
        state.restoring = previous


def train_spec_has_checkpoint_saver_hook(model: Any) -> bool:
    """Whether the last TRAIN spec traced had a CheckpointSaverHook (chief hooks on the chief)."""
    return _state(world_of(model)).saver_hook_in_train_spec


@contextlib.contextmanager
def listeners_for_spec_saver_hook(model: Any, listeners: list) -> Iterator[None]:
    """saving_listeners the facade gives to the spec's first CheckpointSaverHook (tf.estimator
    extended that hook's listeners) while the block runs."""
    state = _state(world_of(model))
    previous, state.spec_saver_listeners = state.spec_saver_listeners, list(listeners)
    try:
        yield
    finally:
        state.spec_saver_listeners = previous


def spec_saver_listeners(world: Any) -> list:
    return list(_state(world).spec_saver_listeners)


# ---------------------------------------------------------------------------------------------
# One model_fn call
# ---------------------------------------------------------------------------------------------
class _Call:
    """Collects a spec's Scaffold during a model_fn call; starts the session at its end."""

    def __init__(self, world: Any, mode: str):
        self._state = _state(world)
        self._mode = mode
        self._scaffold = None
        self._graph = None

    def take(self, spec: Any, is_chief: bool = True) -> None:
        """Record the spec's Scaffold saver and whether a TRAIN spec brings its own saver hook."""
        self._graph = tf.compat.v1.get_default_graph()
        scaffold = getattr(spec, "scaffold", None)
        self._scaffold = scaffold
        saver = getattr(scaffold, "saver", None) if scaffold is not None else None
        if saver is not None:
            if not isinstance(saver, tf.compat.v1.train.Saver):
                raise TypeError("Scaffold.saver must be a tf.compat.v1.train.Saver (built in the "
                                f"model_fn); got {type(saver).__name__}: {saver!r:.200}")
            self._state.saver = SaverSettings.of(saver)
        if self._mode == ModeKeys.TRAIN:
            hooks = list(spec.training_hooks) + (list(spec.training_chief_hooks) if is_chief else [])
            self._state.saver_hook_in_train_spec = any(
                isinstance(h, tf.compat.v1.train.CheckpointSaverHook) for h in hooks)

    def start(self) -> None:
        """Run (or keep out of the step) init_op, init_fn and local_init_op, in TF1's order."""
        scaffold = self._scaffold
        if scaffold is None or self._graph is None:
            return
        parts = [("init_op", scaffold.init_op, scaffold.init_feed_dict, True),
                 ("init_fn", scaffold.init_fn, None, True),
                 ("local_init_op", scaffold.local_init_op,
                  getattr(scaffold, "local_init_feed_dict", None), False)]
        _check_one_replica([name for name, part, _, _ in parts if part is not None])
        for name, part, feed_dict, skipped_on_restore in parts:
            if part is None:
                continue
            with self._state.lock:
                wet = name not in self._state.done and not (
                    skipped_on_restore and self._state.restoring)
                self._state.done.add(name)
            if name == "init_fn":
                self._call_init_fn(part, wet)
            else:
                TraceSession(self._graph, runs_nothing=not wet,
                             what=f"Scaffold.{name}").run(part, feed_dict)

    def _call_init_fn(self, init_fn: Any, wet: bool) -> None:
        session = TraceSession(self._graph, runs_nothing=not wet,
                               what="Scaffold.init_fn's session.run")
        if wet:
            with tf.init_scope():  # what init_fn does besides session.run happens once, eagerly
                init_fn(session)
            return
        # Called again only to learn what it would run: ops it builds land in the trace and
        # are kept out of the step like the ones it fetches.
        first_new = len(self._graph.get_operations())
        try:
            init_fn(session)
        except Exception as e:  # pylint: disable=broad-except
            e.add_note("(keras-spec called Scaffold.init_fn with a session that runs nothing, to "
                       "keep the assignments it runs out of a new trace of the step.)")
            raise
        created = self._graph.get_operations()[first_new:]
        if created:
            TraceSession(self._graph, runs_nothing=True,
                         what="Scaffold.init_fn (ops it created)").run(created)


def _check_one_replica(parts: list) -> None:
    """Init ops run on the values one replica's trace captured: not on every replica's copy."""
    if not parts or not tf.distribute.has_strategy():
        return
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
        raise NotImplementedError(
            f"Scaffold {parts} under a strategy with {replicas} replicas: keras-spec runs them "
            "from one replica's trace and cannot apply them to every replica's copy of the "
            "variables yet. Initialize before training instead: "
            "tf.compat.v1.train.init_from_checkpoint in the model_fn (or in scaffold_fn), "
            "Estimator(warm_start_from=...), or SpecModel.build_variables(...) followed by "
            "restore_checkpoint(path, allow_missing=True).")


@contextlib.contextmanager
def session_parts(world: Any, mode: str) -> Iterator[_Call]:
    """Around one model_fn call (inside the trace): Savers built there are eager, and the
    spec's Scaffold parts run (or are kept out of the step) when the call ends."""
    call = _Call(world, mode)
    with tf1_saver.built_eagerly():
        yield call
        call.start()


__all__ = ["SaverSettings", "TraceSessionError", "checkpoint_saver", "listeners_for_spec_saver_hook",
           "restoring", "session_parts", "set_default_saver", "spec_saver_listeners",
           "train_spec_has_checkpoint_saver_hook", "world_of"]
