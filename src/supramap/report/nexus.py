"""NeXus/HDF5 export of a sample's data and results (an export, not the internal model).

Pinned definitions: NeXus definitions 2024.02 — NXapm from the base standard; NXafm, NXsts and
NXspm as contributed by FAIRmat in that release (they change between versions; only the
structure common to them is written: NXentry/definition, NXsample, NXdata with @signal,
@axes and AXIS_indices, @units on every field, @default down to the data).  Bulk measurements,
for which no application definition exists, are plain NXentry groups without a definition.
Fields a definition requires that supramap cannot know (vendor, user) are written as
"unknown" or taken from the [sample] table (``instrument_vendor``, ``software_vendor``,
``user``, ``is_simulation``).
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import xarray as xr

from supramap import __version__
from supramap.errors import FormatError
from supramap.fileutil import check_output_target, default_mode

DEFINITIONS_VERSION = "NeXus definitions 2024.02 (NXapm base; NXafm/NXsts/NXspm contributed)"
DEFINITION = {"cafm": "NXafm", "sts-grid": "NXsts", "sts-spectrum": "NXsts",
              "sts-tip": "NXsts", "apt": "NXapm", "cafm-series": "NXafm"}
DEFINITIONS_RELEASE = "v2024.02"


def _field(group: h5py.Group, name: str, value: Any, units: str | None = None) -> None:
    ds = group.create_dataset(name, data=value)
    if units is not None:
        ds.attrs["units"] = units


def _group(parent: h5py.Group, name: str, nx_class: str) -> h5py.Group:
    g = parent.create_group(name)
    g.attrs["NX_class"] = nx_class
    return g


def _application_fields(entry: h5py.Group, kind: str, sample_info: dict[str, Any],
                        obj: Any, bias: np.ndarray | None = None) -> None:
    """The fields the pinned application definitions require (unknowns say so)."""
    definition = DEFINITION.get(kind)
    if definition is None:
        return
    entry["definition"].attrs["version"] = DEFINITIONS_RELEASE
    if definition in ("NXafm", "NXsts"):
        _field(entry, "experiment_technique", "AFM" if definition == "NXafm" else "STS")
        _field(entry, "scan_mode", "contact mode" if definition == "NXafm" else
               "constant height")
        inst = _group(entry, "instrument", "NXinstrument")
        _field(_group(inst, "hardware", "NXfabrication"), "vendor",
               str(sample_info.get("instrument_vendor", "unknown")))
        _field(_group(inst, "software", "NXfabrication"), "vendor",
               str(sample_info.get("software_vendor", "unknown")))
        _field(_group(entry, "user", "NXuser"), "name", str(sample_info.get("user", "unknown")))
        if definition == "NXafm":
            image = obj.get("current") if isinstance(obj, dict) else None
            env = _group(inst, "scan_environment", "NXenvironment")
            region = _group(_group(env, "scan_control", "NXspm_scan_control"), "scan_region",
                            "NXspm_scan_region")
            if image is not None:
                for axis in ("x", "y"):
                    c = np.asarray(image[axis].values, dtype=float)
                    step = float(abs(c[1] - c[0]))
                    _field(region, f"scan_start_{axis}", float(c[0] - step / 2), "m")
                    _field(region, f"scan_end_{axis}", float(c[-1] + step / 2), "m")
                    _field(region, f"scan_range_{axis}", step * c.size, "m")
        if definition == "NXsts":
            bias = _bias_of(obj) if bias is None else bias
            env = _group(inst, "bias_spectroscopy_environment", "NXenvironment")
            sweep = _group(_group(env, "bias_spectroscopy", "NXspm_bias_spectroscopy"),
                           "bias_sweep", "NXspm_scan_control")
            if bias is not None:
                region = _group(sweep, "scan_region", "NXspm_scan_region")
                _field(region, "scan_start_bias", float(bias[0]), "V")
                _field(region, "scan_end_bias", float(bias[-1]), "V")
                _field(region, "scan_offset_bias", 0.0, "V")
                lin = _group(sweep, "linear_sweep", "NXspm_scan_pattern")
                _field(lin, "scan_points_bias", int(bias.size))
                _field(lin, "step_size_bias", float(np.median(np.diff(bias))), "V")
    elif definition == "NXapm":
        _field(entry, "start_time", datetime.now(timezone.utc).isoformat())
        _field(entry, "operation_mode", "apt")
        sample = entry["sample"]
        _field(sample, "alias", str(sample_info.get("name", "sample")))
        _field(sample, "is_simulation", bool(sample_info.get("is_simulation", False)))
        spec = _group(entry, "specimen", "NXsample")
        _field(spec, "is_simulation", bool(sample_info.get("is_simulation", False)))
        atoms = sorted(obj.atomic) if obj is not None and hasattr(obj, "atomic") else []
        _field(spec, "atom_types", ", ".join(atoms) or "unknown")
        frame = _group(entry, "reconstruction_reference_frame", "NXcoordinate_system")
        _field(frame, "type", "cartesian")
        for axis, vec in zip("xyz", np.eye(3)):
            _field(frame, axis, vec, "m")


def _bias_of(obj: Any) -> np.ndarray | None:
    """The bias sweep of an analysed STS item, when it carries one."""
    if hasattr(obj, "bias") and obj.bias is not None:
        return np.asarray(obj.bias, dtype=float)
    return None


def _arrays(kind: str, obj: Any) -> xr.DataArray | None:
    """The main data of an analysed measurement as a DataArray with coordinates."""
    if kind == "cafm":
        return obj["current"]
    if kind == "transport":
        t, r, _, units = obj
        return xr.DataArray(np.asarray(r, float), dims=("temperature",),
                            coords={"temperature": ("temperature", np.asarray(t, float),
                                                    {"units": "K"})},
                            name="resistivity" if units == "ohm m" else "resistance",
                            attrs={"units": units})
    if kind == "susceptibility":
        tz, cz, _, _, _, _ = obj
        return xr.DataArray(np.asarray(cz, float), dims=("temperature",),
                            coords={"temperature": ("temperature", np.asarray(tz, float),
                                                    {"units": "K"})},
                            name="chi_zfc", attrs={"units": ""})
    if kind == "heat":
        t, c, _ = obj
        return xr.DataArray(np.asarray(c, float), dims=("temperature",),
                            coords={"temperature": ("temperature", np.asarray(t, float),
                                                    {"units": "K"})},
                            name="heat_capacity", attrs={"units": "J/(mol K)"})
    if kind == "loop":
        h, m, _, _ = obj
        return xr.DataArray(np.asarray(m, float), dims=("field",),
                            coords={"field": ("field", np.asarray(h, float), {"units": "T"})},
                            name="moment", attrs={"units": "A m2"})
    if kind == "sts-grid":
        return obj.data["delta"]
    return None


def _scalar_results(group: h5py.Group, d: dict[str, Any], prefix: str = "") -> None:
    for k, v in d.items():
        name = (prefix + k).replace("/", "_per_")
        if isinstance(v, bool):
            group.create_dataset(name, data=np.bool_(v)).attrs["units"] = "dimensionless"
        elif isinstance(v, (int, float)) and v is not None:
            ds = group.create_dataset(name, data=v)
            unit = next((u for suf, u in (("_m", "m"), ("_K", "K"), ("_A", "A"), ("_eV", "eV"),
                                          ("_ohm_m", "ohm m"), ("_ohm", "ohm"), ("_T", "T"),
                                          ("_s", "s")) if k.endswith(suf)), "")
            ds.attrs["units"] = unit or "dimensionless"


def _write_data(entry: h5py.Group, da: xr.DataArray) -> None:
    data = entry.create_group("data")
    data.attrs["NX_class"] = "NXdata"
    sig = str(da.name or "signal").replace(" ", "_").replace("/", "_")
    ds = data.create_dataset(sig, data=np.asarray(da.values), compression="gzip")
    ds.attrs["units"] = da.attrs.get("units", "") or "dimensionless"
    data.attrs["signal"] = sig
    axes = []
    for i, dim in enumerate(da.dims):
        c = data.create_dataset(dim, data=np.asarray(da[dim].values))
        c.attrs["units"] = da[dim].attrs.get("units", "") or "dimensionless"
        data.attrs[f"{dim}_indices"] = np.int32(i)
        axes.append(dim)
    data.attrs["axes"] = np.array(axes, dtype=h5py.string_dtype())
    entry.attrs["default"] = "data"


def _process(entry: h5py.Group, provenance: dict[str, Any]) -> None:
    """An ``NXprocess`` saying how the entry's results were made: program, version, date and
    the whole provenance block as a JSON ``NXnote`` (command, parameters with units, inputs
    with SHA-256, library versions)."""
    import json

    from supramap.fileutil import to_jsonable

    proc = _group(entry, "process", "NXprocess")
    proc.create_dataset("program", data="supramap")
    env = provenance.get("environment", {})
    proc.create_dataset("version", data=str(env.get("supramap", __version__))
                        + (f" ({env['commit']})" if env.get("commit") else ""))
    proc.create_dataset("date", data=str(provenance.get("started", "")))
    note = _group(proc, "provenance", "NXnote")
    note.create_dataset("type", data="application/json")
    note.create_dataset("data", data=json.dumps(to_jsonable(provenance)))


def export_nexus(res, path: str | os.PathLike[str], *,
                 provenance: dict[str, Any] | None = None) -> Path:
    """Write the analysed sample to a NeXus/HDF5 file (atomically); returns its path. With
    *provenance*, every entry holds an ``NXprocess`` with it."""
    out = Path(path)
    check_output_target(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    os.close(fd)
    try:
        with h5py.File(tmp, "w") as f:
            f.attrs["NX_class"] = "NXroot"
            f.attrs["file_name"] = out.name
            f.attrs["file_time"] = datetime.now(timezone.utc).isoformat()
            f.attrs["creator"] = f"supramap {__version__}"
            f.attrs["NeXus_version"] = DEFINITIONS_VERSION
            first = None
            for m in res.sample.measurements:
                if m.id not in res.results:
                    continue
                entry = f.create_group(m.id)
                entry.attrs["NX_class"] = "NXentry"
                if m.kind in DEFINITION:
                    entry.create_dataset("definition", data=DEFINITION[m.kind])
                entry.create_dataset("title", data=f"{m.kind} {m.id}")
                sample = entry.create_group("sample")
                sample.attrs["NX_class"] = "NXsample"
                sample.create_dataset("name", data=res.sample.name)
                if res.sample.info.get("material"):
                    sample.create_dataset("chemical_formula", data=res.sample.info["material"])
                results = entry.create_group("results")
                results.attrs["NX_class"] = "NXcollection"
                _scalar_results(results, res.results[m.id])
                _application_fields(entry, m.kind, res.sample.info, res.objects.get(m.id),
                                    res.objects.get(f"{m.id}:bias"))
                if provenance:
                    _process(entry, provenance)
                da = _arrays(m.kind, res.objects.get(m.id))
                if da is not None:
                    _write_data(entry, da)
                    first = first or m.id
            if first:
                f.attrs["default"] = first
        os.chmod(tmp, default_mode())  # mkstemp made it 0600: give it the umask's mode
        os.replace(tmp, out)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return out


def read_nexus(path: str | os.PathLike[str]) -> dict[str, xr.DataArray | xr.Dataset]:
    """Read back every entry that :func:`export_nexus` wrote.

    An entry with an NXdata group comes back as a DataArray (the signal with its axes and
    units; the entry's scalar results in its attrs); an entry without one (a temperature
    series, a spectrum fit, an atom-probe needle) as a Dataset of its ``results`` (each value
    with its unit), so no entry is silently left out.
    """
    p = Path(path)
    out: dict[str, xr.DataArray | xr.Dataset] = {}
    try:
        f = h5py.File(p, "r")
    except OSError as exc:
        raise FormatError(p, f"not an HDF5/NeXus file ({exc})") from None

    def text(v):
        return v.decode() if isinstance(v, bytes) else v

    def results(entry) -> dict[str, xr.DataArray]:
        res = {}
        group = entry.get("results")
        if isinstance(group, h5py.Group):
            for key, ds in group.items():
                if isinstance(ds, h5py.Dataset):
                    value = ds[()]
                    value = text(value) if isinstance(value, bytes) else value
                    res[key] = xr.DataArray(value, attrs={"units": text(ds.attrs.get(
                        "units", ""))})
        return res

    with f:
        for name, entry in f.items():
            if entry.attrs.get("NX_class") != "NXentry":
                continue
            title = text(entry["title"][()]) if "title" in entry else name
            if "data" in entry:
                data = entry["data"]
                sig = data.attrs["signal"]
                axes = [text(a) for a in data.attrs["axes"]]
                coords = {a: (a, data[a][()], {"units": data[a].attrs.get("units", "")})
                          for a in axes}
                scalars = {k: v.item() for k, v in results(entry).items()
                           if v.ndim == 0 and not isinstance(v.item(), bytes)}
                out[name] = xr.DataArray(data[sig][()], dims=tuple(axes), coords=coords,
                                         name=sig, attrs={"units": data[sig].attrs.get(
                                             "units", ""), "title": title, **scalars})
            else:
                res = results(entry)
                out[name] = xr.Dataset({k: v for k, v in res.items() if v.ndim == 0},
                                       attrs={"title": title})
    return out
