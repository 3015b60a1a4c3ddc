"""Numba kernels shared by the policies. All work on the compiled arrays of :class:`Problem`:
``u`` (K×O utility terms), ``w`` (K×O load terms, ms), ``dev`` (O, device of each option).

Random numbers never come from inside a kernel: callers draw them from a seeded ``numpy.random.Generator``
and pass arrays, so that the same seed gives the same answer everywhere.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def loads_of(choice: np.ndarray, w: np.ndarray, dev: np.ndarray, n_dev: int) -> np.ndarray:
    """T_i (ms) per device for option indices ``choice``."""
    load = np.zeros(n_dev)
    for k in range(choice.shape[0]):
        load[dev[choice[k]]] += w[k, choice[k]]
    return load


@njit(cache=True)
def _score(load: np.ndarray) -> tuple[float, float]:
    """(max T_i, Σ T_i²) without allocating."""
    peak, sq = -np.inf, 0.0
    for i in range(load.shape[0]):
        peak = max(peak, load[i])
        sq += load[i] * load[i]
    return peak, sq


# A numba kernel, kept as one flat loop nest: helpers would add calls in the hot loop.
@njit(cache=True)
def _min_max_step(choice: np.ndarray, load: np.ndarray, w: np.ndarray, dev: np.ndarray, n_dev: int,  # noqa: C901
                  pairs: bool) -> bool:
    """Apply the change of one patch on a most-loaded device — alone, or (``pairs``) together with a change
    of one patch on the device it moves to — that lowers (max T_i, Σ T_i²) the most; False when none does."""
    n_k, n_o = w.shape
    peak, sq = _score(load)
    best_peak, best_sq = peak, sq
    best = (-1, -1, -1, -1)
    for k1 in range(n_k):
        c1 = choice[k1]
        s1 = dev[c1]
        if load[s1] < peak - 1e-9:
            continue  # only patches on a most-loaded device can lower the peak
        for o1 in range(n_o):
            if o1 == c1:
                continue
            a = dev[o1]
            load[s1] -= w[k1, c1]
            load[a] += w[k1, o1]
            new_peak, new_sq = _score(load)
            if new_peak < best_peak - 1e-9 or (new_peak <= best_peak + 1e-9 and new_sq < best_sq - 1e-9):
                best_peak, best_sq, best = new_peak, new_sq, (k1, o1, -1, -1)
            for k2 in range(n_k if pairs else 0):  # and a patch on the target device makes room
                c2 = choice[k2]
                if k2 == k1 or dev[c2] != a or a == s1:
                    continue
                for o2 in range(n_o):
                    if o2 == c2:
                        continue
                    load[a] -= w[k2, c2]
                    load[dev[o2]] += w[k2, o2]
                    new_peak, new_sq = _score(load)
                    if new_peak < best_peak - 1e-9 or (new_peak <= best_peak + 1e-9 and new_sq < best_sq - 1e-9):
                        best_peak, best_sq, best = new_peak, new_sq, (k1, o1, k2, o2)
                    load[dev[o2]] -= w[k2, o2]
                    load[a] += w[k2, c2]
            load[a] -= w[k1, o1]
            load[s1] += w[k1, c1]
    k1, o1, k2, o2 = best
    if k1 < 0:
        return False
    load[dev[choice[k1]]] -= w[k1, choice[k1]]
    load[dev[o1]] += w[k1, o1]
    choice[k1] = o1
    if k2 >= 0:
        load[dev[choice[k2]]] -= w[k2, choice[k2]]
        load[dev[o2]] += w[k2, o2]
        choice[k2] = o2
    return True


@njit(cache=True)
def minimax(u: np.ndarray, w: np.ndarray, dev: np.ndarray, n_dev: int, max_steps: int) -> np.ndarray:
    """Heuristic min of max T_i: LPT placement (largest patch first, to the option that ends earliest; ties
    → higher utility), then up to ``max_steps`` one- or two-patch changes (:func:`_min_max_step`) while
    they lower (max T_i, Σ T_i²) lexicographically. ``max_steps`` = 0 gives plain LPT."""
    n_k, n_o = w.shape
    choice = np.zeros(n_k, dtype=np.int64)
    minw = np.empty(n_k)
    for k in range(n_k):
        minw[k] = w[k].min()
    load = np.zeros(n_dev)
    for k in np.argsort(-minw):
        best, best_end, best_u = 0, np.inf, -np.inf
        for o in range(n_o):
            end = load[dev[o]] + w[k, o]
            if end < best_end - 1e-9 or (end <= best_end + 1e-9 and u[k, o] > best_u):
                best, best_end, best_u = o, end, u[k, o]
        choice[k] = best
        load[dev[best]] += w[k, best]
    for _ in range(max_steps):
        if not _min_max_step(choice, load, w, dev, n_dev, False) and not _min_max_step(choice, load, w, dev,
                                                                                        n_dev, True):
            break
    return choice


@njit(cache=True)
def ascend(choice: np.ndarray, u: np.ndarray, w: np.ndarray, dev: np.ndarray, n_dev: int, slo: float,
           max_steps: int) -> np.ndarray:
    """Greedy: from a feasible ``choice``, repeatedly apply the feasible single-patch change with the largest
    utility gain (ties → smaller added load) until none gains. Returns a new array."""
    choice = choice.copy()
    n_k, n_o = u.shape
    load = loads_of(choice, w, dev, n_dev)
    for _ in range(max_steps):
        best_k, best_o, best_gain, best_add = -1, -1, 1e-12, np.inf
        for k in range(n_k):
            c = choice[k]
            for o in range(n_o):
                gain = u[k, o] - u[k, c]
                if gain <= 1e-12 or gain < best_gain - 1e-12:
                    continue
                d = dev[o]
                add = w[k, o] - (w[k, c] if dev[c] == d else 0.0)
                if load[d] + add > slo:
                    continue
                if gain > best_gain + 1e-12 or add < best_add:
                    best_k, best_o, best_gain, best_add = k, o, gain, add
        if best_k < 0:
            break
        c = choice[best_k]
        load[dev[c]] -= w[best_k, c]
        load[dev[best_o]] += w[best_k, best_o]
        choice[best_k] = best_o
    return choice


@njit(cache=True)
def random_feasible(w: np.ndarray, dev: np.ndarray, n_dev: int, slo: float, draws: np.ndarray,
                    attempts: int) -> np.ndarray:
    """Algorithm 1 line 1: random feasible initialisation. Each attempt visits the patches in a random order
    and gives each a uniformly random option that still fits; ``draws`` holds ``attempts · 2K`` uniforms in
    [0, 1). Returns the choice, or an empty array when every attempt hit a dead end."""
    n_k, n_o = w.shape
    choice = np.empty(n_k, dtype=np.int64)
    fits = np.empty(n_o, dtype=np.int64)
    for a in range(attempts):
        r = draws[a * 2 * n_k:(a + 1) * 2 * n_k]
        order = np.arange(n_k)
        for k in range(n_k - 1, 0, -1):  # Fisher–Yates
            j = int(r[k] * (k + 1))
            order[k], order[j] = order[j], order[k]
        load = np.zeros(n_dev)
        ok = True
        for idx in range(n_k):
            k = order[idx]
            n_fit = 0
            for o in range(n_o):
                if load[dev[o]] + w[k, o] <= slo:
                    fits[n_fit] = o
                    n_fit += 1
            if n_fit == 0:
                ok = False
                break
            o = fits[int(r[n_k + idx] * n_fit)]
            choice[k] = o
            load[dev[o]] += w[k, o]
        if ok:
            return choice
    return np.empty(0, dtype=np.int64)


@njit(cache=True)
def markov_chain(choice: np.ndarray, u: np.ndarray, w: np.ndarray, dev: np.ndarray, n_dev: int, slo: float,
                 beta: float, pick_k: np.ndarray, pick_o: np.ndarray, accept: np.ndarray, eps: float,
                 n_stall: int, sweep: int) -> tuple[np.ndarray, int]:
    """Algorithm 1's loop from a feasible ``choice``: proposal t moves patch ``pick_k[t]`` to option
    ``pick_o[t]`` (drawn from the O − 1 others); a feasible proposal is taken when ``accept[t]`` < ρ =
    1 / (1 + e^((U − Ũ)/β)). Stops after ``len(pick_k)`` proposals (T_max) or when the best U has risen by
    less than ``eps`` over each of ``n_stall`` consecutive sweeps of ``sweep`` proposals.
    Returns (best choice visited, proposals made)."""
    n_k = u.shape[0]
    choice = choice.copy()
    load = loads_of(choice, w, dev, n_dev)
    total = 0.0
    for k in range(n_k):
        total += u[k, choice[k]]
    best_total = total
    best = choice.copy()
    mark = total
    stall = 0
    scale = 1.0 / (n_k * beta)
    t_max = pick_k.shape[0]
    for t in range(t_max):
        k = pick_k[t]
        c = choice[k]
        o = pick_o[t]
        if o >= c:
            o += 1
        d = dev[o]
        dc = dev[c]
        new_load = load[d] + w[k, o] - (w[k, c] if d == dc else 0.0)
        if new_load <= slo:
            x = (u[k, c] - u[k, o]) * scale  # (U − Ũ) / β
            rho = 0.0 if x > 700.0 else 1.0 / (1.0 + math.exp(x))
            if accept[t] < rho:
                if d == dc:
                    load[d] = new_load
                else:
                    load[dc] -= w[k, c]
                    load[d] = new_load
                total += u[k, o] - u[k, c]
                choice[k] = o
                if total > best_total + 1e-12:
                    best_total = total
                    best[:] = choice
        if (t + 1) % sweep == 0:
            if (best_total - mark) / n_k < eps:
                stall += 1
                if stall >= n_stall:
                    return best, t + 1
            else:
                stall = 0
                mark = best_total
    return best, t_max


# A numba kernel, kept as one flat loop nest: helpers would add calls in the hot loop.
@njit(cache=True)
def best_pair_move(choice: np.ndarray, load: np.ndarray, u: np.ndarray, w: np.ndarray, dev: np.ndarray,  # noqa: C901
                   slo: float, order: np.ndarray, n_dev: int) -> tuple[int, int, int, int]:
    """At a single-move local optimum: the feasible two-patch change with the largest utility gain (> 0), as
    (k1, o1, k2, o2); k1 = −1 when none gains.

    Such a change always pairs a gaining move k1 → o1 that overloads device a = dev[o1] alone with a move of
    a patch k2 now on a (leaving it, or taking a faster model there) — so only those pairs are searched,
    O(K·O·(K/C)·O) instead of O(K²O²). ``order[k]`` lists patch k's options by decreasing utility, so the
    scan of k2's options stops at the first that cannot beat the best pair so far."""
    n_k, n_o = u.shape
    best = (-1, -1, -1, -1)
    best_gain = 1e-12
    n_on = np.zeros(n_dev, dtype=np.int64)  # patches per device, listed in members[start[i]:start[i]+n_on[i]]
    for k in range(n_k):
        n_on[dev[choice[k]]] += 1
    start = np.zeros(n_dev + 1, dtype=np.int64)
    for i in range(n_dev):
        start[i + 1] = start[i] + n_on[i]
    members = np.empty(n_k, dtype=np.int64)
    fill = start[:-1].copy()
    for k in range(n_k):
        i = dev[choice[k]]
        members[fill[i]] = k
        fill[i] += 1
    for k1 in range(n_k):
        c1 = choice[k1]
        s1 = dev[c1]
        for o1 in range(n_o):
            g1 = u[k1, o1] - u[k1, c1]
            if o1 == c1 or g1 <= 1e-12:
                continue
            a = dev[o1]
            over = load[a] + w[k1, o1] - (w[k1, c1] if s1 == a else 0.0)
            if over <= slo:
                continue  # feasible alone: the single-move ascent handles it
            for m in range(start[a], start[a + 1]):
                k2 = members[m]
                c2 = choice[k2]
                if k2 == k1:
                    continue
                for r in range(n_o):
                    o2 = order[k2, r]
                    gain = g1 + u[k2, o2] - u[k2, c2]
                    if gain <= best_gain:
                        break
                    if o2 == c2:
                        continue
                    d2 = dev[o2]
                    if over - w[k2, c2] + (w[k2, o2] if d2 == a else 0.0) > slo:
                        continue
                    if d2 != a and load[d2] + w[k2, o2] - (w[k1, c1] if s1 == d2 else 0.0) > slo:
                        continue
                    best_gain = gain
                    best = (k1, o1, k2, o2)
    return best


@njit(cache=True)
def ascend_pairs(choice: np.ndarray, u: np.ndarray, w: np.ndarray, dev: np.ndarray, n_dev: int, slo: float,
                 max_steps: int) -> np.ndarray:
    """:func:`ascend`, and when no single change gains, the best two-patch change; repeat until neither gains."""
    order = np.empty(u.shape, dtype=np.int64)
    for k in range(u.shape[0]):
        order[k] = np.argsort(-u[k])
    for _ in range(max_steps):
        choice = ascend(choice, u, w, dev, n_dev, slo, max_steps)
        load = loads_of(choice, w, dev, n_dev)
        k1, o1, k2, o2 = best_pair_move(choice, load, u, w, dev, slo, order, n_dev)
        if k1 < 0:
            break
        choice[k1] = o1
        choice[k2] = o2
    return choice
