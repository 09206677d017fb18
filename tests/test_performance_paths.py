"""The fast paths written for speed give the numbers of the straightforward computation they
replace (issue #16): per-label maxima, gradients at sampled pixels, block-mean artefact checks,
the blocked gap map."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from supramap.conduction.artefacts import MAX_SIDE, check_artefacts
from supramap.conduction.edges import smoothed_gradient_at
from supramap.data import make_image
from supramap.spm.labels import label_max


def test_label_max_equals_ndimage_maximum():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(300, 200))
    lab, n = ndimage.label(v > 1.0)
    np.testing.assert_array_equal(label_max(v, lab, n),
                                  ndimage.maximum(v, lab, index=np.arange(1, n + 1)))
    assert label_max(v, np.zeros_like(lab), 0).size == 0


def test_gradient_at_pixels_equals_whole_image_filters_including_borders():
    rng = np.random.default_rng(1)
    z = ndimage.gaussian_filter(rng.normal(size=(40, 57)), 2)
    rows = np.array([0, 0, 39, 39, 1, 20, 38, 3, 10])
    cols = np.array([0, 56, 0, 56, 2, 30, 55, 54, 1])
    gy, gx = smoothed_gradient_at(z, rows, cols)
    smooth = ndimage.gaussian_filter(z, 1.0)
    np.testing.assert_allclose(gy, ndimage.sobel(smooth, axis=0)[rows, cols], atol=1e-12)
    np.testing.assert_allclose(gx, ndimage.sobel(smooth, axis=1)[rows, cols], atol=1e-12)


@pytest.mark.parametrize("follows", [True, False])
def test_block_mean_artefact_check_on_a_large_map(follows):
    """A map larger than MAX_SIDE is checked on block means and still tells a current that
    follows the topography from one that does not."""
    n = MAX_SIDE + 400
    rng = np.random.default_rng(2)
    topo = ndimage.gaussian_filter(rng.normal(size=(n, n)), 12) * 1e-8
    cur = (topo * 3e2 if follows else
           ndimage.gaussian_filter(rng.normal(size=(n, n)), 12) * 1e-6) + \
        rng.normal(0, 1e-10, (n, n))
    res = check_artefacts(cur, topography=make_image(topo, dx=5e-9, units="m"))
    assert res.block_px == 2
    if follows:
        assert res.correlations["topography"] > 0.8
    else:
        assert abs(res.correlations["topography"]) < 0.2
    with pytest.raises(Exception, match="differs"):
        check_artefacts(cur[:, :-1], topography=make_image(topo, dx=5e-9, units="m"))


@pytest.mark.parametrize("shape,dx,dy,geometry", [((40, 50), 1.0, 1.0, "vdp"),
                                                  ((33, 61), 2e-9, 3e-9, "vdp"),
                                                  ((30, 80), 1.0, 1.5, "inline"),
                                                  ((20, 25), 1.0, 1.0, "twoprobe")])
def test_green_function_reference_equals_the_network_solution(shape, dx, dy, geometry):
    from supramap.network.homogeneous import homogeneous_resistances
    from supramap.network.measure import configurations, default_contacts, measure
    from supramap.network.model import build_network

    contacts = default_contacts(shape, geometry)
    net = build_network(np.full(shape, 1 / 250.0), np.zeros(shape, bool), contacts, dx=dx,
                        dy=dy)
    ref = measure(net, geometry).resistances
    got = homogeneous_resistances(shape, contacts, configurations(geometry), 250.0, dx=dx,
                                  dy=dy)
    for name, r in ref.items():
        assert got[name] == pytest.approx(r, rel=1e-9)
    # Pads larger than one pixel: not handled, the caller solves the network.
    assert homogeneous_resistances(shape, default_contacts(shape, geometry, 3),
                                   configurations(geometry), 250.0) is None


def test_van_der_pauw_limit_of_the_green_function():
    """A large square with point corner contacts: R_AB,CD → R_s ln2 / π (van der Pauw)."""
    from supramap.network.homogeneous import homogeneous_resistances
    from supramap.network.measure import configurations, default_contacts

    r = homogeneous_resistances((400, 400), default_contacts((400, 400), "vdp"),
                                configurations("vdp"), 100.0)
    assert r["R_AB,CD"] == pytest.approx(100.0 * np.log(2) / np.pi, rel=0.02)


def test_importing_the_cli_loads_no_heavy_library():
    """`supramap --help` stays fast: xarray, scipy, lmfit, matplotlib, dask and pandas load
    only when a command needs them (checked in a fresh interpreter, not timed)."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import sys, supramap.cli.main; print(' '.join("
                          "m for m in ('xarray', 'scipy', 'lmfit', 'matplotlib', 'dask', "
                          "'pandas') if m in sys.modules))"],
                         capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_fitting_a_spectrum_loads_neither_scipy_signal_nor_lmfit():
    """`sts fit`'s fixed cost (#27, < 1 s): fitting a Dynes spectrum (peaks for the start,
    the thermal convolution, the least squares) imports no scipy.signal, scipy.stats or
    lmfit (~0.5 s together); fresh interpreter, not timed."""
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from supramap.sts import fit_spectrum, zero_bias_peak\n"
            "from supramap.sts.models import nis_model\n"
            "b = np.linspace(-5e-3, 5e-3, 101)\n"
            "v = {'scale': 1.0, 'temperature': 1.0, 'delta1': 1.4e-3, 'gamma1': 5e-5,"
            " 'weight1': 1.0}\n"
            "r = fit_spectrum(b, nis_model(b, v, 1, lockin_rms=1e-4), lockin_rms=1e-4)\n"
            "zero_bias_peak(b, nis_model(b, v, 1))\n"
            "assert abs(r.value('delta1') - 1.4e-3) < 1e-7, r.params\n"
            "print(' '.join(m for m in ('scipy.signal', 'scipy.stats', 'lmfit') "
            "if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == ""


def test_reading_a_file_imports_no_dask_and_dask_arrays_still_work():
    """xarray would import dask (0.25–0.9 s) on the first DataArray; supramap._lazy_dask
    defers that until a dask array exists.  Fresh interpreter: read a real-format file, no
    dask; then dask-backed DataArrays (plain and masked) behave as xarray's own would."""
    import subprocess
    import sys

    pytest.importorskip("dask")
    code = (
        "import sys, numpy as np\n"
        "from supramap.data import make_image\n"
        "from supramap.io.bcr import write_bcr\n"
        "import supramap.io as io\n"
        "write_bcr(sys.argv[1], make_image(np.arange(64.).reshape(8, 8), dx=1e-8, units='A'))\n"
        "img = io.read_image(sys.argv[1])\n"
        "print('dask' in sys.modules, 'dask.array' in sys.modules)\n"
        "import dask.array as da, xarray as xr\n"
        "from xarray.namedarray.pycompat import array_type, is_chunked_array\n"
        "x = xr.DataArray(da.ones((4, 4), chunks=2), dims=('y', 'x'))\n"
        "assert isinstance(x.data, array_type('dask')) and is_chunked_array(x.data)\n"
        "assert x.chunks == ((2, 2), (2, 2)) and float((2 * x).sum()) == 32.0\n"
        "m = da.ma.masked_array(da.ones((4, 4), chunks=2), mask=da.eye(4, chunks=2) > 0)\n"
        "assert int(xr.DataArray(m, dims=('y', 'x')).isnull().sum()) == 4\n"
        "assert float(img.chunk({'x': 4}).mean()) == 31.5\n"
        "print('ok')\n")
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([sys.executable, "-c", code, f"{d}/a.bcrf"], capture_output=True,
                             text=True, check=True).stdout.split()
    assert out == ["False", "False", "ok"]
