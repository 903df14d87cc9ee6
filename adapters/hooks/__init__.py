"""SessionRunHooks run around Keras's steps: `bridge` (hooks → Keras callbacks, fetched values,
request_stop) and `native` (CheckpointSaverHook, ProfilerHook, SummarySaverHook, StepCounterHook
done natively). Uses the TF1 emulation; used by the engine. See docs/architecture.md, "Hooks".
"""
