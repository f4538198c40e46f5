"""bench.sizing's pure parts: the least-squares line and the /proc status fields it reads."""

from __future__ import annotations

import pytest

from bench.sizing import fit_line, sizing_table, status_bytes

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


def test_the_table_rows_are_the_chart_readmes() -> None:
    run = {"store": "etcd", "agents": 10000, "rss_mib": 249.0, "hwm_mib": 330.9, "accepted": 29306.0,
           "cpu_cores": 0.56, "cpu_ms_per_report": 0.671, "etcd_rss_mib": 125.8,
           "etcd_cpu_ms_per_report": None}  # fmt: skip
    table = sizing_table({"etcd": {"runs": [run]}})
    assert table.splitlines()[2] == "| etcd | 10,000 | 249.0 | 330.9 | 29,306 | 0.560 | 0.671 | 125.8 |  |"
