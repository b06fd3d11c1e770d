"""ISO 6346 container numbers: known good and bad numbers, and a parser that never surprises."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.iso6346 import check_digit, is_valid, parse_container_no
from wire.errors import ContainerNumberError


@pytest.mark.parametrize("number", ["CSQU3054383", "MWCU6059784", "csqu 305438-3"])
def test_known_good_numbers(number: str) -> None:
    assert parse_container_no(number) == number.upper().replace(" ", "").replace("-", "")


def test_wrong_check_digit_names_the_expected_digit() -> None:
    with pytest.raises(ContainerNumberError, match=r"^CSQU3054384: check digit should be 3$"):
        parse_container_no("CSQU3054384")
    with pytest.raises(ContainerNumberError, match="check digit should be 4"):
        parse_container_no("MWCU6059780")


@pytest.mark.parametrize(
    "number", ["", "CSQU305438", "CSQX3054383", "CS1U3054383", "CSQU30543833", "CSQU305438A",
               "ＣSQU3054383", "CSQU3054383\n\n\x00"],
)  # fmt: skip
def test_malformed_numbers_say_what_a_container_number_is(number: str) -> None:
    with pytest.raises(ContainerNumberError, match="not a container number"):
        parse_container_no(number)
    assert not is_valid(number)


def test_error_is_a_value_error() -> None:
    assert issubclass(ContainerNumberError, ValueError)
    assert check_digit("CSQU305438") == 3


@given(st.text(max_size=80))
def test_parser_raises_only_its_own_value_error(text: str) -> None:
    try:
        result = parse_container_no(text)
    except ContainerNumberError:
        return
    assert len(result) == 11 and result[10] == str(check_digit(result[:10]))


@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=3, max_size=3),
    st.sampled_from("UJZ"),
    st.text(alphabet="0123456789", min_size=6, max_size=6),
)
def test_exactly_one_check_digit_is_valid(owner: str, category: str, serial: str) -> None:
    valid = [d for d in "0123456789" if is_valid(owner + category + serial + d)]
    assert valid == [str(check_digit(owner + category + serial))]
