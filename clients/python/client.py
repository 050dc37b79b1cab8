#!/usr/bin/env python3
"""A short Python client of auth.v1 and resource.v1, built from stubs generated from proto/.

It registers a new user, logs in, creates a resource, lists it back, and checks two errors
(a bad token, a wrong password) down to their google.rpc.ErrorInfo. Exit status 0 when every
answer is as expected, 1 (with what differed) otherwise.

    python client.py --auth 127.0.0.1:50051 --resource 127.0.0.1:50052 --stubs gen

See README.md beside this file for generating the stubs into `gen`.
"""

import argparse
import sys
import uuid

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auth", default="127.0.0.1:50051", help="auth-service HOST:PORT")
    parser.add_argument("--resource", default="127.0.0.1:50052", help="resource-service HOST:PORT")
    parser.add_argument("--stubs", help="folder of the generated stubs (else they must be on PYTHONPATH)")
    return parser.parse_args()


ARGS = parse_args()
if ARGS.stubs:
    sys.path.insert(0, ARGS.stubs)
try:
    from auth.v1 import auth_service_pb2 as auth_pb
    from auth.v1 import auth_service_pb2_grpc as auth_grpc
    from resource.v1 import resource_service_pb2 as resource_pb
    from resource.v1 import resource_service_pb2_grpc as resource_grpc
except ImportError as error:
    # `resource` is also a standard-library module, which wins over a folder without __init__.py.
    sys.exit(f"cannot import the generated stubs ({error}); generate them as README.md says, "
             "with an __init__.py in each generated folder")

TIMEOUT = 10  # seconds, for every call


class Mismatch(Exception):
    """An answer that is not the expected one."""


def expect(what, got, want):
    if got != want:
        raise Mismatch(f"{what}: got {got!r}, want {want!r}")


def bearer(token):
    return (("authorization", f"Bearer {token}"),)


def expect_error(what, call, code, reason, domain="auth.v1"):
    """Runs `call`, which must fail with `code` and a google.rpc.ErrorInfo of `reason`."""
    try:
        call()
    except grpc.RpcError as error:
        expect(f"{what}: status code", error.code(), code)
        # The rich status travels in the `grpc-status-details-bin` trailer.
        status = rpc_status.from_call(error)
        if status is None:
            raise Mismatch(f"{what}: no google.rpc.Status in the trailers") from None
        infos = []
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                infos.append(info)
        expect(f"{what}: ErrorInfo (reason, domain)", [(i.reason, i.domain) for i in infos], [(reason, domain)])
        return f"{code.name} {reason}"
    raise Mismatch(f"{what}: the call succeeded, want {code.name} {reason}")


def run(auth, resources):
    email = f"py-{uuid.uuid4().hex[:12]}@example.com"
    password = "correct horse battery"

    user = auth.Register(auth_pb.RegisterRequest(email=email, password=password, name="Py Thon"), timeout=TIMEOUT)
    expect("registered email", user.email, email)

    login = auth.Login(auth_pb.LoginRequest(email=email, password=password), timeout=TIMEOUT)
    expect("logged-in user id", login.user.id, user.id)
    token = login.tokens.access_token

    title = "Grüße aus Köln — 東京 🦀 ½"
    content = "line one\nzwei: ü, 二, 🚀"
    created = resources.CreateResource(
        resource_pb.CreateResourceRequest(title=title, content=content), metadata=bearer(token), timeout=TIMEOUT
    )
    expect("created title", created.title, title)
    expect("created owner", created.owner_id, user.id)

    page = resources.ListResources(
        resource_pb.ListResourcesRequest(page_size=100), metadata=bearer(token), timeout=TIMEOUT
    )
    listed = [r for r in page.resources if r.id == created.id]
    expect("resources listed with the created id", len(listed), 1)
    expect("listed title", listed[0].title, title)
    expect("listed content", listed[0].content, content)

    bad_token = expect_error(
        "ListResources with a bad token",
        lambda: resources.ListResources(
            resource_pb.ListResourcesRequest(), metadata=bearer("not-a-token"), timeout=TIMEOUT
        ),
        grpc.StatusCode.UNAUTHENTICATED,
        "INVALID_TOKEN",
    )
    wrong_password = expect_error(
        "Login with a wrong password",
        lambda: auth.Login(auth_pb.LoginRequest(email=email, password="wrong password!"), timeout=TIMEOUT),
        grpc.StatusCode.UNAUTHENTICATED,
        "INVALID_CREDENTIALS",
    )
    return (
        f"ok: user {user.id} registered and logged in; resource {created.id} created and listed back "
        f"with its title {title!r}; bad token -> {bad_token}; wrong password -> {wrong_password}"
    )


def main():
    with grpc.insecure_channel(ARGS.auth) as auth_channel, grpc.insecure_channel(ARGS.resource) as resource_channel:
        try:
            print(run(auth_grpc.AuthServiceStub(auth_channel), resource_grpc.ResourceServiceStub(resource_channel)))
        except Mismatch as mismatch:
            print(f"FAILED: {mismatch}", file=sys.stderr)
            return 1
        except grpc.RpcError as error:
            print(f"FAILED: unexpected error {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
