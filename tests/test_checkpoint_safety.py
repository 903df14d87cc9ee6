"""Nothing a user saved is lost (issue 13): damaged checkpoints, leftovers, bad input.

Each test names the issue item it shows. The model is tests/safety_helpers.model_fn; a model_dir
with checkpoints 0/10/20/30 is trained once per module and copied per test.
"""

import errno
import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import safety_helpers as h
from adapters import Estimator, RunConfig, SpecModel
from adapters.estimator.exporter import LatestExporter
from adapters.export import saved_model as saved_model_export
from adapters.tf1 import model_dir as model_dir_lib
from adapters.tf1.checkpoint import CheckpointError, DamagedCheckpointError
from adapters.tf1.model_dir import ModelDirError, ModelDirLockedError

GOLDEN = os.path.join(os.path.dirname(__file__), "goldens", "safety", "empty_eval.json")


def _estimator(model_dir, **config):
    return Estimator(h.model_fn, model_dir=str(model_dir),
                     config=RunConfig(save_checkpoints_steps=10, tf_random_seed=1, **config))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    model_dir = tmp_path_factory.mktemp("trained")
    _estimator(model_dir).train(h.input_fn(20, repeat=True), steps=30)
    return str(model_dir)


@pytest.fixture
def model_dir(trained, tmp_path):
    copy = str(tmp_path / "model")
    shutil.copytree(trained, copy)
    return copy


def _files(model_dir):
    return sorted(os.listdir(model_dir))


def _ckpt(model_dir, step):
    return os.path.join(model_dir, f"model.ckpt-{step}")


def _kernel(prefix):
    return tf.train.load_variable(prefix, "out/kernel")


# -- 1. a damaged latest checkpoint -----------------------------------------------------------
def test_missing_index_train_stops_and_keeps_every_checkpoint_evaluate_uses_newest_intact(
        model_dir, caplog):
    os.remove(_ckpt(model_dir, 30) + ".index")
    before = _files(model_dir)
    with pytest.raises(DamagedCheckpointError,
                       match=r"latest checkpoint '.*model.ckpt-30' .* is damaged: its index file "
                             r"'.*model.ckpt-30.index' is missing. The newest intact checkpoint "
                             r"is '.*model.ckpt-20' \(global step 20\).*update_checkpoint_state"):
        _estimator(model_dir).train(h.input_fn(20, repeat=True), steps=5)
    assert _files(model_dir) == before  # nothing deleted, nothing restarted from step 0

    est = _estimator(model_dir)
    with caplog.at_level(logging.WARNING, logger="keras_spec"):
        result = est.evaluate(h.input_fn(8))
        predictions = list(est.predict(h.predict_input_fn, yield_single_examples=False))
        export = est.export_saved_model(os.path.join(model_dir, "export"),
                                        h.serving_input_receiver_fn)
    assert result["global_step"] == 20  # the newest intact checkpoint, not initial weights
    expected = h.data(4)[0]["x"][:2] @ _kernel(_ckpt(model_dir, 20)) + tf.train.load_variable(
        _ckpt(model_dir, 20), "out/bias")
    np.testing.assert_allclose(predictions[0]["logits"], expected, rtol=1e-6)
    loaded = tf.saved_model.load(export)
    np.testing.assert_allclose(
        loaded.signatures["serving_default"](x=tf.constant(h.data(4)[0]["x"][:2]))["logits"],
        expected, rtol=1e-6)
    warnings = [r.getMessage() for r in caplog.records if "Using it to" in r.getMessage()]
    assert [w.rsplit(" ", 1)[-1] for w in warnings] == ["evaluate.", "predict.", "export."]


def test_garbled_state_file_train_raises_evaluate_falls_back_to_scanned_latest(model_dir):
    with open(os.path.join(model_dir, "checkpoint"), "w") as f:
        f.write("model_checkpoint_path: {{{ garbled")
    with pytest.raises(DamagedCheckpointError,
                       match=r"`checkpoint` state file '.*checkpoint' cannot be parsed.*newest "
                             r"intact checkpoint is '.*model.ckpt-30'"):
        _estimator(model_dir).train(h.input_fn(20, repeat=True), steps=5)
    assert _estimator(model_dir).evaluate(h.input_fn(8))["global_step"] == 30


def test_truncated_data_file_is_named_with_its_path(model_dir):
    data = _ckpt(model_dir, 30) + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(os.path.getsize(data) // 2)
    with pytest.raises(DamagedCheckpointError, match=r"model.ckpt-30'.*truncated"):
        _estimator(model_dir).train(h.input_fn(20, repeat=True), steps=5)
    model = SpecModel(h.model_fn)
    model.build_variables(h.input_fn(4)())
    with pytest.raises(DamagedCheckpointError,
                       match=r"Checkpoint '.*model.ckpt-30' is damaged: its data file\(s\) hold "
                             r"\d+ bytes but its variables need at least \d+ \(truncated\)"):
        model.restore_checkpoint(_ckpt(model_dir, 30))
    with pytest.raises(DamagedCheckpointError, match="newest intact checkpoint is '.*ckpt-20'"):
        model.restore_checkpoint(model_dir)


def test_warm_start_from_a_damaged_model_dir_raises(model_dir, tmp_path):
    os.remove(_ckpt(model_dir, 30) + ".index")
    est = Estimator(h.model_fn, model_dir=str(tmp_path / "new"), warm_start_from=model_dir)
    with pytest.raises(DamagedCheckpointError, match="model.ckpt-30' .* is damaged"):
        est.train(h.input_fn(20, repeat=True), steps=1)
    data = _ckpt(model_dir, 20) + ".data-00000-of-00001"
    with open(data, "r+b") as f:
        f.truncate(8)
    est = Estimator(h.model_fn, model_dir=str(tmp_path / "new2"),
                    warm_start_from=_ckpt(model_dir, 20))
    with pytest.raises(DamagedCheckpointError, match=r"Checkpoint '.*model.ckpt-20' is damaged: "
                                                     r".*\(truncated\)"):
        est.train(h.input_fn(20, repeat=True), steps=1)


# -- 2. restore before the variables exist -----------------------------------------------------
def test_restore_before_build_variables_raises_instead_of_keeping_fresh_weights(model_dir):
    model = SpecModel(h.model_fn)
    with pytest.raises(CheckpointError, match=r"no variables besides global_step.*build_variables"):
        model.restore_checkpoint(model_dir)
    model.build_variables(h.input_fn(4)())
    model.restore_checkpoint(model_dir)
    np.testing.assert_array_equal(model.get_variable_value("out/kernel"),
                                  _kernel(_ckpt(model_dir, 30)))


# -- 3. leftovers of killed runs ---------------------------------------------------------------
def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_next_run_removes_leftovers_of_a_killed_run_and_keeps_older_unlisted(model_dir, caplog):
    join = lambda name: os.path.join(model_dir, name)  # noqa: E731
    for name in ("model.ckpt-40.data-00000-of-00001.tempstate123456", "checkpoint.tmp0a1b2c",
                 f"{model_dir_lib.LOCK_NAME}.{_dead_pid()}.tmp"):
        open(join(name), "w").close()
    for suffix in (".index", ".data-00000-of-00001"):  # complete but never listed: uncommitted
        shutil.copy(join("model.ckpt-30" + suffix), join("model.ckpt-35" + suffix))
        shutil.copy(join("model.ckpt-0" + suffix), join("model.ckpt-1" + suffix))  # hourly-kept
    shutil.copy(join("model.ckpt-0.index"), join("model.ckpt-2.index"))  # half-deleted
    with caplog.at_level(logging.WARNING, logger="keras_spec"):
        _estimator(model_dir, keep_checkpoint_max=10).train(h.input_fn(20, repeat=True), steps=5)
    removed = next(r.getMessage() for r in caplog.records if "Removed 6 file(s)" in r.getMessage())
    assert "model.ckpt-35.index" in removed and "model.ckpt-1." not in removed
    files = _files(model_dir)
    assert not [f for f in files if "tempstate" in f or ".tmp" in f or "ckpt-2." in f
                or f == model_dir_lib.LOCK_NAME]
    assert "model.ckpt-1.index" in files  # complete, older than the listed ones: kept
    latest = tf.train.latest_checkpoint(model_dir)  # resumed at 30, not at the stray 35
    assert latest.endswith("model.ckpt-35") and tf.train.load_variable(latest, "global_step") == 35
    assert not np.array_equal(_kernel(latest), _kernel(_ckpt(model_dir, 30)))


def test_export_removes_dead_exports_and_garbage_collection_never_leaves_a_numeric_dir(
        model_dir, monkeypatch):
    base = os.path.join(model_dir, "export", "latest")
    os.makedirs(base)
    host = socket.gethostname()
    dead = _dead_pid()
    for name in (f"temp-100-pid{dead}-{host}", f"deleting-99-pid{dead}-{host}", "temp-98"):
        os.makedirs(os.path.join(base, name, "variables"))
        open(os.path.join(base, name, "saved_model.pb"), "w").close()
    old = time.time() - 7200
    os.utime(os.path.join(base, "temp-98"), (old, old))
    os.utime(os.path.join(base, "temp-98", "saved_model.pb"), (old, old))
    os.utime(os.path.join(base, "temp-98", "variables"), (old, old))
    est = _estimator(model_dir)
    exporter = LatestExporter("latest", h.serving_input_receiver_fn, exports_to_keep=1)
    first = exporter.export(est, base, _ckpt(model_dir, 30), {}, False)
    assert isinstance(first, bytes)  # as tf.estimator's exporters returned it
    first = os.fsdecode(first)
    assert sorted(os.listdir(base)) == [os.path.basename(first)]

    def killed_while_deleting(path, ignore_errors=False):
        raise KeyboardInterrupt  # stands for a kill in the middle of rmtree

    monkeypatch.setattr(saved_model_export.shutil, "rmtree", killed_while_deleting)
    with pytest.raises(KeyboardInterrupt):
        exporter.export(est, base, _ckpt(model_dir, 30), {}, False)
    numeric = [d for d in os.listdir(base) if d.isdigit()]
    assert all(os.path.exists(os.path.join(base, d, "saved_model.pb")) for d in numeric)
    assert first.rsplit("/", 1)[-1] not in numeric  # renamed before it was deleted
    assert any(d.startswith("deleting-") for d in os.listdir(base))


# -- 4. empty evaluation -----------------------------------------------------------------------
def test_empty_evaluation_warns_and_returns_what_tf_estimator_2_15_returned(model_dir):
    with open(GOLDEN) as f:
        golden = json.load(f)["empty_evaluate"]
    est = _estimator(model_dir)
    with pytest.warns(UserWarning, match="evaluate\\(\\) ran 0 batches"):
        result = est.evaluate(h.input_fn(0), checkpoint_path=_ckpt(model_dir, 10))
    assert {k: float(v) for k, v in result.items()} == {k: float(v) for k, v in golden.items()}
    model = SpecModel(h.model_fn)
    with pytest.warns(UserWarning, match="ran 0 batches"):
        logs = model.evaluate(h.input_fn(0)(), return_dict=True, verbose=0)
    assert logs == {k: v for k, v in golden.items() if k != "global_step"}


# -- 5. fit never runs more steps than asked ---------------------------------------------------
def test_fit_caps_the_execution_size_by_steps_per_epoch():
    model = SpecModel(h.model_fn)
    model.compile(steps_per_execution=10 ** 6)
    model.fit(h.input_fn(20, repeat=True)(), steps_per_epoch=10, verbose=0)
    assert int(model.global_step.numpy()) == 10
    model.compile(steps_per_execution=10)
    with pytest.warns(UserWarning, match="runs executions of 5 steps"):
        model.fit(h.input_fn(20, repeat=True)(), steps_per_epoch=25, epochs=2, verbose=0)
    assert int(model.global_step.numpy()) == 10 + 50
    assert model.steps_per_execution == 10  # the compiled setting is kept for later calls


# -- 6. model_dir / export_dir_base that cannot be used ----------------------------------------
def test_model_dir_or_export_dir_base_that_is_a_file(tmp_path, trained):
    path = tmp_path / "a_file"
    path.write_text("x")
    with pytest.raises(ModelDirError, match=f"model_dir '{path}' is a file, not a directory"):
        _estimator(path).train(h.input_fn(20, repeat=True), steps=1)
    with pytest.raises(ModelDirError, match=f"model_dir '{path}' is a file, not a directory"):
        _estimator(path).evaluate(h.input_fn(4))
    with pytest.raises(ModelDirError, match=f"export_dir_base '{path}' is a file"):
        _estimator(trained).export_saved_model(str(path), h.serving_input_receiver_fn)
    model = SpecModel(h.model_fn)
    with pytest.raises(ModelDirError, match=f"model_dir '{path}' is a file"):
        model.save_checkpoint(str(path))


def _mount_tmpfs(path, options):
    os.makedirs(path, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                            capture_output=True, check=False)
    if result.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode()[:200]}")
    return path


def test_unwritable_and_full_model_dir_name_the_path(tmp_path, trained):
    readonly = _mount_tmpfs(tmp_path / "ro", "ro,size=64k")
    full = _mount_tmpfs(tmp_path / "full", "size=64k")
    try:
        with pytest.raises(ModelDirError, match=f"model_dir '{readonly}/m' cannot be created: "
                                                "the file system is read-only"):
            _estimator(readonly / "m").train(h.input_fn(20, repeat=True), steps=1)
        fd = os.open(full / "filler", os.O_WRONLY | os.O_CREAT)  # fill the disk
        try:
            while True:
                os.write(fd, b"\0" * 4096)
        except OSError as e:
            assert e.errno == errno.ENOSPC
        finally:
            os.close(fd)
        with pytest.raises(ModelDirError, match=f"'{full}.*the disk is full"):
            _estimator(full).train(h.input_fn(20, repeat=True), steps=1)
        with pytest.raises(saved_model_export.ExportError,
                           match=f"SavedModel '{full}/export/\\d+' under export_dir_base "
                                 f"'{full}/export': the disk is full"):
            _estimator(trained).export_saved_model(str(full / "export"),
                                                   h.serving_input_receiver_fn)
        assert os.listdir(full / "export") == []  # no partial export left behind
    finally:
        subprocess.run(["umount", str(readonly)], check=False)
        subprocess.run(["umount", str(full)], check=False)


# -- 7. one writer per model_dir ---------------------------------------------------------------
def _lock_file(model_dir, **holder):
    record = {"host": socket.gethostname(), "since": "2026-11-28T05:00:00+00:00", **holder}
    with open(os.path.join(model_dir, model_dir_lib.LOCK_NAME), "w") as f:
        json.dump(record, f)


def test_second_writer_gets_an_error_naming_the_holder(model_dir):
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _lock_file(model_dir, pid=other.pid)
        with pytest.raises(ModelDirLockedError,
                           match=rf"being written by another process \(host {socket.gethostname()}"
                                 rf", pid {other.pid}, since 2026-11-28T05:00:00\+00:00"):
            _estimator(model_dir).train(h.input_fn(20, repeat=True), steps=1)
        _lock_file(model_dir, pid=1234, host="another-host")
        with pytest.raises(ModelDirLockedError, match="host another-host, pid 1234"):
            _estimator(model_dir).train(h.input_fn(20, repeat=True), steps=1)
    finally:
        other.kill()
        other.wait()
    assert tf.train.latest_checkpoint(model_dir).endswith("model.ckpt-30")  # nothing written


def test_lock_of_a_dead_process_is_taken_over_with_a_warning(model_dir, caplog):
    _lock_file(model_dir, pid=_dead_pid())
    with caplog.at_level(logging.WARNING, logger="keras_spec"):
        _estimator(model_dir).train(h.input_fn(20, repeat=True), steps=2)
    assert any("Taking over the model_dir lock" in r.getMessage() for r in caplog.records)
    assert tf.train.latest_checkpoint(model_dir).endswith("model.ckpt-32")
    assert model_dir_lib.LOCK_NAME not in os.listdir(model_dir)  # released at the end


# -- 8. NaN in SpecModel.fit keeps Keras's behaviour -------------------------------------------
def test_nan_loss_keeps_training_unless_terminate_on_nan():
    def nan_model_fn(features, labels, mode):
        spec = h.model_fn(features, labels, mode)
        return spec._replace(loss=spec.loss * float("nan"))

    model = SpecModel(nan_model_fn)
    history = model.fit(h.input_fn(20, repeat=True)(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.isnan(history.history["loss"][-1])
    model = SpecModel(nan_model_fn)
    model.fit(h.input_fn(20, repeat=True)(), steps_per_epoch=3, epochs=2, verbose=0,
              callbacks=[keras.callbacks.TerminateOnNaN()])
    assert int(model.global_step.numpy()) == 1
