"""A fork server for tests/test_crash_safety.py: imports TensorFlow once, forks one child per trial.

Reads one JSON command per line on stdin ({"kind": "train" | "export" | "save", "dir": ...}),
forks a child that runs that kind of work in `dir` until it is killed, and waits for it. The
child writes protocol lines to stdout: `pid <pid>`, `begin <step>` once it resumed (and, for
export/save, finished one complete write), then waits for a `go` line on stdin (answered by
`going`), then announces
`mark <what>` right before each targeted moment (a checkpoint save, a SavedModel write, an
export deletion). When the child is gone the server writes `exit <status>`.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import tensorflow as tf  # noqa: E402

import safety_helpers as h  # noqa: E402
from adapters import Estimator, RunConfig, SpecModel  # noqa: E402
from adapters.estimator.exporter import LatestExporter  # noqa: E402
from adapters.export import saved_model as saved_model_export  # noqa: E402


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())


def wait_for_go() -> None:
    line = b""
    while not line.endswith(b"\n"):
        chunk = os.read(0, 1)
        if not chunk:
            os._exit(3)
        line += chunk
    say("going")


class _Listener(tf.compat.v1.train.CheckpointSaverListener):
    def __init__(self, estimator):
        self._estimator = estimator

    def begin(self):
        say(f"begin {int(self._estimator._model.global_step.numpy())}")  # pylint: disable=protected-access
        wait_for_go()

    def before_save(self, session, global_step_value):
        say(f"mark save {global_step_value}")


def train(model_dir: str) -> None:
    est = Estimator(h.model_fn, model_dir=model_dir, config=RunConfig(
        save_checkpoints_steps=7, keep_checkpoint_max=3, save_summary_steps=1000,
        log_step_count_steps=1000))
    est.train(h.input_fn(20, repeat=True), steps=100000, saving_listeners=[_Listener(est)])


def export(model_dir: str) -> None:
    est = Estimator(h.model_fn, model_dir=model_dir)
    original_save, original_remove = tf.saved_model.save, saved_model_export.remove_export

    def save(*args, **kwargs):
        say("mark write")
        return original_save(*args, **kwargs)

    def remove(path):
        say("mark delete")
        return original_remove(path)

    tf.saved_model.save, saved_model_export.remove_export = save, remove
    exporter = LatestExporter("latest", h.serving_input_receiver_fn, exports_to_keep=2)
    base = os.path.join(model_dir, "export", "latest")
    exporter.export(est, base, None, {}, False)  # removes what a killed export left
    say("begin 0")
    wait_for_go()
    while True:
        exporter.export(est, base, None, {}, False)


def save(model_dir: str) -> None:
    model = SpecModel(h.model_fn)
    model.build_variables(h.input_fn(4)())
    if tf.train.latest_checkpoint(model_dir):
        model.restore_checkpoint(model_dir)
    step = int(model.global_step.numpy())
    model.save_checkpoint(model_dir, max_to_keep=3)  # removes what a killed save left
    say(f"begin {step}")
    wait_for_go()
    data = h.input_fn(20, repeat=True)()
    while True:
        model.fit(data, steps_per_epoch=1, verbose=0)
        say(f"mark save {int(model.global_step.numpy())}")
        model.save_checkpoint(model_dir, max_to_keep=3)


def main() -> None:
    kinds = {"train": train, "export": export, "save": save}
    while True:
        line = sys.stdin.readline()
        if not line:
            return
        command = json.loads(line)
        pid = os.fork()
        if pid == 0:
            try:
                kinds[command["kind"]](command["dir"])
                status = 0
            except BaseException as e:  # pylint: disable=broad-except
                say(f"error {type(e).__name__}: {str(e)[:500]!r}")
                status = 1
            os._exit(status)
        say(f"pid {pid}")
        _, status = os.waitpid(pid, 0)
        say(f"exit {status}")


if __name__ == "__main__":
    main()
