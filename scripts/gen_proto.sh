#!/bin/sh
# Regenerate src/whirlwind/protocol/client_pb2.py and client_pb2.pyi from client.proto.
#
# The descriptors go into a private DescriptorPool instead of protobuf's default pool:
# centrifuge-python (a test dependency) registers the same package
# "centrifugal.centrifuge.protocol" in the default pool, and upb refuses duplicate symbols,
# so both modules could not be imported in one process otherwise.
#
# Run from anywhere; uses the grpcio-tools protoc of the project venv (override with PYTHON).
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-/work/venv/bin/python}"
"$PYTHON" -m grpc_tools.protoc -Isrc --python_out=src --pyi_out=src \
    src/whirlwind/protocol/client.proto
sed -i 's/^DESCRIPTOR = _descriptor_pool\.Default()\.AddSerializedFile(/POOL = _descriptor_pool.DescriptorPool()\nDESCRIPTOR = POOL.AddSerializedFile(/' \
    src/whirlwind/protocol/client_pb2.py
grep -q '^POOL = _descriptor_pool.DescriptorPool()$' src/whirlwind/protocol/client_pb2.py
