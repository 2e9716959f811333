"""Dramatiq's private API is used in one module, written against one release: an upgrade must start there."""

from __future__ import annotations

import ast
from pathlib import Path

import dramatiq

from handoff import dramatiq_internals

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("handoff", "webapp", "tasks", "sandbox", "devtools")
INTERNALS = PROJECT_ROOT / "handoff" / "dramatiq_internals.py"

#: Attributes of Dramatiq's Redis broker and consumer that are not part of its documented API.
PRIVATE_ATTRIBUTES = {
    "message_cache",
    "queued_message_ids",
    "do_ack",
    "do_nack",
    "do_fetch",
    "do_requeue",
    "do_enqueue",
}


def test_the_installed_dramatiq_is_the_release_the_internals_were_written_against() -> None:
    # When this fails: read every name in handoff/dramatiq_internals.py against the new release's
    # brokers/redis.py and brokers/redis/dispatch.lua, then update WRITTEN_FOR and the pin in pyproject.toml.
    assert dramatiq.__version__ == dramatiq_internals.WRITTEN_FOR


def test_the_dispatch_script_still_speaks_the_protocol_admission_sends() -> None:
    # admit.lua calls dispatch.lua's "enqueue" with the argument order enqueue_dispatch_args builds
    script = dramatiq_internals.DISPATCH_SCRIPT
    header = "args=[command, timestamp, queue_name, worker_id, heartbeat_timeout, dead_message_ttl, do_maintenance"
    assert header in script
    assert 'command == "enqueue"' in script
    args = dramatiq_internals.enqueue_dispatch_args(
        queue_name="default", worker_id="w", heartbeat_timeout_ms=1, redis_message_id="r", encoded_message=b"m"
    )
    assert args[0] == "enqueue" and args[2:4] == ["default", "w"] and args[-2:] == ["r", b"m"]


def _private_uses(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dramatiq"):
            uses += [f"{path.name}:{node.lineno} imports {alias.name}" for alias in node.names if alias.name[0] == "_"]
        elif isinstance(node, ast.Attribute) and node.attr in PRIVATE_ATTRIBUTES:
            uses.append(f"{path.name}:{node.lineno} uses .{node.attr}")
    return uses


def test_no_module_but_the_internals_touches_dramatiqs_private_api() -> None:
    # Given every module of the project but the one that is allowed to
    modules = [path for package in PACKAGES for path in (PROJECT_ROOT / package).rglob("*.py") if path != INTERNALS]

    # Then none imports a private name from Dramatiq or reaches into its broker's private attributes
    assert modules
    assert [use for path in modules for use in _private_uses(path)] == []
    # and the internals module itself does (so the check above looks for the right things)
    assert _private_uses(INTERNALS)
