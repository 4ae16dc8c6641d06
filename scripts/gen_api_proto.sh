#!/bin/sh
# Regenerate src/whirlwind/api/api_pb2.py, api_pb2.pyi and api_pb2_grpc.py from api.proto.
#
# The descriptors go into a private DescriptorPool instead of protobuf's default pool:
# other packages derived from Centrifugo (API clients) may register the same package
# "centrifugal.centrifugo.api" in the default pool, and upb refuses duplicate symbols, so
# both modules could not be imported in one process otherwise. The GRPC module must then
# import the pb2 module by its package path (whirlwind.api.api_pb2).
#
# Run from anywhere; uses the grpcio-tools protoc of the project venv (override with PYTHON).
set -eu
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-/work/venv/bin/python}"
"$PYTHON" -m grpc_tools.protoc -Isrc --python_out=src --pyi_out=src --grpc_python_out=src \
    src/whirlwind/api/api.proto
sed -i 's/^DESCRIPTOR = _descriptor_pool\.Default()\.AddSerializedFile(/POOL = _descriptor_pool.DescriptorPool()\nDESCRIPTOR = POOL.AddSerializedFile(/' \
    src/whirlwind/api/api_pb2.py
grep -q '^POOL = _descriptor_pool.DescriptorPool()$' src/whirlwind/api/api_pb2.py
sed -i 's/^import api_pb2 as /from whirlwind.api import api_pb2 as /' \
    src/whirlwind/api/api_pb2_grpc.py
grep -q '^from whirlwind\.api import api_pb2 as ' src/whirlwind/api/api_pb2_grpc.py
