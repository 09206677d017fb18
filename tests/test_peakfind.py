"""supramap.sts.peakfind gives scipy.signal's peaks, prominences and widths exactly, on
random signals, plateau-rich integer signals and real-looking spectra."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.signal import find_peaks as sp_find_peaks
from scipy.signal import peak_prominences, peak_widths

from supramap.sts.peakfind import find_peaks, local_maxima, prominences, widths

# Small integers make plateaus and ties (the hard cases of the definitions); floats make
# the general case.
signals = st.one_of(
    arrays(np.float64, st.integers(0, 60), elements=st.integers(0, 4).map(float)),
    arrays(np.float64, st.integers(0, 200),
           elements=st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)))


@pytest.mark.filterwarnings("ignore:some peaks have a (prominence|width) of 0")
@settings(max_examples=300, deadline=None)
@given(signals, st.sampled_from([None, 1.5, 2, 3, 7, 41]))
def test_maxima_prominences_and_widths_equal_scipy(x, wlen):
    peaks = local_maxima(x)
    np.testing.assert_array_equal(peaks, sp_find_peaks(x)[0])
    if peaks.size == 0:
        return
    ref = peak_prominences(x, peaks, wlen=wlen)
    ours = prominences(x, peaks, wlen)
    np.testing.assert_array_equal(ours.prominences, ref[0])
    np.testing.assert_array_equal(ours.left_bases, ref[1])
    np.testing.assert_array_equal(ours.right_bases, ref[2])
    for rel in (0.5, 1.0, 0.2):
        w_ref = peak_widths(x, peaks, rel_height=rel, prominence_data=ref)
        w = widths(x, peaks, rel, ours)
        for a, b in zip((w.widths, w.heights, w.left, w.right), w_ref):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore:some peaks have a (prominence|width) of 0")
@settings(max_examples=200, deadline=None)
@given(signals, st.floats(0, 50), st.sampled_from([None, 0.5, 3.0]),
       st.sampled_from([None, 5, 41]))
def test_find_peaks_equals_scipy(x, prom, width, wlen):
    ours, props = find_peaks(x, prominence=prom, width=width, wlen=wlen)
    ref, ref_props = sp_find_peaks(x, prominence=prom, width=width, wlen=wlen)
    np.testing.assert_array_equal(ours, ref)
    for k, v in ref_props.items():
        np.testing.assert_allclose(props[k], v, rtol=1e-12, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("seed", range(5))
def test_noisy_spectra_equal_scipy(seed):
    """Coherence-peak spectra with noise, 8000 points, as coherence_peaks calls it."""
    rng = np.random.default_rng(seed)
    e = np.linspace(-10e-3, 10e-3, 8000)
    z = e + 1j * 1e-4
    g = np.abs(np.real(z / np.sqrt(z * z - 1.5e-3**2 + 0j))) + 0.02 * rng.standard_normal(e.size)
    for kw in ({"prominence": 0.05, "width": 3.0, "wlen": 320},
               {"prominence": 0.5, "width": 3.0}, {"prominence": 0.01}):
        ours, _ = find_peaks(g, **kw)
        np.testing.assert_array_equal(ours, sp_find_peaks(g, **kw)[0])


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e3, 1e3)),
       arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e3, 1e3)),
       st.sampled_from(["full", "same"]))
def test_fftconvolve_equals_scipy(a, b, mode):
    from scipy.signal import fftconvolve as ref

    from supramap.sts.lineshapes import fftconvolve

    scale = max(float(np.abs(a).max()) * float(np.abs(b).max()) * min(a.size, b.size), 1e-300)
    np.testing.assert_allclose(fftconvolve(a, b, mode=mode), ref(a, b, mode=mode),
                               rtol=0, atol=1e-12 * scale)
