"""Email addresses are masked before they reach job state or a job page."""

from __future__ import annotations

import pytest

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
