"""What a consent record may hold about the adult and the consent text (docs/privacy.md,
"What is kept about the adult"): checked before anything is written, so a refused request
neither records nor supersedes a consent.

- `adult_name`: optional, as the adult wants to be known to the school ("Ms Kim", "김민지"),
  1 to 128 characters after trimming surrounding spaces, in NFC. Letters, marks, digits,
  punctuation, symbols and spaces only: no control characters (NUL, newlines), no
  bidirectional overrides or isolates (they make a stored name display as something else), no
  unpaired surrogates, private-use or unassigned code points. ZWNJ and ZWJ are allowed: names
  in Persian or Indic scripts need them.
- `policy_version`: 1 to 32 of `A-Z a-z 0-9 . _ -` (e.g. "2026-11"), the version of the text.
"""
from __future__ import annotations

import re
import unicodedata

ADULT_NAME_MAX_LEN = 128
_JOINERS = {"\u200c", "\u200d"}  # ZWNJ, ZWJ: part of how some scripts write names
_REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_POLICY_VERSION = re.compile(r"[A-Za-z0-9._-]{1,32}", re.ASCII)


class InvalidConsentField(ValueError):
    """A name or policy version that cannot be kept; the message says why, without the value."""


def check_adult_name(name: str | None) -> str | None:
    """The name as it is kept (NFC, trimmed), None for no name; InvalidConsentField if it
    breaks the rule above."""
    if name is None:
        return None
    if not isinstance(name, str):
        raise InvalidConsentField("name must be text")
    for ch in name:
        if ch not in _JOINERS and unicodedata.category(ch) in _REFUSED_CATEGORIES:
            raise InvalidConsentField(
                f"name must not contain control, format or unassigned characters "
                f"(found U+{ord(ch):04X})")
    kept = unicodedata.normalize("NFC", name).strip(" ")
    if not kept.strip():
        raise InvalidConsentField("name must not be empty or only spaces (leave it out instead)")
    if len(kept) > ADULT_NAME_MAX_LEN:
        raise InvalidConsentField(f"name must be at most {ADULT_NAME_MAX_LEN} characters")
    return kept


def check_policy_version(version: str) -> str:
    """`version` if it is 1 to 32 of A-Z a-z 0-9 . _ -, else InvalidConsentField."""
    if not isinstance(version, str) or _POLICY_VERSION.fullmatch(version) is None:
        raise InvalidConsentField("policy_version must be 1 to 32 of A-Z a-z 0-9 . _ -")
    return version
