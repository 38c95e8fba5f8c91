"""One rule for player ids (game.ids), the same in the protocol's `hello` and in code that
checks ids directly: 8 to 64 characters of A-Z a-z 0-9 _ -, nothing else."""
from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from game.ids import InvalidPlayerId, check_player_id, is_player_id
from server.protocol import PlayerId

ALLOWED = set(string.ascii_letters + string.digits + "_-")
PROTOCOL = TypeAdapter(PlayerId)
# What the issue found accepted, and neighbours of the rule's edges.
REFUSED = ["..", "x", "😀" * 8, "abc\x00defgh", "abcd efgh\u202eij", "kid-0001\n", "\nkid-0001",
           "a" * 7, "a" * 65, "kid/../../x", "kid.0001", "kïd-0001", "ｋｉｄ－０００１", "kid-٠١٢٣٤٥",
           ""]
ACCEPTED = ["a" * 8, "A" * 64, "kid-0001", "___-----", "0123456789"]


def by_the_rule(value: str) -> bool:
    """The rule written out, independently of the module's regular expression."""
    return 8 <= len(value) <= 64 and all(c in ALLOWED for c in value)


def protocol_accepts(value: str) -> bool:
    try:
        PROTOCOL.validate_python(value)
    except ValidationError:
        return False
    return True


@pytest.mark.parametrize("value", REFUSED)
def test_ids_the_protocol_forbids_are_refused_everywhere(value):
    assert not is_player_id(value) and not protocol_accepts(value)
    with pytest.raises(InvalidPlayerId) as e:
        check_player_id(value)
    assert value not in str(e.value) or value == ""  # the rule is told, the value not echoed


@pytest.mark.parametrize("value", ACCEPTED)
def test_valid_ids_are_accepted_everywhere(value):
    assert is_player_id(value) and protocol_accepts(value) and check_player_id(value) == value


@given(st.one_of(st.text(max_size=80),
                 st.text(alphabet=sorted(ALLOWED) + ["\n", " ", ".", "é", "\x00"], max_size=70)))
def test_the_protocol_and_the_shared_validator_agree_with_the_rule(value):
    assert is_player_id(value) == protocol_accepts(value) == by_the_rule(value)


def test_non_strings_are_not_player_ids():
    for value in (None, 12345678, b"kid-0001", ["kid-0001"]):
        assert not is_player_id(value)
