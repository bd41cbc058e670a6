"""Robust scaling of raw molecular descriptors (median / IQR, clipped), fitted once and saved with the model.

RDKit descriptors span wildly different scales (a molecular weight of ~400 beside a fraction of sp3 carbons in
[0, 1] and counts that are almost always 0), with heavy tails and the odd NaN. A network needs them centred
and on one scale, and the scaling must travel with the weights: :class:`DescriptorScaler` keeps its statistics
in buffers, so a saved ``state_dict`` (a checkpoint, a model file) carries them and the predictor scales new
molecules exactly as training did.

Fitting is unsupervised: it reads descriptor values only, never labels (the meta-trainer fits it on the
molecules of its training tasks).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

__all__ = ["DescriptorScaler"]


class DescriptorScaler(nn.Module):
    r"""Robust standardization :math:`z = \mathrm{clip}((x - \mathrm{median}) / \mathrm{IQR}, -c, c)`, NaN
    :math:`\to 0` (the median).

    Statistics per column, ignoring NaN: ``center`` is the median; ``scale`` the interquartile range, or, for a
    column whose IQR is below ``min_scale`` (sparse counts that are mostly 0, constant columns), its standard
    deviation, or ``1`` when that is below ``min_scale`` too (a constant column then maps to 0, never a division
    by zero). A column with no finite value at all gets center 0, scale 1 (it maps to 0 everywhere).

    Args:
        channels (int): number of descriptor columns.
        clip (float, optional): bound of the scaled values, against heavy tails. (default: ``5.0``)
        min_scale (float, optional): smallest IQR (or standard deviation) used as a scale. (default: ``1e-6``)

    Shapes:
        - **input:** raw descriptors :math:`(G, D)`, any float dtype, NaN allowed
        - **output:** :math:`(G, D)` finite, in :math:`[-c, c]`

    Raises ``RuntimeError`` when used before :meth:`fit` (or before loading a fitted ``state_dict``): unscaled
    values of ~400 would silently swamp the embedding.
    """

    center: Tensor
    scale: Tensor
    n_fitted: Tensor

    def __init__(self, channels: int, clip: float = 5.0, min_scale: float = 1e-6) -> None:
        super().__init__()
        if channels < 1:
            raise ValueError(f"channels must be positive, got {channels}")
        if not clip > 0 or not min_scale > 0:
            raise ValueError(f"clip and min_scale must be positive, got clip={clip}, min_scale={min_scale}")
        self.channels, self.clip, self.min_scale = channels, float(clip), float(min_scale)
        self.register_buffer("center", torch.zeros(channels))
        self.register_buffer("scale", torch.ones(channels))
        self.register_buffer("n_fitted", torch.zeros((), dtype=torch.long))  # molecules the statistics came from

    @property
    def fitted(self) -> bool:
        return bool(self.n_fitted > 0)

    @torch.no_grad()
    def fit(self, values: Tensor | np.ndarray) -> "DescriptorScaler":
        """Sets ``center`` and ``scale`` from raw descriptors ``values`` ``[n, channels]`` (NaN ignored); returns self.

        Unsupervised: only descriptor values are read. Statistics are computed in float64 with NumPy (no size limit,
        unlike ``torch.quantile``) and stored in the buffers' dtype and device.
        """
        array = values.detach().cpu().double().numpy() if isinstance(values, Tensor) else np.asarray(values, np.float64)
        if array.ndim != 2 or array.shape[1] != self.channels:
            raise ValueError(f"expected descriptor values of shape (n, {self.channels}), got {array.shape}")
        if array.shape[0] == 0:
            raise ValueError("cannot fit a descriptor scaler on no molecules")
        array = np.where(np.isfinite(array), array, np.nan)
        center = np.zeros(self.channels)
        scale = np.ones(self.channels)
        seen = ~np.isnan(array).all(axis=0)
        if seen.any():
            known = array[:, seen]
            center[seen] = np.nanmedian(known, axis=0)
            q25, q75 = np.nanpercentile(known, [25.0, 75.0], axis=0)
            iqr = q75 - q25
            std = np.nanstd(known, axis=0)
            scale[seen] = np.where(iqr >= self.min_scale, iqr, np.where(std >= self.min_scale, std, 1.0))
        self.center.copy_(torch.from_numpy(center))
        self.scale.copy_(torch.from_numpy(scale))
        self.n_fitted.fill_(array.shape[0])
        return self

    def forward(self, values: Tensor) -> Tensor:
        if not self.fitted:
            raise RuntimeError("the descriptor scaler is not fitted: call fit() on training molecules' descriptors "
                               "(GraphEncoder.fit_descriptor_scaler; MetaTrainer does it) or load a fitted model")
        if values.dim() != 2 or values.shape[1] != self.channels:
            raise ValueError(f"expected descriptors of shape (G, {self.channels}), got {tuple(values.shape)}")
        z = (values.to(self.center.dtype) - self.center) / self.scale
        return torch.nan_to_num(z, nan=0.0, posinf=self.clip, neginf=-self.clip).clamp_(-self.clip, self.clip)

    def extra_repr(self) -> str:
        return f"{self.channels}, clip={self.clip:g}, fitted={self.fitted}"
