"""The engine: SpecModel, a keras.Model whose train/test/predict steps call the model_fn.

`spec_model` (the model and its per-mode cores), `fast_loop` (fused one-replica training
executions), `distributed_steps` (steps under strategies with several replicas),
`model_fn_binding` (calling a model_fn as tf.estimator did) and `metric_bridge`
(eval_metric_ops as Keras metrics). See docs/architecture.md, "The engine".
"""
