"""Event files written the way tf.estimator wrote them: TF1 `Summary` protos per directory.

tf.estimator wrote evaluation results, `global_step/sec` and the evaluated `checkpoint_path` as
`Summary` protos (`simple_value` scalars) through one cached writer per directory
(FileWriterCache). Scripts that read those files with `summary_iterator` and `v.simple_value`
keep working because the same protos are written here, with `write_raw_pb`.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
import tensorflow as tf

_writers: dict[str, Any] = {}
_lock = threading.Lock()


def writer_for(logdir: str) -> Any:
    """One `tf.summary` writer per directory for the whole process (as FileWriterCache)."""
    logdir = os.path.abspath(os.fspath(logdir))
    with _lock:
        writer = _writers.get(logdir)
        if writer is None:
            writer = _writers[logdir] = tf.summary.create_file_writer(logdir)
        return writer


def _value(tag: str, value: Any) -> Any:
    if isinstance(value, (bytes, str)):
        return tf.compat.v1.Summary.Value(tag=tag, tensor=tf.make_tensor_proto(value))
    array = np.asarray(value)
    if array.ndim == 0 and np.issubdtype(array.dtype, np.number):
        return tf.compat.v1.Summary.Value(tag=tag, simple_value=float(array))
    return tf.compat.v1.Summary.Value(tag=tag, node_name=tag, tensor=tf.make_tensor_proto(array))


def write(writer: Any, values: dict[str, Any], step: int) -> None:
    """Write `values` (scalars as simple_value, strings/arrays as tensors) at `step`, now."""
    proto = tf.compat.v1.Summary(value=[_value(tag, v) for tag, v in values.items()
                                        if v is not None])
    with writer.as_default(), tf.summary.record_if(True):
        tf.summary.experimental.write_raw_pb(proto.SerializeToString(), step=int(step))
    writer.flush()
