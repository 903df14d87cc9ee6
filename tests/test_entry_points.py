"""What a user sees when starting our entry points: fast --help, no false CUDA "error" lines,
and a word about RunConfig fields TF 2.21 cannot honour."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from adapters import startup
from keras_spec.run_config import RunConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))

CAPTURED = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1795845171.768359   12038 port.cc:153] oneDNN custom operations are on.\n",
    "W0000 00:00:1795845171.768685   12038 some.cc:31] a real warning\n",
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n",
    "I0000 00:00:1795845174.998466   12038 port.cc:153] oneDNN custom operations are on.\n",
    "E0000 00:00:1795845176.229740   12038 cuda_platform.cc:52] failed call to cuInit: INTERNAL: "
    "CUDA error: Failed call to cuInit: UNKNOWN ERROR (303)\n",
    "E0000 00:00:1795845176.229999   12038 other.cc:1] a real error\n",
    "/x.py:3: UserWarning: a Python warning\n",
]


def test_filter_drops_the_cuda_line_only_without_a_driver_and_repeats_once():
    kept = startup.filter_start_lines(CAPTURED, driver_present=False, show_info=True)
    assert kept == [CAPTURED[0], CAPTURED[1], CAPTURED[2], CAPTURED[6], CAPTURED[7]]
    with_driver = startup.filter_start_lines(CAPTURED, driver_present=True, show_info=True)
    assert CAPTURED[5] in with_driver  # a machine with a GPU driver: cuInit failing is news


def test_filter_keeps_warnings_and_errors_when_info_is_off():
    kept = startup.filter_start_lines(CAPTURED, driver_present=False, show_info=False)
    assert kept == [CAPTURED[2], CAPTURED[6], CAPTURED[7]]


def _stderr_of(code: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120, check=True)
    return done.stderr


@pytest.mark.skipif(startup.nvidia_driver_present(), reason="a GPU driver is present")
def test_import_tensorflow_prints_no_cuda_error_on_a_cpu_only_machine():
    stderr = _stderr_of("from adapters import startup\n"
                        "tf = startup.import_tensorflow()\n"
                        "import warnings; warnings.warn('still visible')\n"
                        "print(tf.constant(2) * 3)")
    assert "cuInit" not in stderr and "CUDA error" not in stderr
    assert "still visible" in stderr  # Python warnings are not swallowed
    plain = _stderr_of("import tensorflow as tf; tf.config.list_physical_devices()")
    assert "cuInit" in plain  # what the filter exists for (TF 2.21 on a machine with no driver)


@pytest.mark.parametrize("script", EXAMPLES, ids=lambda p: p.name)
def test_example_help_answers_without_importing_tensorflow(script):
    done = subprocess.run([sys.executable, "-X", "importtime", str(script), "--help"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert "usage:" in done.stdout
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert "argparse" in imported and "tensorflow" not in imported


@pytest.mark.parametrize("field, value, advice", [
    ("session_config", {"allow_soft_placement": True}, "tf.config.threading"),
    ("device_fn", lambda op: "/cpu:0", "train_distribute"),
    ("protocol", "grpc+verbs", "cluster resolver"),
])
def test_run_config_says_which_fields_it_ignores(field, value, advice):
    with pytest.warns(UserWarning, match=f"RunConfig.{field}=.* is ignored on TensorFlow 2.21: "
                                         f".*{advice}"):
        config = RunConfig(**{field: value})
    assert getattr(config, field) is value  # kept, as tf.estimator kept it, for code reading it


@pytest.mark.skipif(startup.nvidia_driver_present(), reason="a GPU driver is present")
def test_doctor_prints_no_cuda_error_on_a_cpu_only_machine():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = str(ROOT)
    sample = ROOT / "tests" / "doctor_samples" / "sample_fixable.py"
    done = subprocess.run([sys.executable, "-m", "adapters.doctor", str(sample)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "KS130" in done.stdout  # it ran and found the blocker
    assert "cuInit" not in done.stderr and "CUDA error" not in done.stderr
