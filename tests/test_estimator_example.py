"""examples/estimator_train_and_evaluate.py (a tf.estimator script, imports changed) runs."""

import os
import sys

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
sys.path.insert(0, EXAMPLES)


def test_estimator_train_and_evaluate_example(tmp_path):
    import estimator_train_and_evaluate as example  # noqa: E402

    result = example.main(["--model-dir", str(tmp_path), "--max-steps", "600"])
    metrics = result["metrics"]
    assert metrics["global_step"] == 600
    assert metrics["accuracy"] > 0.9 and metrics["auc"] > 0.95  # the rule is ~93% learnable
    assert result["export"].startswith(str(tmp_path / "export" / "loans"))
    high_risk, low_risk = result["served_scores"][:, 1]
    assert high_risk > 0.9 and low_risk < 0.1
    assert sorted(os.listdir(tmp_path / "eval")) and os.path.exists(tmp_path / "checkpoint")
