"""The latency-aware loss of Eq. 3, in a positive, normalised form.

The paper prints ``L = α · log(#operations / FLOPS)^β · L_CE``. ``#operations / FLOPS`` is a time in
seconds, far below 1, so the log is negative and a fractional power of it undefined. We keep its meaning —
the cross-entropy is weighted by a factor that grows with the cell's expected latency on the target device —
and take the log-linear form::

    T = 2 · E[MACs] / FLOPS                       expected latency in seconds (1 MAC = 2 FLOPs)
    L = α · (1 + T / T_ref)^β · L_CE              i.e.  log L = log α + β · log(1 + T / T_ref) + log L_CE

``E[MACs]`` is the differentiable expected MACs per image (:class:`factory.nas.cost.ExpectedMacs`), FLOPS the
device's floating-point operations per second, ``T_ref`` (seconds) the latency at which the penalty starts
to bite, α a scale (irrelevant to the direction of the architecture step, which Adam normalises) and β the
strength. Why not ``α · log(1 + T/T_ref)^β`` (the form first suggested): what steers the architecture is
the elasticity ``∂ log L / ∂ log T``, which for ``log(1 + x)^β`` is ``β·x / ((1+x)·log(1+x))`` — largest
(→ β) for the *fastest* device (x → 0) and falling as the device gets slower, so a Jetson would be pushed
harder towards cheap ops than a Raspberry Pi. Here it is ``β · x / (1 + x)``: ≈ 0 where the device makes
the backbone's latency negligible against ``T_ref``, → β where it does not, monotone in T, so a slower
device (lower FLOPS) always gets the stronger pull towards fewer MACs. Without a device (the unpenalised
ablation) ``L = L_CE``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LatencyLoss:
    """Eq. 3 for one device: ``flops`` (FLOP/s), ``t_ref`` (s), ``alpha`` (scale), ``beta`` (strength)."""

    flops: float
    t_ref: float = 1e-4
    alpha: float = 1.0
    beta: float = 1.0

    def __post_init__(self) -> None:
        if not self.flops > 0:
            raise ValueError(f"FLOPS must be > 0, got {self.flops}")
        if not self.t_ref > 0:
            raise ValueError(f"T_ref must be > 0, got {self.t_ref}")

    def latency(self, macs: torch.Tensor | float) -> torch.Tensor | float:
        """Expected latency T (seconds) of ``macs`` multiply-accumulates on this device."""
        return 2.0 * macs / self.flops

    def weight(self, macs: torch.Tensor) -> torch.Tensor:
        """The factor ``α · (1 + T / T_ref)^β`` (dimensionless, ≥ α)."""
        return self.alpha * (1.0 + self.latency(macs) / self.t_ref) ** self.beta

    def elasticity(self, macs: float) -> float:
        """``∂ log L / ∂ log T`` at ``macs``: how strongly a relative latency cut lowers the loss."""
        x = float(self.latency(macs)) / self.t_ref
        return self.beta * x / (1.0 + x)

    def __call__(self, ce: torch.Tensor, macs: torch.Tensor) -> torch.Tensor:
        """The penalised loss ``weight(macs) · ce``."""
        return self.weight(macs) * ce
