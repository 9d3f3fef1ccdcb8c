"""The sparkline paths of the monitoring page: exact SVG path data for the shapes a Prometheus series takes."""

from __future__ import annotations

import math

from mks.pages.charts import HEIGHT, MARGIN, WIDTH, sparkline, sparkline_path

NAN = math.nan
# Four steps of a minute: x is 2, 54, 106 and 158 at 0, 60, 120 and 180 s (the margin of 2 on each side).
START, END, STEP = 1_700_000_000.0, 1_700_000_180.0, 60.0


def at(*values: float) -> list[tuple[float, float]]:
    return [(START + index * STEP, value) for index, value in enumerate(values)]


def test_the_view_box_leaves_room_for_the_stroke() -> None:
    assert (WIDTH, HEIGHT, MARGIN) == (160, 40, 2)


def test_an_empty_series_draws_nothing() -> None:
    assert sparkline_path([], START, END, STEP) == ""


def test_a_series_of_nan_only_draws_nothing() -> None:
    assert sparkline_path(at(NAN, NAN), START, END, STEP) == ""


def test_one_point_is_a_dot_at_its_time_and_at_the_top() -> None:
    assert sparkline_path([(END, 7.0)], START, END, STEP) == "M158,2 h0"


def test_a_flat_series_lies_at_the_top_and_a_flat_zero_on_the_bottom() -> None:
    assert sparkline_path(at(7, 7, 7, 7), START, END, STEP) == "M2,2 L54,2 L106,2 L158,2"
    assert sparkline_path(at(0, 0, 0, 0), START, END, STEP) == "M2,38 L54,38 L106,38 L158,38"


def test_values_scale_from_zero_at_the_bottom_to_the_highest_at_the_top() -> None:
    assert sparkline_path(at(0, 5, 10, 2.5), START, END, STEP) == "M2,38 L54,20 L106,2 L158,29"


def test_nan_breaks_the_line_and_leaves_a_lone_point_as_a_dot() -> None:
    assert sparkline_path(at(1, NAN, 4, 2), START, END, STEP) == "M2,29 h0 M106,2 L158,20"


def test_a_missing_step_breaks_the_line_and_infinity_is_left_out() -> None:
    points = [(START, 1.0), (START + 60, 2.0), (START + 120, math.inf), (START + 180, 4.0)]
    assert sparkline_path(points, START, END, STEP) == "M2,29 L54,20 M158,2 h0"
    assert sparkline_path([(START, 1.0), (START + 60, 2.0), (START + 180, 4.0)], START, END, STEP) == (
        "M2,29 L54,20 M158,2 h0"
    )


def test_points_outside_the_window_stay_inside_the_view_box() -> None:
    assert sparkline_path([(START - 60, 1.0), (START, 1.0)], START, END, STEP) == "M2,2 L2,2"


def test_the_label_states_the_latest_finite_value_or_that_there_is_no_data() -> None:
    chart = sparkline("リクエスト数（毎秒）", at(6.15, 12.3, NAN), START, END, STEP, lambda value: f"{value:.1f}")
    assert chart.latest == "12.3"
    assert chart.label == "過去1時間のリクエスト数（毎秒）。最新 12.3"
    assert chart.path == "M2,20 L54,2"
    empty = sparkline("アクティブユーザー", [], START, END, STEP, lambda value: f"{value:.0f}人")
    assert (empty.latest, empty.label, empty.path) == (None, "過去1時間のアクティブユーザー。データなし", "")
