"""Solving Kirchhoff's equations of a contracted network for several current injections.

Systems up to ~1024² maps are factorised once: the normal pixels on one colour of a
checkerboard (no two share a bond) are eliminated exactly, then the Schur complement left gets
a sparse LDLᵀ (Cholesky) on an approximate-minimum-degree ordering (qdldl, the OSQP project's
factorisation: the grounded conductance matrix is symmetric positive definite, so no pivoting
is needed).  Larger ones get an algebraic-multigrid (pyamg) preconditioner for conjugate
gradients, whose memory grows linearly.  Either way the set-up is shared by every injection
pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from supramap.errors import AnalysisError
from supramap.network.model import Network

#: Systems up to this many unknowns (every 1024² map) are factorised directly (checkerboard
#: elimination, then qdldl's LDLᵀ); larger ones use algebraic multigrid-preconditioned
#: conjugate gradients (pyamg), whose memory grows linearly.  Measured, the whole
#: ``fourprobe`` (two configurations) on maps 30 % superconducting, direct against multigrid:
#: 0.39 / 0.84 s at 512², 1.52 / 2.82 s at 1024² (636 / 463 MB peak), 5.1 / 5.3 s at 1448²
#: (1.16 / 0.78 GB); at 2048² (before the elimination) 11.9 / 11.5 s but 2.17 / 1.43 GB.
DIRECT_LIMIT = 1_100_000
#: Relative residual ‖K v − b‖/‖b‖ every solve must reach.  Measured on a 2048² map with 30 %
#: superconducting clusters: residual 7.7e-7 leaves the four-probe resistance within 2e-8
#: (relative) of the fully converged one, at 8 multigrid-CG iterations instead of 12 for 1e-8;
#: currents are conserved to 1e-6 of the injected current.  Direct solves reach ~1e-15.
TARGET_RESIDUAL = 1e-6
#: A solve whose residual stays this many times above the target is an error, not a result
#: (round-off may leave the last digit short of a tight target; 100× is a failed solve).
FAILED_RESIDUAL = 100.0


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
    factor: object = None  # qdldl.Solver of the grounded matrix
    amg: object = None
    tol: float = TARGET_RESIDUAL  # the relative residual every solve must reach
    singular: bool = False  # matrix is the whole Laplacian; the ground is fixed after solving

    def _amg_solve(self, b: np.ndarray, x0: np.ndarray | None, tol: float) -> np.ndarray:
        """Multigrid-preconditioned CG (at most 100 iterations a call: W-cycles converge in ~15
        whatever the size; a tolerance below round-off would otherwise run on). W-cycles: 15 CG
        iterations instead of 21 (F) or 35 (V) on a 2048² map with 30 % superconducting clusters,
        4.7 s against 6.1 s and 6.9 s. One BLAS thread: the cycles are sparse (no BLAS) and the
        coarsest level's small dense pseudo-inverse is slower on two threads (a 256² solve 0.165 s
        against 0.10 s).

        On the whole (singular) Laplacian the preconditioned residual is projected off the
        constant null vector.  Without it, round-off grows a constant in the search directions
        until pᵀKp ≤ 0: pyamg's CG stopped ("indefinite") at a residual of 1.7e-4 on a 1448²
        map with 30 % superconducting clusters; projected, it reaches 4e-9 in 11 iterations.
        """
        from scipy.sparse.linalg import LinearOperator, cg
        from threadpoolctl import threadpool_limits

        cycle = self.amg.aspreconditioner(cycle="W")
        if self.singular:
            def project(r: np.ndarray) -> np.ndarray:
                z = cycle @ r
                return z - z.mean()

            precondition = LinearOperator(self.matrix.shape, matvec=project, dtype=float)
        else:
            precondition = cycle
        with threadpool_limits(1):
            x, _ = cg(self.matrix, b, x0=x0, rtol=tol, atol=0.0, maxiter=100, M=precondition)
        return x

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
        elif self.factor is not None:
            x = self.factor.solve(b)
        else:
            x = self._amg_solve(b, None, self.tol)
        # Norms as sums of squares, not np.linalg.norm: its BLAS dot wakes OpenBLAS's threads
        # on a long vector, which then spin on the other core (a 256² solve: 2× the CPU time
        # of the whole four-probe run for no gain in wall time).
        norm_b = float(np.sqrt(np.square(b).sum()))

        def relative_residual(v: np.ndarray) -> float:
            r = k @ v - b
            return float(np.sqrt(np.square(r).sum()) / norm_b) if norm_b > 0 else 0.0

        residual = relative_residual(x)
        tol = self.tol
        while self.amg is not None and residual > self.tol and tol > 1e-15:
            # CG stops on its recursively updated residual, which can drift below the true
            # one: restart from x with a tighter tolerance until the true one is met, or no
            # longer halves (round-off: a tolerance below ~1e-13 cannot be reached).
            tol /= 10
            x_new = self._amg_solve(b, x, tol)
            new = relative_residual(x_new)
            halved = new <= 0.5 * residual
            if new < residual:
                x, residual = x_new, new
            if not halved:
                break
        if not residual <= FAILED_RESIDUAL * self.tol:  # NaN included
            # A resistance from potentials that do not satisfy Kirchhoff's law is no answer.
            raise AnalysisError(f"the network solve did not converge: relative residual "
                                f"{residual:.1e} where {self.tol:.0e} was asked")
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
        solver.factor = _factorise(k, _checkerboard(network, index, k))
    elif keep.size > DIRECT_LIMIT:
        solver.amg = _amg(k)
    return solver


def _checkerboard(network: Network, index: np.ndarray, k: sparse.csr_matrix) -> np.ndarray | None:
    """Rows of *k* that are normal pixels on the even squares of a checkerboard (row + column
    even): no two of them share a bond, since bonds join 4-neighbouring pixels only (checked
    again where they are eliminated).  None when too few such rows are left."""
    ny, nx = network.shape
    rows, cols = np.ogrid[:ny, :nx]
    even = (~network.perfect & ((rows + cols) % 2 == 0)).ravel()
    at = index[network.node_of_pixel[even]]
    red = np.zeros(k.shape[0], dtype=bool)
    red[at[at >= 0]] = True
    n_red = np.count_nonzero(red)
    return red if k.shape[0] // 8 <= n_red < k.shape[0] else None


@dataclass
class _Eliminated:
    """Solves ``K x = b`` from the LDLᵀ of the Schur complement ``S = K_bb − K_br D⁻¹ K_rb``
    left after eliminating an independent set of nodes ("red", diagonal block ``D``)."""

    black: np.ndarray  # rows of K kept in S
    red: np.ndarray  # rows of K eliminated
    k_br: sparse.csr_matrix  # K's black rows, red columns
    k_rb: sparse.csr_matrix  # K's red rows, black columns (its transpose, kept as CSR)
    d: np.ndarray  # K's diagonal on the red rows
    ldl: object  # qdldl.Solver of S

    def solve(self, b: np.ndarray) -> np.ndarray:
        b_r = b[self.red]
        x_b = self.ldl.solve(b[self.black] - self.k_br @ (b_r / self.d))
        x = np.empty(b.size)
        x[self.black] = x_b
        x[self.red] = (b_r - self.k_rb @ x_b) / self.d
        return x


def _factorise(k: sparse.csr_matrix, red: np.ndarray | None = None):
    """LDLᵀ of the grounded (symmetric positive definite) matrix *k*, after eliminating the
    independent rows *red* exactly (block Gaussian elimination: ``D`` is diagonal).

    Why qdldl and not scipy's SuperLU: SuperLU factorises the SPD matrix as a general one (an
    LU with both triangles, its symbolic analysis on K + Kᵀ); an LDLᵀ on an AMD ordering
    stores one triangle and measured 0.046 / 0.22 / 1.3 s at 256² / 512² / 1024² maps (30 %
    superconducting) against SuperLU's best ordering 0.085 / 0.53 s / (multigrid 2.2 s).

    Why eliminate half the normal pixels first: minimum degree would eliminate those degree-4
    nodes first anyway, but qdldl's AMD ordering costs about as much as its factorisation;
    on a matrix of half the rows it is done in half the time.  Measured on maps 30 %
    superconducting (``benchmarks/network.py``, 'factor s'), Schur complement and factorisation
    together against the factorisation of the whole matrix: 39 against 47 ms at 256², 178
    against 232 ms at 512², 0.97 against 1.36 s at 1024².
    """
    import qdldl

    red_rows = np.flatnonzero(red) if red is not None else None
    if red_rows is not None:
        k_r = k[red_rows]
        d = k.diagonal()[red_rows]
        # Independent: each red row's only red column is its own diagonal, positive (as in a
        # connected, grounded system).  Otherwise no elimination.
        if np.count_nonzero(red[k_r.indices]) != red_rows.size or not np.all(d > 0):
            red_rows = None
    if red_rows is not None:
        black = np.flatnonzero(~red)
        k_b = k[black]
        k_br = k_b[:, red_rows]
        k_rb = k_r[:, black]
        scaled = k_rb.copy()  # D⁻¹ K_rb: rows scaled in place (no diagonal-matrix product)
        scaled.data /= np.repeat(d, np.diff(scaled.indptr))
        # Both factors CSR: no transposed (CSC) operand for scipy to convert.
        s = k_b[:, black] - k_br @ scaled
        return _Eliminated(black, red_rows, k_br, k_rb, d, _factorise(s.tocsr()))
    # k is symmetric: its lower triangle in CSR is the upper triangle in CSC, no transpose.
    # (Masked here: scipy's tril goes through COO, 2.2 against 0.5 ms on a 256² map.)
    row = np.repeat(np.arange(k.shape[0], dtype=k.indices.dtype), np.diff(k.indptr))
    low = k.indices <= row
    indptr = np.zeros(k.shape[0] + 1, dtype=k.indptr.dtype)
    np.cumsum(np.bincount(row[low], minlength=k.shape[0]), out=indptr[1:])
    upper = sparse.csc_matrix((k.data[low], k.indices[low], indptr), shape=k.shape)
    try:
        return qdldl.Solver(upper, upper=True)
    except RuntimeError:  # conductances so unequal that a pivot vanished
        raise AnalysisError("the network's conductance matrix is singular: conductances span "
                            "too many orders of magnitude") from None


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
