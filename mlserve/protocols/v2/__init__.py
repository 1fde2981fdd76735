"""The Open Inference Protocol (KServe V2): `codec` (framing, tensors, validation) and
`mapping` (model metadata, tensors to engine inputs, answers to output tensors)."""
