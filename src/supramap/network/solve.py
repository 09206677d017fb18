"""Solving Kirchhoff's equations of a contracted network for several current injections.

Small systems are factorised once with SuperLU; large ones get an algebraic-multigrid
(pyamg) preconditioner for conjugate gradients.  Either way the set-up is shared by every
injection pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph
from scipy.sparse.linalg import splu

from supramap.errors import AnalysisError
from supramap.network.model import Network

#: Systems up to this many unknowns are factorised directly (SuperLU, symmetric mode on a
#: minimum-degree ordering of K + Kᵀ); larger ones use algebraic multigrid-preconditioned
#: conjugate gradients (pyamg).  Measured, the whole ``fourprobe`` (two configurations) on
#: maps 30 % superconducting: direct 0.058 / 0.117 / 0.318 / 0.670 s at 192² / 256² / 384² /
#: 512², multigrid (or the former COLAMD factorisation below 30 000) 0.094 / 0.189 / 0.336 /
#: 0.567 s: the cross-over lies between 384² (~103 000 unknowns) and 512² (~184 000).
DIRECT_LIMIT = 120_000
#: Relative residual ‖K v − b‖/‖b‖ every solve must reach.  Measured on a 2048² map with 30 %
#: superconducting clusters: residual 7.7e-7 leaves the four-probe resistance within 2e-8
#: (relative) of the fully converged one, at 8 multigrid-CG iterations instead of 12 for 1e-8;
#: currents are conserved to 1e-6 of the injected current.  Direct solves reach ~1e-15.
TARGET_RESIDUAL = 1e-6


@dataclass
class Solver:
    """Grounded, reduced system of the component that holds the ground node.

    One factorisation (or AMG hierarchy) serves every injection pattern: grounding a fixed
    node is valid for any pair of source and sink, since injections sum to zero.
    """

    network: Network
    component: np.ndarray  # node -> True when in the solved component
    index: np.ndarray  # node -> row of the reduced system, -1 for ground/outside
    ground: int
    matrix: sparse.csr_matrix
    lu: object = None
    amg: object = None
    tol: float = TARGET_RESIDUAL  # the relative residual every solve must reach
    singular: bool = False  # matrix is the whole Laplacian; the ground is fixed after solving

    def _amg_solve(self, b: np.ndarray, x0: np.ndarray | None, tol: float) -> np.ndarray:
        """Multigrid-preconditioned CG.  W-cycles: 15 CG iterations instead of 21 (F) or 35
        (V) on a 2048² map with 30 % superconducting clusters, 4.7 s against 6.1 s and 6.9 s.
        One BLAS thread: the cycles are sparse (no BLAS) and the coarsest level's small dense
        pseudo-inverse is slower on two threads (a 256² solve 0.165 s against 0.10 s)."""
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1):
            return self.amg.solve(b, x0=x0, tol=tol, accel="cg", maxiter=500, cycle="W")

    def solve(self, injections: dict[int, float]) -> tuple[np.ndarray, float]:
        """Node potentials (V, NaN outside the component; ground = 0) and the relative residual
        ``‖K v − b‖ / ‖b‖`` for currents (A) injected at nodes (must sum to zero)."""
        if abs(sum(injections.values())) > 1e-12 * max(map(abs, injections.values())):
            raise AnalysisError("injected currents must sum to zero")
        for node in injections:
            if not self.component[node]:
                raise AnalysisError("a current contact has no conducting path to the others")
        k = self.matrix
        b = np.zeros(k.shape[0])
        for node, current in injections.items():
            if self.index[node] >= 0:
                b[self.index[node]] += current
        if k.shape[0] == 0:
            x = b
        elif self.lu is not None:
            x = self.lu.solve(b)
        else:
            x = self._amg_solve(b, None, self.tol)
        norm_b = np.linalg.norm(b)
        residual = float(np.linalg.norm(k @ x - b) / norm_b) if norm_b > 0 else 0.0
        tol = self.tol
        while self.amg is not None and residual > self.tol and tol > 1e-15:
            # pyamg stops on its own (preconditioned) norm; tighten until the true one is met.
            tol /= 10
            x = self._amg_solve(b, x, tol)
            residual = float(np.linalg.norm(k @ x - b) / norm_b)
        if self.singular:
            # The whole, ungrounded Laplacian was solved (consistent: injections sum to zero);
            # potentials are fixed up to a constant — ground them here.
            x = x - x[self.index[self.ground]]
        v = np.full(self.network.n_nodes, np.nan)
        inside = self.index >= 0
        v[inside] = x[self.index[inside]]
        v[self.ground] = 0.0
        return v, residual


def make_solver(network: Network, ground: int, *, tol: float = TARGET_RESIDUAL) -> Solver:
    """Reduce the network to the component of *ground*, ground it and factorise."""
    lap = network.laplacian
    _, comp = csgraph.connected_components(lap, directed=False)
    component = comp == comp[ground]
    n_keep = int(np.count_nonzero(component))
    itype = network.node_of_pixel.dtype
    index = np.full(network.n_nodes, -1, dtype=itype)
    if n_keep == network.n_nodes and n_keep > DIRECT_LIMIT + 1:
        # One component, solved iteratively: multigrid-CG handles the singular but consistent
        # Laplacian itself (injections sum to zero), so no grounded copy of the matrix is made
        # (180 MB and 0.9 s at 2048²); the ground is subtracted after each solve.
        index[:] = np.arange(n_keep, dtype=itype)
        solver = Solver(network, component, index, ground, lap, tol=tol, singular=True)
        solver.amg = _amg(lap)
        return solver
    keep = np.nonzero(component)[0]
    if keep.size == network.n_nodes:
        # Any node of the component may be the ground (injections sum to zero, only potential
        # differences are used): the last one makes the reduced matrix a leading block, cut
        # by range slicing instead of two fancy-indexed copies of the whole Laplacian.
        ground = network.n_nodes - 1
        keep = keep[:-1]
        k = lap[:ground, :ground].tocsr()
    else:
        keep = keep[keep != ground]
        k = lap[keep][:, keep].tocsr()
    index[keep] = np.arange(keep.size)
    solver = Solver(network, component, index, ground, k, tol=tol)
    if 0 < keep.size <= DIRECT_LIMIT:
        try:
            # K is symmetric positive definite once grounded: no pivoting is needed, and a
            # symmetric minimum-degree ordering fills 3× less than SuperLU's default COLAMD
            # (256²: 1.4 M against 4.3 M entries; factorisation 0.085 s against 0.165 s).
            solver.lu = splu(k.tocsc(), permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                             options={"SymmetricMode": True})
        except RuntimeError as exc:  # conductances so unequal that the matrix is singular
            raise AnalysisError(f"the network's conductance matrix is singular ({exc}): "
                                "conductances span too many orders of magnitude") from None
    elif keep.size > DIRECT_LIMIT:
        solver.amg = _amg(k)
    return solver


def _amg(k: sparse.csr_matrix):
    """Classical (Ruge–Stüben) AMG, direct interpolation, weak strength threshold,
    forward/backward Gauss–Seidel: contracted clusters make rows with hundreds of entries, on
    which this beat smoothed aggregation 3× here (1024², 30 % superconducting: 0.5 s set-up +
    0.9 s a solve, against 1.4 s + 5.7 s).  PMIS coarsening halves the set-up but needs 6×
    the iterations (2048²: 74 against 13)."""
    import pyamg

    return pyamg.ruge_stuben_solver(
        k, max_coarse=500, keep=False, interpolation="direct",
        strength=("classical", {"theta": 0.1, "norm": "min"}),
        presmoother=("gauss_seidel", {"sweep": "forward"}),
        postsmoother=("gauss_seidel", {"sweep": "backward"}))
