"""`make run`'s wait for Redis says where it waited, never with the password a managed Redis puts in REDIS_URL."""

from __future__ import annotations

import pytest

from devtools.wait_for_redis import main
from handoff.redis_connections import without_password
from tests.support.processes import free_port


@pytest.mark.parametrize(
    ("url", "printed"),
    [
        (
            "rediss://:p4ssw0rd@ec2-1-2-3-4.compute.amazonaws.com:6380/0",
            "rediss://:***@ec2-1-2-3-4.compute.amazonaws.com:6380/0",
        ),
        ("redis://default:p4ssw0rd@127.0.0.1:6379", "redis://default:***@127.0.0.1:6379"),
        ("redis://127.0.0.1:6391/0", "redis://127.0.0.1:6391/0"),
        ("redis://user@127.0.0.1:6391/0", "redis://user@127.0.0.1:6391/0"),
    ],
)
def test_a_redis_url_is_printed_without_its_password(url: str, printed: str) -> None:
    assert without_password(url) == printed


def test_giving_up_names_the_redis_it_waited_for_without_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a Redis URL with a password where nobody listens
    url = f"redis://:p4ssw0rd@127.0.0.1:{free_port()}/0"

    # When the wait gives up
    assert main(url, timeout_s=0) == 1

    # Then it says where, and not the password
    error = capsys.readouterr().err
    assert "Redis did not answer at redis://:***@127.0.0.1:" in error
    assert "p4ssw0rd" not in error
