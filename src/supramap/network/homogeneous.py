"""Resistances of the homogeneous reference sheet from the lattice Green's function.

The reference of a four-probe simulation is the same pixel lattice with one sheet conductance
everywhere and the same metal contact pixels.  Solving it as a network costs as much as the
real map (half of ``fourprobe`` before this module) although only four contact potentials are
needed.  Written here because no library provides it: the lattice Laplacian with free (Neumann)
edges is diagonalised by the discrete cosine basis, λ_kl = 2w_x(1 − cos πk/n_x) +
2w_y(1 − cos πl/n_y), so its pseudo-inverse between any few pixels is a sum over modes; a metal
contact pixel doubles the conductance of its (≤ 4) bonds, a low-rank change applied with the
Woodbury identity on the handful of pixels around the contacts.  The result equals the network
solution to rounding (``tests/test_network.py`` checks it on maps with dx ≠ dy).

Cost: one (n_x × n_y) × (n_y × m²/2) product for m ≈ 20 pixels — about a second at 2048²,
against ~14 s and 1.5 GB for the network.  Contacts larger than one pixel, or touching each
other, are not handled (None is returned and the caller solves the network).
"""

from __future__ import annotations

import numpy as np

from supramap.network.model import Contact


def lattice_green(shape: tuple[int, int], pixels: np.ndarray, wx: float, wy: float
                  ) -> np.ndarray:
    """Pseudo-inverse of the free-edge lattice Laplacian between the given flat pixels.

    ``wx`` / ``wy`` are the conductances of horizontal / vertical bonds.  Returns the (m, m)
    block of L⁺ (the zero mode removed).
    """
    ny, nx = shape
    ys, xs = np.divmod(np.asarray(pixels, dtype=np.int64), nx)
    kx, ky = np.arange(nx), np.arange(ny)
    lam = (2 * wx * (1 - np.cos(np.pi * kx / nx)))[:, None] + \
        (2 * wy * (1 - np.cos(np.pi * ky / ny)))[None, :]
    lam[0, 0] = np.inf  # the constant mode is not inverted
    inv = 1.0 / lam
    norm_x = np.where(kx == 0, np.sqrt(1 / nx), np.sqrt(2 / nx))
    norm_y = np.where(ky == 0, np.sqrt(1 / ny), np.sqrt(2 / ny))
    cx = np.cos(np.pi * np.outer(kx, xs + 0.5) / nx) * norm_x[:, None]  # (nx, m)
    cy = np.cos(np.pi * np.outer(ky, ys + 0.5) / ny) * norm_y[:, None]  # (ny, m)
    m = xs.size
    p, q = np.triu_indices(m)
    t = inv @ (cy[:, p] * cy[:, q])  # (nx, pairs)
    vals = np.einsum("kj,kj->j", cx[:, p] * cx[:, q], t)
    g = np.zeros((m, m))
    g[p, q] = vals
    g[q, p] = vals
    return g


def homogeneous_resistances(shape: tuple[int, int], contacts: list[Contact], configurations,
                            sheet_resistance: float, *, dx: float = 1.0, dy: float = 1.0,
                            current: float = 1.0) -> dict[str, float] | None:
    """R of each configuration on the homogeneous sheet, or None when the contacts are not
    single, separate pixels (then the network must be solved)."""
    ny, nx = shape
    if ny < 2 or nx < 2:
        return None
    pix = []
    for c in contacts:
        if c.r1 - c.r0 != 1 or c.c1 - c.c0 != 1 or not (0 <= c.r0 < ny and 0 <= c.c0 < nx):
            return None
        pix.append((c.r0, c.c0))
    for i, a in enumerate(pix):
        for b in pix[i + 1:]:
            if abs(a[0] - b[0]) + abs(a[1] - b[1]) <= 1:
                return None  # touching metal pads merge into one node
    g = 1.0 / sheet_resistance
    wx, wy = g * dy / dx, g * dx / dy
    # Pixels involved: the contacts and their in-map neighbours; bonds to a contact pixel are
    # doubled (no half-pixel resistance inside the metal), as in build_network.
    nodes: dict[int, int] = {}

    def at(r, c):
        return nodes.setdefault(r * nx + c, len(nodes))

    for r, c in pix:
        at(r, c)
    bonds = []
    for r, c in pix:
        for dr, dc, w in ((0, 1, wx), (0, -1, wx), (1, 0, wy), (-1, 0, wy)):
            rr, cc = r + dr, c + dc
            if 0 <= rr < ny and 0 <= cc < nx:
                bonds.append((at(r, c), at(rr, cc), w))
    order = np.array(sorted(nodes, key=nodes.get))
    green = lattice_green(shape, order, wx, wy)
    m = order.size
    u = np.zeros((m, len(bonds)))
    for j, (a, b, _) in enumerate(bonds):
        u[a, j], u[b, j] = 1.0, -1.0
    d_inv = np.diag([1.0 / w for _, _, w in bonds])
    gu = green @ u
    small = d_inv + u.T @ gu
    out = {}
    for conf in configurations:
        src, snk = nodes[pix[conf.source][0] * nx + pix[conf.source][1]], \
            nodes[pix[conf.sink][0] * nx + pix[conf.sink][1]]
        if src == snk:
            out[conf.name] = 0.0
            continue
        b = np.zeros(m)
        b[src], b[snk] = current, -current
        v = green @ b - gu @ np.linalg.solve(small, gu.T @ b)
        plus = nodes[pix[conf.plus][0] * nx + pix[conf.plus][1]]
        minus = nodes[pix[conf.minus][0] * nx + pix[conf.minus][1]]
        out[conf.name] = float((v[plus] - v[minus]) / current)
    return out
