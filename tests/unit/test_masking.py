"""Email addresses are masked before they reach job state or a job page."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handoff.masking import mask_email, mask_emails_in


@pytest.mark.parametrize(
    ("email", "masked"),
    [
        ("jane@example.com", "j***@example.com"),
        ("Jane.Doe+news@mail.example.org", "J***@mail.example.org"),
        ("j@example.com", "j***@example.com"),
    ],
)
def test_mask_email_keeps_the_first_letter_and_the_domain(email: str, masked: str) -> None:
    # Given an address / When it is masked / Then its owner can recognise it, nobody else can read it
    assert mask_email(email) == masked


@pytest.mark.parametrize("not_an_email", ["", "jane", "jane.example.com", "   "])
def test_mask_email_hides_everything_of_a_value_without_an_at_sign(not_an_email: str) -> None:
    # Given something that is not an address / When it is masked / Then nothing of it shows
    assert mask_email(not_an_email) == "***"


def test_mask_email_of_an_address_with_an_empty_local_part_shows_only_the_domain() -> None:
    assert mask_email("@example.com") == "***@example.com"


def test_mask_emails_in_masks_every_address_in_a_sentence() -> None:
    # Given a provider's message naming two addresses
    text = "jane@example.com is already subscribed; bob.smith@mail.example.org was not."

    # When it is masked
    masked = mask_emails_in(text)

    # Then both addresses are masked and the rest of the sentence is untouched
    assert masked == "j***@example.com is already subscribed; b***@mail.example.org was not."


@pytest.mark.parametrize(
    "text",
    ["", "The provider is down (503).", "Meet me @ noon", "a @ b.com"],
)
def test_mask_emails_in_leaves_text_without_an_address_unchanged(text: str) -> None:
    assert mask_emails_in(text) == text


def test_mask_emails_in_masks_an_address_inside_punctuation_and_markup() -> None:
    masked = mask_emails_in("Refused: <jane@example.com>, (JOE@EXAMPLE.COM).")

    assert masked == "Refused: <j***@example.com>, (J***@EXAMPLE.COM)."


@pytest.mark.parametrize("address", ["josé@example.com", "jane.o'neil@example.com"])
def test_mask_emails_in_masks_addresses_with_characters_beyond_ascii_letters(address: str) -> None:
    # Given a provider's error that repeats an address the subscribe form accepted
    masked = mask_emails_in(f"{address} looks fake or invalid.")

    # Then the local part does not show beyond its first letter
    assert masked == f"{address[0]}***@example.com looks fake or invalid."


def test_mask_emails_in_masks_a_url_encoded_address_in_an_access_log_line() -> None:
    # Given the access log line of a console search for an address, as a browser encodes it
    masked = mask_emails_in('127.0.0.1:5 - "GET /ops/jobs?state=failed&q=jane%40example.com HTTP/1.1" 200')

    # Then the route and the other filters still show, the address does not
    assert masked == '127.0.0.1:5 - "GET /ops/jobs?state=failed&q=j***%40example.com HTTP/1.1" 200'


# Linear time, shown on 1 MB inputs: a quadratic masker takes an hour on these, this one well under a second.
MEGABYTE = 1_000_000
#: Pieces of text with no address in them, however they are strung together: at signs (raw and URL-encoded)
#: but no dot, or dots but no at sign. Delimiters are rare, so runs are long.
NO_DOT = ["a", "Zé", "9", "_", "-", "'", "+", "/", "=", "?", "&", "@", "@@", "%40", "%2B", "x@y", " ", "<", ","]
NO_AT_SIGN = ["a", "Zé", "9", "_", "-", "'", "+", "/", "=", ".", "..", "b.co", "%2E", "0", " ", ">", ";"]
# ...and `%4`, which makes a `%40` with a following `0`.
ANY_PIECE = sorted(set(NO_DOT) | set(NO_AT_SIGN) | {"%4"})
LOCAL_PART = st.text(alphabet="abcdeéxyzJQ0123456789._+-'", min_size=1, max_size=20)
LABEL = st.text(alphabet="abcdexyz0123456789-", min_size=1, max_size=10)
TOP_LEVEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=6)
DOMAIN = st.builds(lambda labels, top: ".".join([*labels, top]), st.lists(LABEL, min_size=1, max_size=3), TOP_LEVEL)
ADDRESS = st.builds(
    lambda local, sign, domain: f"{local}{sign}{domain}", LOCAL_PART, st.sampled_from(["@", "%40"]), DOMAIN
)
ONE_MB_EXAMPLES = settings(max_examples=8, deadline=10_000, suppress_health_check=[HealthCheck.too_slow])


def _megabyte_of(pieces: list[str]) -> str:
    """A pattern of a few pieces, repeated to 1 MB: one long adversarial run or many short ones."""
    unit = "".join(pieces)
    return (unit * (MEGABYTE // len(unit) + 1))[:MEGABYTE]


@ONE_MB_EXAMPLES
@given(
    pieces=st.one_of(
        st.lists(st.sampled_from(NO_DOT), min_size=1, max_size=12),
        st.lists(st.sampled_from(NO_AT_SIGN), min_size=1, max_size=12),
    )
)
def test_a_megabyte_without_an_address_comes_back_unchanged(pieces: list[str]) -> None:
    text = _megabyte_of(pieces)

    assert mask_emails_in(text) == text


@ONE_MB_EXAMPLES
@given(
    pieces=st.lists(st.sampled_from(ANY_PIECE), min_size=1, max_size=12),
    addresses=st.lists(ADDRESS, min_size=1, max_size=6),
    data=st.data(),
)
def test_every_address_in_a_megabyte_is_masked_wherever_it_sits(
    pieces: list[str], addresses: list[str], data: st.DataObject
) -> None:
    # Given 1 MB of adversarial filler with addresses dropped in anywhere, even mid-word or next to each other
    filler = _megabyte_of(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, MEGABYTE), min_size=len(addresses), max_size=len(addresses))))
    text = "".join(
        filler[start:end] + address for start, end, address in zip([0, *cuts[:-1]], cuts, addresses, strict=True)
    )
    text += filler[cuts[-1] :]

    # When it is masked
    masked = mask_emails_in(text)

    # Then no address is left whole
    leaked = [address for address in addresses if address in masked]
    assert not leaked
