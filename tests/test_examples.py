"""The README's main example runs end to end: train → evaluate → export → serve elsewhere."""

import os
import sys

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
sys.path.insert(0, EXAMPLES)


def test_iris_example_trains_exports_and_serves(tmp_path):
    import iris  # noqa: E402

    results = iris.main(["--steps", "400", "--model-dir", str(tmp_path)])
    assert results["accuracy"] >= 0.9  # 30 held-out flowers; the classic model gets ~0.97
    assert results["served_class_id"] == 0  # the first sample is a setosa
    assert len(os.listdir(tmp_path / "export")) == 1
