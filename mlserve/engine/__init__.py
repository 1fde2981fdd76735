"""The protocol-neutral engine: every front door (HTTP, `--local`, Ray, gRPC) serves models
through `engine.core.InferenceCore`. Nothing here imports a web framework (tests/test_layers.py).

    core        the public surface: look-ups, predictions, info, readiness, an operator's changes
    registry    model versions, load states, hold/drain, traffic splits
    batching    the adaptive batcher
    placement   where work runs: the loop, the model threads, the offload pool
    observers   the declared events (metrics, console statistics)
    tuning      the process settings only a server applies
    answers, shadows, context, cpus, integrity
"""
