"""The TF1 emulation: what a tf.estimator-era model_fn expects from a TF1 graph and session.

`world` (variable store, collections, global step, name scopes inside a traced Keras step),
`saver` / `checkpoint` (TF1-named checkpoints), `scaffold` and `trace_session` (Scaffold's
init parts and a session-shaped object inside a trace) and `legacy_layers`
(`tf.compat.v1.layers` through tf_keras). Nothing here knows Keras models: the engine above
uses it. See docs/architecture.md, "The TF1 world".
"""
