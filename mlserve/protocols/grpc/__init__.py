"""The Open Inference Protocol over gRPC: the service's protos (proto/), the code generated
from them in a private descriptor pool (_generated/, by scripts/generate_protos.py), and the
codec between its messages and the V2 codec's types."""
