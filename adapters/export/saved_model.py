"""SavedModel export: a PREDICT spec's export_outputs become serving signatures.

Like tf.estimator, the serving graph is built the TF1 way: the serving_input_receiver_fn makes
placeholders, the model_fn runs in PREDICT mode on the receiver's features, and each signature
is the part of that graph between its inputs and outputs (here: `wrap_function(...).prune`).
The SavedModel is written into a temporary directory and renamed to a fresh timestamped
directory only when complete; an existing export is never touched.

Only complete exports ever have an all-digit name (what TF Serving loads): the temporary
directory is `temp-<stamp>-pid<pid>-<host>`, and an export being garbage-collected is first
renamed to `deleting-<stamp>-pid<pid>-<host>`. Each export first removes such directories
whose process is dead (a killed run's), and tf.estimator-style `temp-<stamp>` directories
untouched for an hour.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import time
from typing import Any, Callable

import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from google.protobuf import text_format

import keras_spec
from keras_spec import ModeKeys

from adapters.export import tables
from adapters.tf1 import model_dir as model_dir_lib

_log = logging.getLogger("keras_spec")
_SAVED_MODEL_PB = "saved_model.pb"


class ExportError(RuntimeError):
    """The export could not be written; nothing was left in export_dir_base."""


def _receiver_parts(receiver: Any) -> tuple[Any, dict, dict]:
    """features, receiver_tensors, receiver_tensors_alternatives of a receiver_fn's result."""
    if isinstance(receiver, (keras_spec.export.ServingInputReceiver,
                             keras_spec.export.TensorServingInputReceiver)):
        return (receiver.features, dict(receiver.receiver_tensors),
                dict(receiver.receiver_tensors_alternatives or {}))
    raise TypeError("serving_input_receiver_fn must return a keras_spec.export.ServingInputReceiver "
                    f"(or TensorServingInputReceiver); got {type(receiver).__name__}: {receiver!r:.200}")


def _signature_plan(export_outputs: dict, receiver_tensors: dict, alternatives: dict) -> tuple:
    """(signatures, excluded): which signature gets which inputs, as tf.estimator decided."""
    receivers = [(None, receiver_tensors)] + sorted(alternatives.items())
    signatures, excluded = {}, {}
    for receiver_name, tensors in receivers:
        if not isinstance(tensors, dict):
            tensors = {"input": tensors}
        for key, output in export_outputs.items():
            name = key if receiver_name is None else f"{receiver_name}:{key}"
            try:
                inputs = output.signature_inputs(tensors)
            except ValueError as e:
                excluded[name] = str(e)
                continue
            signatures[name] = (output, inputs)
    return signatures, excluded


def _log_signature_report(signatures: dict, excluded: dict) -> None:
    by_method = {}
    for name, (output, _) in signatures.items():
        by_method.setdefault(output.method_name, []).append(name)
    for label, method in (("Classify", "tensorflow/serving/classify"),
                          ("Regress", "tensorflow/serving/regress"),
                          ("Predict", "tensorflow/serving/predict")):
        _log.info("Signatures INCLUDED in export for %s: %s", label,
                  sorted(by_method.get(method, [])) or None)
    for name, why in excluded.items():
        _log.warning("Signature '%s' EXCLUDED from the export: %s", name, why.split("\n")[0])
    if not signatures:
        _log.warning("Export includes no signatures!")


def _timestamped_dir(export_dir_base: str) -> str:
    """A new directory name under export_dir_base (seconds since epoch, never reused)."""
    stamp = int(time.time())
    while os.path.exists(os.path.join(export_dir_base, str(stamp))) or os.path.exists(
            os.path.join(export_dir_base, _owned_name("temp", str(stamp)))):
        stamp += 1
    return os.path.join(export_dir_base, str(stamp))


# ---------------------------------------------------------------------------------------------
# Directories in flight, and what a killed export left
# ---------------------------------------------------------------------------------------------
_OWNED = re.compile(r"^(temp|deleting)-(\d+)-pid(\d+)-(.+)$")
_LEGACY_TEMP = re.compile(r"^temp-\d+$")  # tf.estimator's, and keras-spec's before this change
_LEGACY_TEMP_AGE_S = 3600


def _owned_name(kind: str, stamp: str) -> str:
    return f"{kind}-{stamp}-pid{os.getpid()}-{socket.gethostname()}"


def _newest_mtime(path: str) -> float:
    newest = os.path.getmtime(path)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            with contextlib.suppress(OSError):
                newest = max(newest, os.path.getmtime(os.path.join(root, name)))
    return newest


def remove_leftovers(export_dir_base: str) -> list[str]:
    """Remove temp / deleting directories of dead exports under export_dir_base."""
    try:
        names = os.listdir(export_dir_base)
    except OSError:
        return []
    removed = []
    for name in names:
        path = os.path.join(export_dir_base, name)
        match = _OWNED.match(name)
        if match:
            stale = model_dir_lib.process_gone(match.group(4), int(match.group(3)))
        elif _LEGACY_TEMP.match(name) and os.path.isdir(path):
            stale = time.time() - _newest_mtime(path) > _LEGACY_TEMP_AGE_S
        else:
            continue
        if stale:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    if removed:
        _log.warning("Removed %d unfinished export director(y/ies) an interrupted earlier run left "
                     "in %s: %s", len(removed), export_dir_base,
                     sorted(os.path.basename(p) for p in removed))
    return removed


def remove_export(export_dir: str) -> None:
    """Delete an export: renamed to a non-numeric name first, so a deletion cut short never
    leaves an all-digit directory without saved_model.pb (which TF Serving would try to load)."""
    base, stamp = os.path.split(os.path.normpath(export_dir))
    doomed = os.path.join(base, _owned_name("deleting", stamp))
    try:
        os.rename(export_dir, doomed)
    except FileNotFoundError:
        return  # another process removed it already
    shutil.rmtree(doomed, ignore_errors=True)


def _set_method_names(export_dir: str, method_names: dict, as_text: bool) -> None:
    """TF 2's saver writes every signature as predict; give classify/regress their methods.

    TF Serving's Classify and Regress APIs look signatures up by method name.
    """
    path = os.path.join(export_dir, _SAVED_MODEL_PB)
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        for key, method in method_names.items():
            if key in meta_graph.signature_def:
                meta_graph.signature_def[key].method_name = method
    if as_text:
        os.remove(path)
        with open(os.path.join(export_dir, "saved_model.pbtxt"), "w") as f:
            f.write(text_format.MessageToString(saved_model))
    else:
        with open(path, "wb") as f:
            f.write(saved_model.SerializeToString())


def _copy_assets_extra(export_dir: str, assets_extra: dict | None) -> None:
    if not assets_extra:
        return
    if not isinstance(assets_extra, dict):
        raise TypeError(f"assets_extra must be a dict of destination path -> source file; "
                        f"got {assets_extra!r}")
    base = os.path.join(export_dir, "assets.extra")
    for dest, source in assets_extra.items():
        dest_path = os.path.normpath(os.path.join(base, dest))
        if not dest_path.startswith(base + os.sep):
            raise ValueError(f"assets_extra destination '{dest}' must stay inside assets.extra/")
        if not os.path.isfile(source):
            raise ValueError(f"assets_extra['{dest}']: source file '{source}' does not exist")
        os.makedirs(os.path.dirname(dest_path), exist_ok=True)
        shutil.copyfile(source, dest_path)


def _serving_function(pruned: Callable, inputs: dict, outputs: dict) -> Any:
    """A concrete function with named inputs (the signature keys) calling the pruned graph."""
    keys = list(inputs)
    specs = [tf.TensorSpec(inputs[k].shape, inputs[k].dtype, name=k) for k in keys]

    def serve(*args):
        return dict(pruned(*args))

    return tf.function(serve, input_signature=specs, autograph=False).get_concrete_function()


def export_saved_model(model: Any, export_dir_base: str, serving_input_receiver_fn: Callable,
                       assets_extra: dict | None = None, as_text: bool = False,
                       experimental_mode: str = ModeKeys.PREDICT) -> str:
    """Write a SavedModel of `model`'s PREDICT spec; returns the new timestamped directory."""
    if experimental_mode != ModeKeys.PREDICT:
        raise NotImplementedError(
            f"export_saved_model(experimental_mode={experimental_mode!r}): only PREDICT exports "
            "are supported; TRAIN/EVAL SavedModels need TF1 sessions that TF 2.21 no longer runs.")
    if not callable(serving_input_receiver_fn):
        raise TypeError("serving_input_receiver_fn must be a function returning a "
                        f"ServingInputReceiver; got {serving_input_receiver_fn!r}")
    export_dir_base = os.fspath(export_dir_base)
    model_dir_lib.check_directory(export_dir_base, "export_dir_base")
    remove_leftovers(export_dir_base)
    captured = {}

    def serving_graph():
        features, receiver_tensors, alternatives = _receiver_parts(serving_input_receiver_fn())
        spec = model._export_spec(features)  # pylint: disable=protected-access
        captured.update(spec=spec, receiver_tensors=receiver_tensors, alternatives=alternatives)
        return []

    with tables.collect_resources() as resources:
        wrapped = tf.compat.v1.wrap_function(serving_graph, signature=[])
    spec = captured["spec"]
    signatures, excluded = _signature_plan(spec.export_outputs, captured["receiver_tensors"],
                                           captured["alternatives"])
    _log_signature_report(signatures, excluded)

    functions, method_names = {}, {}
    for name, (output, inputs) in signatures.items():
        outputs = output.signature_outputs()
        pruned = wrapped.prune(feeds=[inputs[k] for k in inputs], fetches=outputs)
        functions[name] = _serving_function(pruned, inputs, outputs)
        method_names[name] = output.method_name

    module = tf.Module()
    module.model_variables = [v.value for v in model._world.variables()]  # pylint: disable=protected-access
    for attribute, value in tables.tracked_tables(wrapped, resources).items():
        setattr(module, attribute, value)  # feature columns' vocabulary tables
    final_dir = _timestamped_dir(export_dir_base)
    temp_dir = os.path.join(export_dir_base, _owned_name("temp", os.path.basename(final_dir)))
    try:
        tf.saved_model.save(module, temp_dir, signatures=functions)
        _set_method_names(temp_dir, method_names, as_text)
        _copy_assets_extra(temp_dir, assets_extra)
        if os.path.exists(final_dir):
            raise ExportError(f"{final_dir} appeared while exporting; not overwriting it")
        os.rename(temp_dir, final_dir)
    except (tf.errors.OpError, OSError) as e:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise ExportError(f"Could not write the SavedModel '{final_dir}' under export_dir_base "
                          f"'{export_dir_base}': {model_dir_lib.describe_os_error(e)}") from None
    except BaseException:
        shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    _log.info("SavedModel written to %s", final_dir)
    return final_dir
