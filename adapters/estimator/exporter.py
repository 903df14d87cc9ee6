"""Exporters for `EvalSpec(exporters=...)`: tf.estimator's Final, Latest and BestExporter.

`train_and_evaluate` calls `exporter.export(estimator, export_path, checkpoint_path,
eval_result, is_the_final_export)` after each evaluation, with
`export_path = <model_dir>/export/<exporter.name>`. Any object with a string `name` and that
`export` method works (tf.estimator's `Exporter` interface); these two cover the common cases.
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any, Callable

import tensorflow as tf

from adapters.export import saved_model as saved_model_export

_log = logging.getLogger("keras_spec")


class Exporter:
    """The interface `train_and_evaluate` calls (tf.estimator.Exporter)."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    def export(self, estimator: Any, export_path: str, checkpoint_path: str, eval_result: dict,
               is_the_final_export: bool) -> Any:
        raise NotImplementedError


class _SavedModelExporter(Exporter):
    def __init__(self, name: str, serving_input_receiver_fn: Callable,
                 assets_extra: dict | None = None, as_text: bool = False):
        self._name = name
        self._serving_input_receiver_fn = serving_input_receiver_fn
        self._assets_extra = assets_extra
        self._as_text = as_text

    @property
    def name(self) -> str:
        return self._name

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        del eval_result, is_the_final_export
        return estimator.export_saved_model(
            export_path, self._serving_input_receiver_fn, assets_extra=self._assets_extra,
            as_text=self._as_text, checkpoint_path=checkpoint_path)


class FinalExporter(_SavedModelExporter):
    """Exports once, after the evaluation that ends training (global_step >= max_steps)."""

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        if not is_the_final_export:
            return None
        _log.info("Performing the final export in the end of training.")
        return super().export(estimator, export_path, checkpoint_path, eval_result,
                              is_the_final_export)


class LatestExporter(_SavedModelExporter):
    """Exports after every evaluation and keeps the newest `exports_to_keep` exports."""

    def __init__(self, name: str, serving_input_receiver_fn: Callable,
                 assets_extra: dict | None = None, as_text: bool = False,
                 exports_to_keep: int | None = 5):
        if exports_to_keep is not None and exports_to_keep <= 0:
            raise ValueError("`exports_to_keep`, if provided, must be a positive number. Got "
                             f"{exports_to_keep}")
        super().__init__(name, serving_input_receiver_fn, assets_extra, as_text)
        self._exports_to_keep = exports_to_keep

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        result = super().export(estimator, export_path, checkpoint_path, eval_result,
                                is_the_final_export)
        self._garbage_collect_exports(export_path)
        return result

    def _garbage_collect_exports(self, export_dir_base: str) -> None:
        """Delete all but the newest `exports_to_keep` timestamped exports (each renamed to a
        non-numeric name before it is deleted: see export/saved_model.remove_export)."""
        if self._exports_to_keep is None or not os.path.isdir(export_dir_base):
            return
        stamps = sorted(int(d) for d in os.listdir(export_dir_base) if d.isdigit())
        for stamp in stamps[:-self._exports_to_keep]:
            saved_model_export.remove_export(os.path.join(export_dir_base, str(stamp)))


def _loss_smaller(best_eval_result: dict, current_eval_result: dict) -> bool:
    """BestExporter's default compare_fn: the current evaluation's `loss` is smaller."""
    for result, which in ((best_eval_result, "best_eval_result"),
                          (current_eval_result, "current_eval_result")):
        if not result or "loss" not in result:
            raise ValueError(f"{which} cannot be empty or no loss is found in it.")
    return best_eval_result["loss"] > current_eval_result["loss"]


class BestExporter(LatestExporter):
    """Exports when an evaluation is better than the best so far (`compare_fn`), keeping the
    newest `exports_to_keep` exports.

    As tf.estimator: the first call exports; the best result so far starts from the evaluation
    event files of the model directory (`event_file_pattern`, relative to it; their
    `simple_value` scalars), read at the first call for a model directory, so a restarted job
    compares with the earlier best.
    """

    def __init__(self, name: str = "best_exporter", serving_input_receiver_fn: Callable = None,
                 event_file_pattern: str | None = "eval/*.tfevents.*",
                 compare_fn: Callable = _loss_smaller, assets_extra: dict | None = None,
                 as_text: bool = False, exports_to_keep: int | None = 5):
        if not callable(compare_fn):
            raise ValueError("`compare_fn` must be callable.")
        params = list(inspect.signature(compare_fn).parameters)
        if sorted(params) != ["best_eval_result", "current_eval_result"]:
            raise ValueError("compare_fn should take exactly two arguments, best_eval_result and "
                             f"current_eval_result; got {params}.")
        super().__init__(name, serving_input_receiver_fn, assets_extra, as_text, exports_to_keep)
        self._event_file_pattern = event_file_pattern
        self._compare_fn = compare_fn
        self._model_dir: str | None = None
        self._best_eval_result: dict | None = None
        self._has_exported = False

    def export(self, estimator, export_path, checkpoint_path, eval_result, is_the_final_export):
        if self._model_dir != estimator.model_dir and self._event_file_pattern:
            self._model_dir = estimator.model_dir
            self._best_eval_result = self._best_in_event_files(
                os.path.join(estimator.model_dir, self._event_file_pattern))
        # This exporter's first call always exports (a restarted job gets a model again).
        if self._has_exported and self._best_eval_result is not None and not self._compare_fn(
                best_eval_result=self._best_eval_result, current_eval_result=eval_result):
            _log.info("Keeping the current best model (%s instead of %s).",
                      self._best_eval_result, eval_result)
            return None
        _log.info("Exporting a better model (%s instead of %s)...", eval_result,
                  self._best_eval_result)
        result = super().export(estimator, export_path, checkpoint_path, eval_result,
                                is_the_final_export)
        self._best_eval_result = eval_result
        self._has_exported = True
        return result

    def _best_in_event_files(self, pattern: str) -> dict | None:
        best = None
        for path in sorted(tf.io.gfile.glob(pattern)):
            for event in tf.compat.v1.train.summary_iterator(path):
                values = {v.tag: v.simple_value for v in event.summary.value
                          if v.HasField("simple_value")}
                if values and (best is None or self._compare_fn(
                        best_eval_result=best, current_eval_result=values)):
                    best = values
        return best
