"""The book by grade and against its limits, on a hand-built book."""

from __future__ import annotations

from decimal import Decimal as D

from services.scoring.domain.portfolio import AgainstLimits, GradeLine, Position, against_limits, by_grade

BOOK = [
    Position("A", D("50000.00"), D("100000.00")),  # half used
    Position("A", D("80000.00"), D("100000.00")),  # 80 %: near its limit
    Position("C", D("120000.00"), D("100000.00")),  # over by 20,000
    Position("C", D("0.00"), None),  # nothing owed, no limit: not exposed
    Position("E", D("5000.00"), None),  # exposed without a limit
    Position(None, D("700.00"), None),  # not rated yet
    Position("B", D("1.00"), D("0.00")),  # a limit of zero: over by 1
]


def test_each_grade_has_a_line_even_empty_and_the_unrated_come_last() -> None:
    assert by_grade(BOOK) == [
        GradeLine("A", 2, D("130000.00"), D("200000.00")),
        GradeLine("B", 1, D("1.00"), D("0.00")),
        GradeLine("C", 2, D("120000.00"), D("100000.00")),
        GradeLine("D", 0, D("0"), D("0")),
        GradeLine("E", 1, D("5000.00"), D("0")),
        GradeLine(None, 1, D("700.00"), D("0")),
    ]


def test_limits_are_counted_used_near_and_over() -> None:
    assert against_limits(BOOK) == AgainstLimits(
        with_limit=4,
        limits=D("300000.00"),
        exposure_with_limit=D("250001.00"),
        over_limit=2,
        over_limit_excess=D("20001.00"),
        near_limit=1,
        without_limit=2,
        exposure_without_limit=D("5700.00"),
    )
