"""The `evaluator` task of train_and_evaluate: evaluate each new checkpoint the chief writes.

tf.estimator's continuous evaluation: sleep `start_delay_secs`; then, every iteration, take the
latest checkpoint in model_dir, skip it when there is none or it was already evaluated, else
evaluate it (`EvalSpec.steps`, `name`, `hooks`), write the eval summaries under
`model_dir/eval_<name>` and run the exporters (`is_the_final_export` once the step reaches
`max_steps`); each iteration lasts at least `throttle_secs`, counted from its start. The loop
ends after evaluating a checkpoint whose global step is >= `max_steps` (never, without one).
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

_log = logging.getLogger("keras_spec")

_IDLE_POLL_SECS = 0.5  # between looks at model_dir when throttle_secs is 0 and nothing is new


def evaluate_and_export(estimator: Any, eval_spec: Any, checkpoint: str,
                        max_steps: int | None) -> tuple[dict, list]:
    """Evaluate `checkpoint`, then run every exporter of `eval_spec` on it."""
    metrics = estimator.evaluate(eval_spec.input_fn, steps=eval_spec.steps, name=eval_spec.name,
                                 checkpoint_path=checkpoint, hooks=list(eval_spec.hooks))
    if not isinstance(metrics, dict) or "global_step" not in metrics:
        raise ValueError(f"Estimator.evaluate should return a dict with `global_step`; got "
                         f"{metrics!r}")
    final = bool(max_steps) and metrics["global_step"] >= max_steps
    base = os.path.join(estimator.model_dir, "export")
    exports = [exporter.export(estimator=estimator, export_path=os.path.join(base, exporter.name),
                               checkpoint_path=checkpoint, eval_result=metrics,
                               is_the_final_export=final)
               for exporter in eval_spec.exporters]
    return metrics, exports


def run_evaluator(estimator: Any, eval_spec: Any, max_steps: int | None) -> None:
    """Evaluate new checkpoints until one reaches `max_steps` (tf.estimator's evaluator task)."""
    if eval_spec.start_delay_secs:
        _log.info("Waiting %d secs before starting eval.", eval_spec.start_delay_secs)
        time.sleep(eval_spec.start_delay_secs)
    evaluated: str | None = None
    while True:
        start = time.time()
        checkpoint = estimator.latest_checkpoint()
        new = checkpoint is not None and checkpoint != evaluated
        if checkpoint is None:
            _log.info("Estimator is not trained yet. Will start an evaluation when a checkpoint "
                      "is ready.")
        elif checkpoint == evaluated:
            _log.info("No new checkpoint ready for evaluation. Skip the current evaluation pass "
                      "as evaluation results are expected to be same for the same checkpoint.")
        else:
            metrics, _ = evaluate_and_export(estimator, eval_spec, checkpoint, max_steps)
            evaluated = checkpoint
            step = int(metrics["global_step"])
            if max_steps and step >= max_steps:
                _log.info("Exiting evaluation, global_step=%s >= train max_steps=%s", step,
                          max_steps)
                return
        wait = eval_spec.throttle_secs - (time.time() - start)
        if not new:
            wait = max(wait, _IDLE_POLL_SECS)
        if wait > 0:
            _log.info("Waiting %f secs before starting next eval run.", wait)
            time.sleep(wait)
