"""Test setup: the repo root and tests/ on sys.path; quiet TensorFlow logs."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

# Distribution tests run MirroredStrategy over 2 logical CPU devices; they must be configured
# before TensorFlow initializes its devices (single-device tests still run on /cpu:0).
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
tf.config.set_logical_device_configuration(
    _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
