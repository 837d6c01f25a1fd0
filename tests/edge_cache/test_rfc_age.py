"""RFC 9111 §5.1 (Age) read from the RFC text, with §4.2.3 (calculating age).

§5.1: "Age = delta-seconds". "Although it is defined as a singleton header field, a cache
encountering a message with a list-based Age field value SHOULD use the first member of the
field value, discarding subsequent ones. If the field value (after discarding additional
members, as per above) is invalid (e.g., it contains something other than a non-negative
integer), a cache SHOULD ignore the field."
"""

from __future__ import annotations

import pytest
from edge_cache.freshness import initial_age, parse_age

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import Sidecar


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("0", 0.0),
        ("7200", 7200.0),
        (" 7200 ", 7200.0),
        ("7200, 0", 7200.0),  # list-based: the first member
        ("0, 7200", 0.0),
        ("7200,0", 7200.0),
        ("abc", None),  # non-numeric
        ("-7200", None),  # negative
        ("+7200", None),
        ("7200.0", None),  # a float
        ("7200;unit=s", None),  # with a parameter
        ("7200 s", None),
        ("\u0667\u0662\u0660\u0660", None),  # non-ASCII digits are not DIGIT
        ("99999999999999", 2147483648.0),  # §1.2.2: capped at 2^31
    ],
)
def test_age_field_value(value: str | None, expected: float | None) -> None:
    assert parse_age(value) == expected


def test_an_ignored_age_leaves_the_apparent_age() -> None:
    # §4.2.3: corrected_initial_age = max(apparent_age, corrected_age_value)
    assert initial_age(age_header="abc", date=100.0, request_time=100.0, response_time=130.0) == 30
    assert initial_age(age_header="60", date=100.0, request_time=129.0, response_time=130.0) == 61


# (Age lines sent by the origin, reused from the cache on the next request?)
# max-age=3600: an Age of 7200 makes the response stale at once; an ignored Age does not.
CASES = [
    ("nonnumeric", ["abc"], True),
    ("negative", ["-7200"], True),
    ("float", ["7200.0"], True),
    ("parameter", ["7200;foo=bar"], True),
    ("suffix", ["7200,0"], False),
    ("suffix-twoline", ["7200", "0"], False),
    ("prefix", ["0,7200"], True),
    ("prefix-twoline", ["0", "7200"], True),
    ("dup-0", ["0, 0"], True),
    ("dup-old", ["7200, 7200"], False),
    ("dup-old-twoline", ["7200", "7200"], False),
]


@pytest.mark.parametrize(("name", "ages", "reused"), CASES, ids=[c[0] for c in CASES])
async def test_age_parsing_on_the_wire(
    sidecar: Sidecar, origin: ScriptedOrigin, name: str, ages: list[str], reused: bool
) -> None:
    path = f"/age/{name}"
    headers = [("Cache-Control", "max-age=3600"), *(("Age", a) for a in ages)]
    origin.route(path, headers=headers, body=b"aged")
    first = await sidecar.get(path)
    assert (first.status, first.cache) == (200, "MISS")
    second = await sidecar.get(path)
    if reused:
        assert (second.cache, second.age) == ("HIT", 0)
        assert second.headers.getall("Age") == ["0"]  # one Age, the cache's own (§4.2.3)
        assert origin.count(path) == 1
    else:
        assert second.cache == "EXPIRED"
        assert origin.count(path) == 2
