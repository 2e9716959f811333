"""Masking of personal data before it is stored in job state or shown on a job page."""

import re

# Any local part a validator accepts (unicode, apostrophes, +tags), stopping at spaces and markup.
_EMAIL = re.compile(r"[^\s@<>()\[\],;:\"]+@[\w.\-]+\.\w{2,}")


def mask_email(email: str) -> str:
    """`jane@example.com` -> `j***@example.com`: enough for its owner to recognise, little for anyone else."""
    local, at, domain = email.partition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_emails_in(text: str) -> str:
    """Masks every email address inside free text, such as a provider's error message."""
    return _EMAIL.sub(lambda match: mask_email(match.group(0)), text)
