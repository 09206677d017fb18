"""supramap.sts.lsq: the fits lmfit's ``leastsq`` made, with the same numbers, and the
least-squares covariance of a straight line computed by hand."""

import numpy as np
import pytest

from supramap.errors import AnalysisError
from supramap.sts.lsq import Parameters, minimize
from supramap.sts.models import nis_model, sis_model

lmfit = pytest.importorskip("lmfit", reason="lmfit (test extra) is the reference here")


def _lmfit_params(p: Parameters) -> "lmfit.Parameters":
    """The same parameters in lmfit's terms (products written as expressions)."""
    q = lmfit.Parameters()
    for name, par in p.items():
        expr = None
        if par.expr is not None:
            expr = " * ".join(f"(1 - {t})" if c else t for t, c in par.expr) or "1"
        q.add(name, value=par.value, min=par.min, max=par.max, vary=par.vary, expr=expr)
    return q


def _both(residual, make, **kw):
    ours = minimize(residual, make(), **kw)
    ref = lmfit.minimize(lambda q: residual(q.valuesdict()), _lmfit_params(make()),
                         method="leastsq", **kw)
    return ours, ref


def _assert_same(ours, ref, rtol_err=1e-7):
    assert ours.success == ref.success
    assert ours.redchi == pytest.approx(ref.redchi, rel=1e-12)
    for name, par in ref.params.items():
        assert ours.params[name].value == pytest.approx(par.value, rel=1e-12, abs=1e-15), name
        if par.stderr is None:
            assert ours.params[name].stderr is None, name
        else:
            assert ours.params[name].stderr == pytest.approx(par.stderr, rel=rtol_err,
                                                             abs=1e-15), name


def test_straight_line_covariance_is_the_textbook_one():
    """y = a + b x + noise: the estimates and their covariance σ² (XᵀX)⁻¹ with
    σ² = χ²/(N − 2), by hand with numpy."""
    rng = np.random.default_rng(3)
    x = np.linspace(0, 10, 40)
    y = 1.5 + 0.7 * x + 0.3 * rng.standard_normal(x.size)
    p = Parameters()
    p.add("a", 0.0)
    p.add("b", 1.0, min=-100, max=100)        # a bounded one: the covariance goes through
    out = minimize(lambda v: v["a"] + v["b"] * x - y, p)  # the transform's gradient
    X = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    s2 = np.sum((X @ coef - y) ** 2) / (x.size - 2)
    cov = s2 * np.linalg.inv(X.T @ X)
    assert out.success
    assert [out.params["a"].value, out.params["b"].value] == pytest.approx(coef, rel=1e-7)
    assert out.params["a"].stderr == pytest.approx(np.sqrt(cov[0, 0]), rel=1e-5)
    assert out.params["b"].stderr == pytest.approx(np.sqrt(cov[1, 1]), rel=1e-5)
    assert out.redchi == pytest.approx(s2, rel=1e-10)


def test_two_gap_dynes_fit_with_stick_breaking_weights_equals_lmfit():
    rng = np.random.default_rng(1)
    b = np.linspace(-6e-3, 6e-3, 301)
    truth = {"scale": 1.0, "temperature": 1.5, "delta1": 1.2e-3, "gamma1": 5e-5,
             "delta2": 2.5e-3, "gamma2": 1e-4, "weight1": 0.6, "weight2": 0.4}
    y = nis_model(b, truth, 2) * (1 + 0.01 * rng.standard_normal(b.size))

    def make():
        p = Parameters()
        p.add("scale", 1.0, min=0)
        p.add("temperature", 1.5, min=0.01, max=100)
        for i, d in ((1, 1.0), (2, 2.2)):
            p.add(f"delta{i}", d, min=0, max=6)
            p.add(f"gamma{i}", 0.05, min=0, max=6)
        p.add("frac1", 0.5, min=0, max=1)
        p.add("weight1", expr=(("frac1", False),))
        p.add("weight2", expr=(("frac1", True),))
        return p

    def residual(v):
        si = {k: (x / 1e3 if k[:5] in ("delta", "gamma") else x) for k, x in v.items()}
        return nis_model(b, si, 2) - y

    ours, ref = _both(residual, make)
    _assert_same(ours, ref)
    assert ours.params["delta1"].value == pytest.approx(1.2, rel=0.02)
    # weight2 = 1 − frac1: its error is frac1's exactly (lmfit's propagation agrees to ~1e-9)
    assert ours.params["weight2"].stderr == ours.params["frac1"].stderr


def test_sis_fit_with_fixed_sample_and_unscaled_covariance_equals_lmfit():
    rng = np.random.default_rng(2)
    b = np.linspace(-5e-3, 5e-3, 401)
    truth = {"scale": 1.0, "temperature": 0.8, "delta1": 1.26e-3, "gamma1": 1e-5,
             "weight1": 1.0, "tip_delta": 1.1e-3, "tip_gamma": 2e-5}
    sigma = 0.005
    y = sis_model(b, truth, 1, step=2e-6) + sigma * rng.standard_normal(b.size)

    def make():
        p = Parameters()
        p.add("scale", 1.0, min=0)
        p.add("temperature", 1.0, min=0.01, max=100)
        p.add("delta1", 1.26, vary=False)
        p.add("gamma1", 0.01, vary=False)
        p.add("weight1", expr=())
        p.add("tip_delta", 1.0, min=0, max=5)
        p.add("tip_gamma", 0.02, min=0, max=5)
        return p

    def residual(v):
        si = {k: (x / 1e3 if k.startswith(("delta", "gamma", "tip")) else x)
              for k, x in v.items()}
        return (sis_model(b, si, 1, step=2e-6) - y) / sigma

    ours, ref = _both(residual, make, scale_covar=False)
    _assert_same(ours, ref)
    assert ours.params["tip_delta"].value == pytest.approx(1.1, abs=3 * ours.params[
        "tip_delta"].stderr + 1e-6)


def test_shared_parameter_of_a_global_fit_equals_lmfit():
    rng = np.random.default_rng(4)
    x = np.linspace(0, 5, 60)
    ys = [np.exp(-1.3 * x) * a + 0.01 * rng.standard_normal(x.size) for a in (1.0, 2.0)]

    def make():
        p = Parameters()
        p.add("k_0", 1.0, min=0)
        p.add("a_0", 1.5)
        p.add("k_1", 1.0, min=0, expr=(("k_0", False),))
        p.add("a_1", 1.5)
        return p

    def residual(v):
        return np.concatenate([v[f"a_{i}"] * np.exp(-v[f"k_{i}"] * x) - ys[i]
                               for i in range(2)])

    ours, ref = _both(residual, make)
    _assert_same(ours, ref, rtol_err=1e-6)
    assert ours.params["k_1"].stderr == ours.params["k_0"].stderr


def test_a_start_at_a_bound_and_an_evaluation_limit():
    x = np.linspace(0, 1, 50)
    y = np.exp(-3 * x)

    def make():
        p = Parameters()
        p.add("a", 0.0, min=0, max=5)      # at its lower bound: the transform's flat point
        p.add("k", 1.0, min=0)
        return p

    def residual(v):
        return v["a"] * np.exp(-v["k"] * x) - y

    ours, ref = _both(residual, make)
    _assert_same(ours, ref)
    stopped = minimize(residual, make(), max_nfev=5)
    assert not stopped.success and "maxfev" in stopped.message
    assert all(p.stderr is None for p in stopped.params.values())


def test_a_model_that_returns_nan_stops_with_a_clear_error():
    p = Parameters()
    p.add("a", 1.0)
    with pytest.raises(AnalysisError, match="NaN"):
        minimize(lambda v: np.log(np.full(5, v["a"] - 2.0)), p)
