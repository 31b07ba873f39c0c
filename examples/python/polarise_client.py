#!/usr/bin/python3
"""A Polarise client in Python, generated from proto/ (see generate.sh).

    examples/python/generate.sh
    /usr/bin/python3 examples/python/polarise_client.py --address localhost:8443 \
        --ca certs/dev/ca.crt --cert certs/dev/renter-dev.crt --key certs/dev/renter-dev.key demo

Commands:
  health   the miner's health (grpc.health.v1)
  list     the caller's containers
  demo     allocate a container, stream a challenge (a short busy loop) with
           live samples, print the result, release the container
"""
import argparse
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.environ.get("POLARISE_PY_GEN", os.path.join(here, "gen")))

import grpc  # noqa: E402
from grpc_health_v1 import health_pb2, health_pb2_grpc  # noqa: E402
from polarise.v1 import miner_pb2, miner_pb2_grpc  # noqa: E402


def channel(args):
    def read(path):
        with open(path, "rb") as f:
            return f.read()

    creds = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca), private_key=read(args.key), certificate_chain=read(args.cert)
    )
    return grpc.secure_channel(args.address, creds)


def health(ch, _args):
    reply = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    print(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def list_containers(ch, _args):
    reply = miner_pb2_grpc.MinerServiceStub(ch).ListContainers(miner_pb2.ListContainersRequest(), timeout=30)
    for c in reply.containers:
        print(f"{c.container_id[:12]} {c.container_name} {c.state} cpus={c.cpu_count} memory={c.memory_bytes} ssh_port={c.ssh_port}")
    print(f"{len(reply.containers)} containers")


def demo(ch, args):
    stub = miner_pb2_grpc.MinerServiceStub(ch)
    alloc = stub.Allocate(miner_pb2.AllocateRequest(memory=args.memory, cpu_count=1, lease_seconds=600), timeout=60)
    print(f"allocated {alloc.container_name} ({alloc.container_id[:12]}); ssh {alloc.username}@{alloc.host} -p {alloc.ssh_port}")
    try:
        request = miner_pb2.RunChallengeRequest(
            container_id=alloc.container_id,
            type=miner_pb2.CHALLENGE_TYPE_COMPUTE,
            command=["sh", "-c", "end=$(($(date +%s)+2)); while [ $(date +%s) -lt $end ]; do :; done; echo done"],
            duration=30,
            sample_interval_ms=100,
        )
        samples = 0
        for event in stub.RunChallenge(request, timeout=60):
            kind = event.WhichOneof("event")
            if kind == "sample":
                samples += 1
                s = event.sample
                print(f"sample t={s.elapsed_us / 1e6:5.2f}s cpu={s.cpu_usage:6.1f}% mem={s.memory_usage} pids={s.pids}")
            elif kind == "result":
                r = event.result
                status = miner_pb2.ChallengeStatus.Name(r.command_result.status)
                print(f"result status={status} exit_code={r.command_result.exit_code} output={r.command_result.output.strip()!r}")
                print(f"summary mean_cpu={r.summary.mean_cpu_usage:.1f}% samples={r.summary.sample_count} wall_ms={r.summary.wall_time_ms}")
        print(f"{samples} samples streamed")
    finally:
        stub.Release(miner_pb2.ReleaseRequest(container_id=alloc.container_id), timeout=60)
        print(f"released {alloc.container_id[:12]}")


def main():
    parser = argparse.ArgumentParser(description="Polarise Python client (gRPC over mutual TLS)")
    parser.add_argument("--address", default="localhost:8443", help="miner host:port")
    parser.add_argument("--ca", default="certs/dev/ca.crt", help="subnet CA certificate")
    parser.add_argument("--cert", default="certs/dev/renter-dev.crt", help="client certificate")
    parser.add_argument("--key", default="certs/dev/renter-dev.key", help="client key")
    parser.add_argument("--memory", default="256m", help="memory for demo")
    parser.add_argument("command", choices=["health", "list", "demo"])
    args = parser.parse_args()
    with channel(args) as ch:
        try:
            {"health": health, "list": list_containers, "demo": demo}[args.command](ch, args)
        except grpc.RpcError as err:
            print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
