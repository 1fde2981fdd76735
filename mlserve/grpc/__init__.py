"""The gRPC front door: the Open Inference Protocol's `inference.GRPCInferenceService` (with
the Triton extensions tritonclient calls), the standard health and reflection services, over
the same engine as HTTP, in the same process and event loop.

    service.py   the servicer: each RPC, through the engine and the protocol's codec
    errors.py    the error taxonomy as gRPC status codes (the one renderer for gRPC)
    server.py    the grpc.aio server's lifetime, options, health and reflection
"""
