"""How one configuration is measured (the clocks), kept apart from what is measured.

Definitions (the report and the JSON use them verbatim):
- time to first step: wall clock from constructing the model (model_fn wrapper or Keras layers),
  through compile(), to the end of the first `fit()` call that runs one execution
  (`steps_per_execution` steps): construction + tracing + first execution, as a user waits for it.
  Evaluate-only workloads use the first `evaluate()` call instead.
- training steps/s (steady state): one `fit(epochs=1 + E, steps_per_epoch=S)` call per repetition;
  the clock is read at every `on_epoch_end` (an epoch hook, so Keras keeps dispatching its
  per-batch callbacks asynchronously, as in a plain `fit`); the first epoch (iterator creation,
  fit's own setup) is the warm-up and only epochs 2..1+E count. Per-epoch work (reset_metrics,
  epoch logs) is included, amortized over S steps.
- fit call overhead: that fit() call's wall time minus its steps at the steady rate.
- evaluate / predict examples/s: one whole `evaluate()` / `predict()` call over a fixed number of
  batches (after a first, tracing call which is excluded), examples divided by wall time: per-call
  costs (iterator, metric reset, final metric values, output concatenation) included.
- RSS: the peak (`ru_maxrss`, or VmHWM on Linux, see peak_rss_mb) is a process-wide high-water
  mark and only grows, so it cannot attribute memory to one of many configurations sharing a
  process. We record (1) current RSS (/proc/self/statm) just before constructing a configuration
  and just after its first step, and their difference (noisy: garbage freed by gc.collect() in
  between can make it negative); (2) the process peak so far at that moment; (3) in full runs
  (benchmarks.isolated) each configuration's own peak RSS in a fresh process, and the RSS that
  importing TensorFlow/Keras/keras-spec alone costs there.
`gc.collect()` runs before every timed segment, so garbage left by one configuration is not
collected on another's clock.
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import keras

from benchmarks import models


def current_rss_mb() -> float | None:
    """Resident set size now (Linux /proc), in MiB; None where unavailable."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_mb() -> float:
    """Peak RSS of this process so far, in MiB.

    Linux: VmHWM from /proc/self/status, the high-water mark of this process's own address
    space. ru_maxrss is not used there because Linux carries it across fork+exec: a child
    started by a 1 GiB parent reports >= 1 GiB whatever it used itself (seen in the isolated
    runs). Elsewhere: ru_maxrss (KiB on Linux, bytes on macOS).
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


class EpochClock(keras.callbacks.Callback):
    """Reads the clock at each epoch end; defines no batch hook, so Keras's async batch-callback
    dispatch (its default for plain fit) stays on."""

    def __init__(self):
        super().__init__()
        self.ends: list[float] = []

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(time.perf_counter())


@dataclass(frozen=True)
class Config:
    """One measured configuration."""

    workload: str
    impl: str
    steps_per_execution: int
    jit_compile: bool

    @property
    def key(self) -> str:
        return (f"{self.workload}/{self.impl}/spe{self.steps_per_execution}/"
                f"{'jit' if self.jit_compile else 'nojit'}")


def summarize(values: list[float]) -> dict:
    """Median (what the table shows), min, max and every repetition."""
    if not values:
        return {"median": None, "min": None, "max": None, "reps": []}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "reps": list(values)}


@dataclass
class Runner:
    """Holds one configuration's model and its measurements across interleaved repetitions."""

    config: Config
    workload: models.Workload
    data: models.Data
    train_epochs: int  # E timed epochs after the warm-up epoch
    model: Any = None
    ttfs: list[float] = field(default_factory=list)
    first_eval_s: list[float] = field(default_factory=list)
    first_predict_s: list[float] = field(default_factory=list)
    steps_per_s: list[float] = field(default_factory=list)
    fit_overhead_s: list[float] = field(default_factory=list)
    eval_per_s: list[float] = field(default_factory=list)
    predict_per_s: list[float] = field(default_factory=list)
    memory: dict = field(default_factory=dict)
    final_loss: float | None = None

    def _fit_kwargs(self) -> dict:
        # Plain Keras would warn that shuffle=True is ignored for a Dataset; SpecModel sets False.
        return dict(verbose=0, shuffle=False)

    def first_step(self) -> None:
        """Construct a fresh model and run its first execution (time to first step)."""
        self.model = None
        gc.collect()
        rss_before = current_rss_mb()
        cfg, w = self.config, self.workload
        start = time.perf_counter()
        model = models.build(w, cfg.impl, cfg.steps_per_execution, cfg.jit_compile)
        if w.train:
            model.fit(self.data.train, epochs=1, steps_per_epoch=max(1, cfg.steps_per_execution),
                      **self._fit_kwargs())
        else:
            model.evaluate(self.data.eval, verbose=0)
        self.ttfs.append(time.perf_counter() - start)
        rss_after = current_rss_mb()
        if not self.memory:  # the first construction of this configuration in the process
            self.memory = {
                "rss_before_mb": rss_before, "rss_after_first_step_mb": rss_after,
                "rss_delta_mb": (rss_after - rss_before
                                 if rss_before is not None and rss_after is not None else None),
                "process_peak_rss_mb": peak_rss_mb()}
        self.model = model
        # First evaluate()/predict() trace their steps: timed, reported apart, excluded below.
        gc.collect()
        start = time.perf_counter()
        self.model.evaluate(self.data.eval, verbose=0)
        self.first_eval_s.append(time.perf_counter() - start)
        start = time.perf_counter()
        self.model.predict(self.data.predict, verbose=0)
        self.first_predict_s.append(time.perf_counter() - start)

    def train_rep(self) -> None:
        if not self.workload.train:
            return
        steps = self.workload.steps_per_epoch
        clock = EpochClock()
        gc.collect()
        start = time.perf_counter()
        history = self.model.fit(self.data.train, epochs=1 + self.train_epochs,
                                 steps_per_epoch=steps, callbacks=[clock], **self._fit_kwargs())
        wall = time.perf_counter() - start
        rate = steps * self.train_epochs / (clock.ends[-1] - clock.ends[0])
        self.steps_per_s.append(rate)
        self.fit_overhead_s.append(max(0.0, wall - steps * (1 + self.train_epochs) / rate))
        self.final_loss = float(history.history["loss"][-1])

    def eval_rep(self) -> None:
        gc.collect()
        start = time.perf_counter()
        self.model.evaluate(self.data.eval, verbose=0)
        self.eval_per_s.append(self.data.eval_examples / (time.perf_counter() - start))

    def predict_rep(self) -> None:
        gc.collect()
        start = time.perf_counter()
        self.model.predict(self.data.predict, verbose=0)
        self.predict_per_s.append(self.data.eval_examples / (time.perf_counter() - start))

    def result(self) -> dict:
        cfg, w = self.config, self.workload
        return {
            "key": cfg.key, "workload": cfg.workload, "impl": cfg.impl,
            "label": models.LABELS.get(cfg.impl, cfg.impl),
            "steps_per_execution": cfg.steps_per_execution, "jit_compile": cfg.jit_compile,
            "batch_size": w.batch_size,
            "train_steps_per_s": summarize(self.steps_per_s) if w.train else None,
            "train_examples_per_s": (summarize([r * w.batch_size for r in self.steps_per_s])
                                     if w.train else None),
            "fit_call_overhead_s": summarize(self.fit_overhead_s) if w.train else None,
            "time_to_first_step_s": summarize(self.ttfs),
            "time_to_first_evaluate_s": summarize(self.first_eval_s),
            "time_to_first_predict_s": summarize(self.first_predict_s),
            "eval_examples_per_s": summarize(self.eval_per_s),
            "predict_examples_per_s": summarize(self.predict_per_s),
            "memory": dict(self.memory),
            "final_train_loss": self.final_loss,
        }
