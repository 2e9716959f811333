"""Property-based: whatever headers and bodies arrive at the webhook endpoints, signed or not, the answer is
a reasoned 2xx or 4xx, never a 5xx."""

from __future__ import annotations

import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.webhooks import standard_delivery, stripe_delivery

pytestmark = pytest.mark.integration

PRINTABLE = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=120)
HEADER_NAMES = st.sampled_from(
    ["Stripe-Signature", "webhook-id", "webhook-timestamp", "webhook-signature", "Content-Type", "X-Anything"]
)
SIGNATURE_LIKE = st.one_of(
    PRINTABLE,
    st.builds(lambda t, s: f"t={t},v1={s}", st.integers(-(10**12), 10**12), PRINTABLE),
    st.builds(lambda s: f"v1,{s}", PRINTABLE),
    st.builds(lambda a, b: f"{a} {b}", PRINTABLE, PRINTABLE),
)
# HTTP clients refuse header values with leading whitespace, so none are sent.
HEADER_VALUES = st.one_of(SIGNATURE_LIKE, st.integers(0, 2**40).map(str)).map(str.lstrip)
HEADERS = st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=6)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | PRINTABLE,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(PRINTABLE, children, max_size=4),
    max_leaves=12,
)
EVENT_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(PRINTABLE, JSON_VALUES),
        "type": st.one_of(
            st.sampled_from(["checkout.session.completed", "shipment.delivered"]), PRINTABLE, JSON_VALUES
        ),
        "data": JSON_VALUES,
    },
)
BODIES = st.one_of(st.binary(max_size=600), JSON_VALUES.map(lambda v: json.dumps(v).encode()))
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _assert_reasoned(response: requests.Response) -> None:
    assert response.status_code < 500, response.text
    assert "status" in response.json()


@FUZZ
@given(path=st.sampled_from(["/webhooks/stripe", "/webhooks/fulfilment"]), headers=HEADERS, body=BODIES)
def test_unsigned_garbage_never_gets_a_5xx(web_url: str, path: str, headers: dict[str, str], body: bytes) -> None:
    _assert_reasoned(requests.post(web_url + path, data=body, headers=headers, timeout=10))


@FUZZ
@given(event=st.one_of(EVENT_LIKE, JSON_VALUES), extra=HEADERS)
def test_signed_but_strange_events_never_get_a_5xx(web_url: str, event: object, extra: dict[str, str]) -> None:
    payload = json.dumps(event).encode()
    for delivery in (stripe_delivery(payload), standard_delivery(payload)):
        headers = {**extra, **delivery.headers}
        _assert_reasoned(requests.post(web_url + delivery.path, data=delivery.body, headers=headers, timeout=10))
