import numpy as np
import pytest

from churnml.modeling.calibration import Calibrator, expected_calibration_error, reliability_table


def _miscalibrated(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    true_p = rng.uniform(0.01, 0.5, n)
    y = (rng.uniform(size=n) < true_p).astype(int)
    raw = np.clip(true_p * 1.8, 0, 1)  # systematically overconfident scores
    return raw, y


@pytest.mark.parametrize("method", ["auto", "isotonic", "sigmoid"])
def test_calibration_lowers_ece_on_held_out_rows(method):
    raw_fit, y_fit = _miscalibrated(seed=1)
    raw_eval, y_eval = _miscalibrated(seed=2)
    cal = Calibrator(method).fit(raw_fit, y_fit)
    before = expected_calibration_error(y_eval, raw_eval)
    after = expected_calibration_error(y_eval, cal.transform(raw_eval))
    assert before > 0.05
    assert after < before / 3


@pytest.mark.parametrize("method", ["auto", "isotonic", "sigmoid"])
def test_round_trip_through_plain_data(method):
    raw, y = _miscalibrated()
    cal = Calibrator(method).fit(raw, y)
    again = Calibrator.from_dict(cal.to_dict())
    assert again.to_dict() == cal.to_dict()
    probe = np.linspace(0, 1, 101)
    np.testing.assert_array_equal(cal.transform(probe), again.transform(probe))


def test_calibration_is_monotone_and_bounded():
    raw, y = _miscalibrated()
    out = Calibrator("isotonic").fit(raw, y).transform(np.linspace(-1, 2, 500))
    assert np.all(np.diff(out) >= 0) and out.min() >= 0 and out.max() <= 1


def test_too_few_rows_gives_identity():
    cal = Calibrator(min_samples=200).fit(np.array([0.1, 0.9]), np.array([0, 1]))
    assert cal.to_dict()["method"] == "identity"
    np.testing.assert_array_equal(cal.transform(np.array([0.3])), [0.3])


def test_bad_calibrator_data_is_refused():
    with pytest.raises(ValueError, match="sorted"):
        Calibrator.from_dict({"method": "isotonic", "x": [0.5, 0.1], "y": [0.1, 0.2]})


def test_ece_and_reliability_table():
    y = np.array([0, 0, 1, 1])
    assert expected_calibration_error(y, np.array([0.0, 0.0, 1.0, 1.0]), bins=2) == 0.0
    assert expected_calibration_error(y, np.array([1.0, 1.0, 0.0, 0.0]), bins=2) == 1.0
    table = reliability_table(y, np.array([0.1, 0.2, 0.8, 0.9]), bins=2)
    assert table["observed"] == [0.0, 1.0] and table["count"] == [2, 2]


def test_a_few_extreme_churners_do_not_make_certainty():
    rng = np.random.default_rng(3)
    raw = rng.uniform(0, 0.3, 5000)
    y = (rng.uniform(size=5000) < raw).astype(int)
    raw[:5], y[:5] = 0.99, 1  # five top scores that all churned
    out = Calibrator("isotonic", min_bin=50).fit(raw, y).transform(np.array([0.99]))
    assert out[0] < 0.9


def _calibrated(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    raw = rng.beta(0.5, 10.0, n)  # churn-like: mostly small probabilities, already calibrated
    return raw, (rng.uniform(size=n) < raw).astype(int)


def test_auto_fixes_miscalibrated_scores():
    raw, y = _miscalibrated(seed=1)
    cal = Calibrator("auto").fit(raw, y)
    assert cal.method_ in ("sigmoid", "isotonic")
    assert min(cal.cv_log_loss_["sigmoid"], cal.cv_log_loss_["isotonic"]) < cal.cv_log_loss_["identity"]


def test_auto_does_not_pay_for_a_map_that_calibrated_scores_do_not_need():
    raw, y = _calibrated(seed=1)
    raw_eval, y_eval = _calibrated(seed=2)
    cal = Calibrator("auto").fit(raw, y)
    assert set(cal.cv_log_loss_) == {"identity", "sigmoid", "isotonic"}
    # Whatever it keeps, it is no worse on fresh rows than leaving the scores alone.
    chosen = _log_loss(y_eval, cal.transform(raw_eval))
    assert chosen <= _log_loss(y_eval, raw_eval) + 1e-3
    assert cal.cv_log_loss_[cal.method_] == min(cal.cv_log_loss_.values())


def test_auto_is_deterministic():
    raw, y = _miscalibrated(seed=3)
    assert Calibrator("auto").fit(raw, y).to_dict() == Calibrator("auto").fit(raw, y).to_dict()


def _log_loss(y, p):
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@pytest.mark.parametrize("method", ["auto", "isotonic", "sigmoid"])
def test_relevel_takes_the_level_from_history_and_keeps_the_ranking(method):
    """One unusual tuning month (churn 30% below normal) must not set every probability's level."""
    rng = np.random.default_rng(3)
    true_p = rng.uniform(0.01, 0.2, 20_000)
    raw = true_p.copy()
    quiet_month = (rng.uniform(size=len(true_p)) < true_p * 0.7).astype(int)
    history = (rng.uniform(size=len(true_p)) < true_p).astype(int)
    cal = Calibrator(method).fit(raw, quiet_month)
    assert cal.transform(raw).mean() == pytest.approx(quiet_month.mean(), rel=0.05)
    cal.relevel(raw, history)
    p = cal.transform(raw)
    assert p.mean() == pytest.approx(history.mean(), rel=1e-3)
    assert (np.diff(p[np.argsort(raw)]) >= -1e-12).all()  # a monotone map stays monotone
    again = Calibrator.from_dict(cal.to_dict())
    np.testing.assert_allclose(again.transform(raw), p)


def test_relevel_refuses_a_non_finite_shift_from_plain_data():
    raw, y = _miscalibrated()
    data = Calibrator("sigmoid").fit(raw, y).to_dict() | {"level_shift": float("inf")}
    with pytest.raises(ValueError, match="level_shift"):
        Calibrator.from_dict(data)


@pytest.mark.parametrize(
    "data",
    [
        {"method": "isotonic", "x": [0.0, 0.5, 1.0], "y": [0.0, 0.5, 8.0]},  # a "probability" of 8
        {"method": "isotonic", "x": [0.0, 0.5, 1.0], "y": [0.6, 0.2, 0.9]},  # not monotone
        {"method": "sigmoid", "slope": float("inf"), "intercept": 0.0},  # everyone 0 or 1
        {"method": "sigmoid", "slope": -1.0, "intercept": 0.0},  # ranks backwards
    ],
)
def test_an_edited_calibrator_is_refused(data):
    with pytest.raises(ValueError):
        Calibrator.from_dict(data)
