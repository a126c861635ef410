"""Calibration's arithmetic on inputs whose answer is known by hand: the buckets, their
accuracy and mean confidence, the expected calibration error, and the diagram."""

import io

import pytest

from jobs.devtools.calibration import Calibration, calibrate, format_calibration, reliability_figure


def test_buckets_and_ece_of_a_known_set():
    # 0.9 bucket: 4 records, 3 right (accuracy 0.75, mean 0.95); 0.5 bucket: 2 records, 1 right (0.5 vs 0.54);
    # 0.1 bucket: 4 records, none right (0 vs 0.15).
    scored = [(0.95, True)] * 3 + [(0.95, False)] + [(0.5, True), (0.58, False)] + [(0.15, False)] * 4
    calibration = calibrate(scored)
    filled = {round(b.low, 1): (b.rows, b.correct) for b in calibration.buckets if b.rows}
    assert filled == {0.9: (4, 3), 0.5: (2, 1), 0.1: (4, 0)}
    assert calibration.rows == 10 and calibration.accuracy == pytest.approx(0.4)
    assert calibration.ece == pytest.approx(0.4 * 0.2 + 0.2 * 0.04 + 0.4 * 0.15)
    assert calibrate([(1.0, True)]).buckets[-1].rows == 1, "a confidence of 1 is in the top bucket"


def test_a_perfectly_calibrated_set_has_no_error_and_the_report_round_trips():
    scored = [(0.25, i < 1) for i in range(4)] + [(0.75, i < 3) for i in range(4)]
    calibration = calibrate(scored)
    assert calibration.ece == pytest.approx(0.0)
    again = Calibration.from_dict(calibration.to_dict())
    assert again.to_dict() == calibration.to_dict()
    assert "ECE 0.000" in format_calibration(calibration)
    with pytest.raises(ValueError, match="must be in \\[0, 1\\], got 1.5"):
        calibrate([(1.5, True)])


def test_the_reliability_diagram_draws_accuracy_against_confidence():
    figure = reliability_figure(calibrate([(0.95, True), (0.15, False)]), title="known")
    top, bottom = figure.axes
    assert top.get_title() == "known: reliability (ECE 0.100)"
    assert [round(p.get_height(), 2) for p in top.patches] == [0.0, 1.0]
    assert sorted(p.get_height() for p in bottom.patches)[-2:] == [1, 1]
    png = io.BytesIO()
    figure.savefig(png, format="png")
    assert png.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
