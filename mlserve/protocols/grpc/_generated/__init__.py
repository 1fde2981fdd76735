"""Code generated from mlserve/protocols/grpc/proto by scripts/generate_protos.py.

POOL is mlserve's own descriptor pool: nothing here is registered in protobuf's default
pool, so tritonclient.grpc and the kserve SDK import in the same process.
"""

from google.protobuf import descriptor_pool

POOL = descriptor_pool.DescriptorPool()
