"""Exporters for `EvalSpec(exporters=...)`: tf.estimator's FinalExporter and LatestExporter.

`train_and_evaluate` calls `exporter.export(estimator, export_path, checkpoint_path,
eval_result, is_the_final_export)` after each evaluation, with
`export_path = <model_dir>/export/<exporter.name>`. Any object with a string `name` and that
`export` method works (tf.estimator's `Exporter` interface); these two cover the common cases.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Callable

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
