"""The sentence a job page shows when a try fails: in words a person understands, never a traceback or an address."""

from __future__ import annotations

from collections.abc import Iterator

import dramatiq
import pytest
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import TimeLimitExceeded

from handoff.job_kinds import SEND_TEST_WEBHOOK, SUBSCRIBE_EMAIL
from handoff.jobs import JobFields
from tasks.actors.job_actor import job_actor
from tasks.job_state.describe import describe_error
from tasks.job_state.middleware import JobStateMiddleware
from tasks.providers.errors import PermanentError, TransientError


def test_a_transient_error_is_described_by_its_reason_with_addresses_masked() -> None:
    error = TransientError("The email provider could not reach jane@example.com's list (503).")

    assert describe_error(error) == "The email provider could not reach j***@example.com's list (503)."


def test_a_permanent_error_is_described_by_its_reason_with_addresses_masked() -> None:
    error = PermanentError("The email provider refused the address: jane@example.com looks fake or invalid.")

    assert describe_error(error) == "The email provider refused the address: j***@example.com looks fake or invalid."


def test_a_job_stopped_by_the_time_limit_says_it_took_too_long() -> None:
    assert describe_error(TimeLimitExceeded()) == "The job took too long and was stopped."


@pytest.mark.parametrize(
    "exception",
    [
        ValueError("invalid literal for int() with base 10: 'jane@example.com'"),
        KeyError("api_key=secret-us21"),
        RuntimeError('Traceback (most recent call last):\n  File "x.py", line 1'),
    ],
)
def test_an_unexpected_exception_gives_a_sentence_without_its_message(exception: Exception) -> None:
    # Given an exception nobody planned for, whose message may hold a traceback, a secret or an address
    # When it is described
    sentence = describe_error(exception)

    # Then the page gets a plain sentence naming only the kind of error
    assert sentence == f"Something unexpected went wrong ({type(exception).__name__})."


class NoStore:
    def update(self, job_id: str, fields: JobFields, *, count: str = "") -> None: ...

    def flush(self) -> None: ...


@pytest.fixture
def stub_broker() -> Iterator[StubBroker]:
    broker = StubBroker()  # Dramatiq's default middleware, Retries among them
    broker.add_middleware(JobStateMiddleware(store=NoStore()))
    yield broker
    broker.close()


def test_a_provider_error_knows_nothing_of_dramatiq() -> None:
    assert not issubclass(TransientError, dramatiq.Retry)
    assert not issubclass(PermanentError, dramatiq.Retry)


def test_a_transient_error_in_a_job_actor_asks_dramatiq_to_retry_after_the_providers_delay(
    stub_broker: StubBroker,
) -> None:
    # Given an actor whose provider asks to slow down for 2 s
    @job_actor(SUBSCRIBE_EMAIL, broker=stub_broker)
    def subscribe_email(email: str) -> None:
        raise TransientError("Slow down (429).", retry_after_ms=2_000)

    # When it runs, Dramatiq's Retries sees a Retry whose delay is the provider's, with the same reason
    with pytest.raises(dramatiq.Retry) as raised:
        subscribe_email.fn("jane@example.com")

    assert raised.value.delay == 2_000
    assert describe_error(raised.value) == "Slow down (429)."
    assert isinstance(raised.value.__cause__, TransientError)


def test_a_transient_error_without_retry_after_leaves_the_backoff_to_dramatiq(stub_broker: StubBroker) -> None:
    @job_actor(SUBSCRIBE_EMAIL, broker=stub_broker)
    def subscribe_email(email: str) -> None:
        raise TransientError("The email provider did not answer in time.")

    with pytest.raises(dramatiq.Retry) as raised:
        subscribe_email.fn("jane@example.com")

    assert raised.value.delay is None


def test_a_job_actor_is_declared_from_its_kind(stub_broker: StubBroker) -> None:
    # Given the kind the web enqueues by name, queue and retry budget
    @job_actor(SEND_TEST_WEBHOOK, broker=stub_broker)
    def send_test_webhook(app_url: str, email: str) -> None: ...

    # Then the actor answers to that name, on that queue, with that budget, failing at once on a PermanentError
    assert stub_broker.get_actor("send_test_webhook") is send_test_webhook
    assert send_test_webhook.queue_name == SEND_TEST_WEBHOOK.queue_name
    assert send_test_webhook.options["max_retries"] == SEND_TEST_WEBHOOK.max_retries
    assert send_test_webhook.options["throws"] == (PermanentError,)
