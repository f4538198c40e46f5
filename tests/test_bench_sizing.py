"""bench.sizing's pure parts: the least-squares line and the /proc status fields it reads."""

from __future__ import annotations

import pytest

from bench.sizing import fit_line, status_bytes

STATUS = "Name:\tpython\nVmPeak:\t  900000 kB\nVmHWM:\t  329216 kB\nVmRSS:\t  266240 kB\n"


def test_a_line_through_exact_points_is_found_again() -> None:
    fit = fit_line([(1000, 80.0), (5000, 180.0), (10000, 305.0)])
    assert fit.slope == pytest.approx(0.025)
    assert fit.intercept == pytest.approx(55.0)
    assert fit.at(2000) == pytest.approx(105.0)


def test_the_fit_minimises_squares_over_noisy_points() -> None:
    fit = fit_line([(0, 1.0), (1, 1.0), (2, 4.0)])
    assert (fit.intercept, fit.slope) == (pytest.approx(0.5), pytest.approx(1.5))


def test_a_line_needs_two_sizes() -> None:
    with pytest.raises(ValueError, match="two different sizes"):
        fit_line([(1000, 80.0), (1000, 90.0)])


@pytest.mark.parametrize(("field", "expected"), [("VmHWM", 329216 * 1024), ("VmRSS", 266240 * 1024)])
def test_status_fields_are_read_in_bytes(field: str, expected: int) -> None:
    assert status_bytes(STATUS, field) == expected


def test_a_missing_status_field_is_an_error() -> None:
    with pytest.raises(ValueError, match="no VmSwap line"):
        status_bytes(STATUS, "VmSwap")
