"""gRPC runtime: the aio server builder and its interceptors."""

from cityops_platform.grpc.server import GrpcService, create_server, serve_until_stopped

__all__ = ["GrpcService", "create_server", "serve_until_stopped"]
