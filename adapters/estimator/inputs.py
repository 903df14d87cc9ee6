"""`tf.compat.v1.estimator.inputs.numpy_input_fn`, on tf.data.

TF 1.x tutorials feed numpy arrays through it. tf.estimator built TF1 queues; here the input_fn
returns a `tf.data.Dataset` of the same batches (in order when `shuffle=False`, the last one
smaller when the data runs out). With `shuffle=True` the order is random, as it was, but not the
same random order. `pandas_input_fn` is not provided (NotProvidedError names the replacement).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

from adapters.estimator.not_provided import module_getattr

__all__ = ["numpy_input_fn"]
__getattr__ = module_getattr("inputs", __name__)


def _length(value: Any, what: str) -> int:
    if not isinstance(value, np.ndarray):
        raise TypeError(f"numpy_input_fn: {what} must be a numpy array or a dict of numpy "
                        f"arrays; got {type(value).__name__}")
    return len(value)


def numpy_input_fn(x: Any, y: Any = None, batch_size: int = 128, num_epochs: int | None = 1,
                   shuffle: bool | None = None, queue_capacity: int = 1000,
                   num_threads: int = 1) -> Callable[[], tf.data.Dataset]:
    """An input_fn of (features, targets) batches from numpy arrays (or dicts of them)."""
    del num_threads  # tf.data parallelism needs no queue runners
    if not isinstance(shuffle, bool):
        raise ValueError("shuffle must be provided and explicitly set as boolean (it is "
                         f"recommended to set it as True for training); got {shuffle}")
    x = dict(x) if isinstance(x, dict) else x
    y = dict(y) if isinstance(y, dict) else y
    if isinstance(x, dict) and isinstance(y, dict) and set(x) & set(y):
        raise ValueError(f"{sorted(set(x) & set(y))} duplicate keys are found in both x and y; "
                         "keys in x and y must be unique.")
    lengths = {(f"x[{k!r}]" if isinstance(x, dict) else "x"): _length(v, "x")
               for k, v in (x.items() if isinstance(x, dict) else [(None, x)])}
    if y is not None:
        lengths.update({(f"y[{k!r}]" if isinstance(y, dict) else "y"): _length(v, "y")
                        for k, v in (y.items() if isinstance(y, dict) else [(None, y)])})
    if len(set(lengths.values())) > 1:
        raise ValueError(f"numpy_input_fn: arrays differ in length: {lengths}")

    def input_fn() -> tf.data.Dataset:
        dataset = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y))
        if shuffle:
            dataset = dataset.shuffle(queue_capacity)
        return dataset.repeat(num_epochs).batch(batch_size)

    return input_fn
