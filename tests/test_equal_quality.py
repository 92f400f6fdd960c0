"""Time to equal quality on synthetic error curves, where the answer is known exactly."""

import json
import math

import numpy as np
import pytest

from neuralshade.equal_quality import (
    DEFAULT_LADDER,
    images_error_at,
    mean_error,
    time_to_equal_quality,
)
from neuralshade.errors import ConfigError, InputError


class Curve:
    """error(n) = c / sqrt(n) + floor, 1 ms per sample; counts the evaluations of each n."""

    def __init__(self, c=1.0, floor=0.0):
        self.c, self.floor, self.calls = c, floor, []

    def __call__(self, n):
        self.calls.append(n)
        return self.c / math.sqrt(n) + self.floor, 1e-3 * n


def smallest_passing(curve, target, up_to=1 << 13):
    return next(n for n in range(1, up_to) if curve.c / math.sqrt(n) + curve.floor <= target)


def test_finds_the_exact_n_on_an_inverse_square_root_curve():
    curve = Curve()
    result = time_to_equal_quality(curve, target=0.037)  # (1 / 0.037)² = 730.5
    assert result["samples"] == 731 == smallest_passing(curve, 0.037)
    assert result["reached"]
    assert result["error"] == pytest.approx(1 / math.sqrt(731)) and result["error"] <= 0.037
    assert result["seconds"] == pytest.approx(0.731)
    # eleven rungs, 1 to 1024, then a bisection of (512, 1024): nine more, none twice
    assert len(curve.calls) == len(set(curve.calls)) == 11 + 9


@pytest.mark.parametrize("target", np.random.default_rng(0).uniform(0.016, 1.2, 25))
def test_agrees_with_a_brute_force_search(target):
    curve = Curve(c=0.9)
    result = time_to_equal_quality(curve, target=float(target))
    assert result["samples"] == smallest_passing(curve, target)
    assert result["monotone"]


def test_the_curve_lists_every_evaluation_in_order_of_n():
    curve = Curve()
    result = time_to_equal_quality(curve, target=0.2)
    samples = [point["samples"] for point in result["curve"]]
    assert samples == sorted(set(curve.calls))
    for point in result["curve"]:
        assert point["error"] == pytest.approx(1 / math.sqrt(point["samples"]))
    json.dumps(result)  # JSON-friendly: plain ints, floats and bools


def test_a_target_never_reached_reports_the_best_rung():
    curve = Curve(floor=0.01)
    result = time_to_equal_quality(curve, target=0.005)
    assert not result["reached"]
    assert result["samples"] == DEFAULT_LADDER[-1] == 4096
    assert result["error"] == pytest.approx(1 / 64 + 0.01)
    assert len(result["curve"]) == len(DEFAULT_LADDER)


def test_a_first_rung_that_passes_is_bisected_down_from():
    curve = Curve()
    result = time_to_equal_quality(curve, target=0.3, ladder=[64, 128])
    assert result["samples"] == 12 == smallest_passing(curve, 0.3)


def test_higher_is_better_reaches_from_below():
    def psnr_at(n):
        return 20 + 10 * math.log10(n), 0.0

    result = time_to_equal_quality(psnr_at, target=45.0, higher_is_better=True)
    assert result["samples"] == 317  # 10^2.5 = 316.2
    assert result["reached"] and result["monotone"]


def test_rel_tol_stops_the_bisection_early_within_the_tolerance():
    exact, loose = Curve(), Curve()
    answer = time_to_equal_quality(exact, target=0.037)["samples"]
    result = time_to_equal_quality(loose, target=0.037, rel_tol=0.05)
    assert answer <= result["samples"] <= answer * 1.05 + 1
    assert result["error"] <= 0.037
    assert len(loose.calls) < len(exact.calls)


def test_a_noisy_curve_gives_a_crossing_consistent_with_every_evaluation():
    rng = np.random.default_rng(3)
    noise = {n: rng.normal(0, 0.004) for n in range(1, 5000)}

    def noisy(n):
        return 1 / math.sqrt(n) + noise[n], 0.0

    result = time_to_equal_quality(noisy, target=0.05)
    assert result["reached"]
    for point in result["curve"]:
        passed = point["error"] <= 0.05
        assert passed == (point["samples"] >= result["samples"]), point
    assert not result["monotone"]  # the noise exceeds the steps between the last bisections


@pytest.mark.parametrize("ladder", [[], [0, 1], [4, 2], [2, 2], [1.5, 3], [True, 2]])
def test_a_bad_ladder_is_a_config_error(ladder):
    with pytest.raises(ConfigError, match="ladder"):
        time_to_equal_quality(Curve(), target=0.1, ladder=ladder)


def test_a_bad_target_or_tolerance_is_a_config_error():
    with pytest.raises(ConfigError, match="target"):
        time_to_equal_quality(Curve(), target=math.nan)
    with pytest.raises(ConfigError, match="rel_tol"):
        time_to_equal_quality(Curve(), target=0.1, rel_tol=1.0)


def test_a_non_finite_measurement_is_an_input_error_naming_n():
    with pytest.raises(InputError, match=r"error_at\(1\) gave error nan"):
        time_to_equal_quality(lambda n: (math.nan, 0.0), target=0.1)


# ---- errors of images ------------------------------------------------------------------------


def test_images_error_at_averages_the_metric_and_the_seconds_over_the_images():
    references = [np.zeros((4, 5, 3), np.float32), np.full((4, 5, 3), 0.5, np.float32)]
    seen = []

    def render(i, n):
        seen.append((i, n))
        return references[i] + (i + 1) / n, 0.1 * (i + 1)

    error_at = images_error_at(render, references, metric="l1")
    error, seconds = error_at(8)
    assert error == pytest.approx((1 / 8 + 2 / 8) / 2)
    assert seconds == pytest.approx(0.15)
    assert seen == [(0, 8), (1, 8)]
    result = time_to_equal_quality(error_at, target=0.11)
    assert result["samples"] == 14  # 1.5 / n ≤ 0.11


def test_mean_error_uses_the_registered_metric():
    image, reference = np.full((12, 12, 3), 0.25, np.float32), np.full((12, 12, 3), 0.5)
    assert mean_error([image], [reference], "mse") == pytest.approx(0.0625)
    assert mean_error([image], [reference], "relmse") == pytest.approx(0.0625 / 0.26)
    with pytest.raises(ConfigError, match="unknown metric 'rmse'"):
        mean_error([image], [reference], "rmse")
    with pytest.raises(InputError, match="as many images as references"):
        mean_error([image], [reference, reference])
    with pytest.raises(InputError, match=r"\(H, W, C\).*\(12, 12\)"):
        mean_error([image[..., 0]], [reference[..., 0]])
