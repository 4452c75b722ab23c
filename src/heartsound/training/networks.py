"""The paper's two CNNs (section 3.4, Figure 6), declared as tables of rows.

* ``LightweightCNN``: MobileNetV2 inverted residual blocks (Sandler et al., 2018) —
  1×1 expansion → 3×3 depthwise → linear 1×1 projection, residual when stride 1 and the
  channel count is unchanged — normalised with LayerNorm over channels (Ba et al., 2016),
  which, unlike BatchNorm, does not depend on the batch (the paper trains with batch 8).
* ``BaseCNN``: plain 3×3 convolutions with BatchNorm, ReLU and max-pooling.

Both take ``(batch, 1, frames, 20)`` for any number of frames (global average pooling) and
return class logits. ``HeartSoundNet`` wraps either one with the training set's feature
standardisation, so an exported model takes raw MFCC maps.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
from torch import nn

# (expansion t, output channels c, repeats n, first stride s) — torchvision's notation.
LIGHT_STEM = 16  # 3×3 conv, stride 2
LIGHT_ROWS: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),
    (4, 24, 2, 2),
    (4, 32, 2, 2),
)
LIGHT_HEAD = 64  # 1×1 conv before pooling

# The paper's blocks see 43 frames (0.34 s) — less than one heart cycle, so a rhythm (an
# extra systole among regular beats) is invisible to them. The "context" variant adds
# depthwise convolutions along time with these dilations after the blocks (receptive field
# ≈ 5 s, ~1.1K parameters) and pools mean and max over time, so one odd beat can show.
CONTEXT_DILATIONS: tuple[int, ...] = (2, 8)
CONTEXT_KERNEL = 9
CONTEXT_HEAD = 52  # narrower head keeps the variant under 30K parameters

# The "temporal" variant reads the 20 coefficients as input channels of convolutions along
# time only (kernel TEMPORAL_KERNEL×1, strides on time): a coefficient index is not a place on
# a frequency axis that a 3×3 kernel could slide over, and the map's time steps are kept
# wider (the frequency axis no longer has to be downsampled). Same table of rows.
TEMPORAL_KERNEL = 5

# The "ensemble" variant: ENSEMBLE_MEMBERS lightweight networks at ENSEMBLE_WIDTH of the
# table's channels, each trained on its own loss, their probabilities averaged — the
# variance of a seed ensemble inside one network's parameter budget.
ENSEMBLE_MEMBERS = 4
ENSEMBLE_WIDTH = 0.45  # 28,988 parameters for 3 classes

# Where to stride (issue 6's architecture search, for log-mel maps whose columns are a
# frequency axis): the same blocks and parameters, but the stem strides along frequency
# only ("keep-time": every frame kept), or along time only ("keep-freq": every band kept),
# or the last row does not stride ("late"). Strides are (time, frequency).
STRIDE_VARIANTS: dict[str, dict] = {
    "keep-time": {"stem_stride": (1, 2)},
    "keep-freq": {"stem_stride": (2, 1)},
    "late": {"rows": (*LIGHT_ROWS[:-1], (*LIGHT_ROWS[-1][:3], 1))},
}

# Widths and depth (issue 6's architecture search): the same kind of blocks, the channels
# spent differently inside the 30K budget — wider bottlenecks with expansion 2 ("wide"),
# narrower ones with expansion 6 ("expand6"), or a fourth row that strides again and a
# narrower head ("deeper"). 27,716 / 29,428 / 29,844 parameters for 4 classes.
WIDTH_VARIANTS: dict[str, dict] = {
    "wide": {"rows": ((1, 16, 1, 1), (2, 32, 2, 2), (2, 48, 2, 2))},
    "expand6": {"rows": ((1, 16, 1, 1), (6, 20, 2, 2), (6, 24, 2, 2))},
    "deeper": {"rows": ((1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 1, 2), (4, 40, 1, 2)),
               "head": 48},
}

# (output channels, stride of the conv, max-pool after) for the base model.
BASE_ROWS: tuple[tuple[int, int, bool], ...] = (
    (16, 2, False),
    (32, 1, True),
    (64, 1, True),
    (96, 1, True),
    (96, 1, False),
)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel axis at every time-frequency position (Keras' axis=-1)."""

    def __init__(self, channels: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ChannelStatistics(nn.Module):
    """The same LayerNorm over channels written without transposes, for ONNX Runtime: the
    mean and variance over the channel axis of an NCHW tensor by ``ReduceMean`` (``how=
    "reduce"``) or by a 1×1 convolution with weights 1/C (``"conv"``). Numerically one model
    with :class:`ChannelLayerNorm` (same parameters); measured by ``heartsound-lab bench``."""

    def __init__(self, layer_norm: ChannelLayerNorm, how: str = "reduce") -> None:
        super().__init__()
        norm = layer_norm.norm
        self.weight, self.bias, self.eps, self.how = norm.weight, norm.bias, norm.eps, how
        channels = norm.normalized_shape[0]
        self.register_buffer("average", torch.full((1, channels, 1, 1), 1.0 / channels))

    def _mean(self, x: torch.Tensor) -> torch.Tensor:
        if self.how == "conv":
            return nn.functional.conv2d(x, self.average)
        return x.mean(dim=1, keepdim=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = x - self._mean(x)
        y = d * torch.rsqrt(self._mean(d * d) + self.eps)
        return y * self.weight[None, :, None, None] + self.bias[None, :, None, None]


def explicit_layer_norm(model: nn.Module, how: str = "reduce") -> nn.Module:
    """``model`` with every :class:`ChannelLayerNorm` replaced, in place, by
    :class:`ChannelStatistics` (for timing the exported graph; the outputs are the same)."""
    for name, child in model.named_children():
        if isinstance(child, ChannelLayerNorm):
            setattr(model, name, ChannelStatistics(child, how))
        else:
            explicit_layer_norm(child, how)
    return model


def channel_norm(channels: int, norm: str = "layer") -> nn.Module:
    """The light network's normalisation: ``"layer"`` (the paper's, per position over
    channels) or ``"batch"`` (BatchNorm, Ioffe & Szegedy, 2015), which the ONNX export folds
    into the preceding convolution, so it costs nothing at inference."""
    if norm == "layer":
        return ChannelLayerNorm(channels)
    if norm == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"unknown norm {norm!r} (expected layer or batch)")


def conv_norm_act(c_in: int, c_out: int, kernel: int | tuple[int, int] = 3,
                  stride: int | tuple[int, int] = 1, groups: int = 1,
                  act: bool = True, norm: str = "layer") -> nn.Sequential:
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    layers: list[nn.Module] = [
        nn.Conv2d(c_in, c_out, (kh, kw), stride, (kh // 2, kw // 2), groups=groups,
                  bias=False),
        channel_norm(c_out, norm),
    ]
    if act:
        layers.append(nn.ReLU6())  # not in place: its input is a fresh tensor anyway
    return nn.Sequential(*layers)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: expand (1×1) → depthwise (3×3, stride) → linear project (1×1)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int,
                 kernel: int | tuple[int, int] = 3, time_only: bool = False,
                 norm: str = "layer", blur: bool = False) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(conv_norm_act(c_in, hidden, kernel=1, norm=norm))
        layers += [
            conv_norm_act(hidden, hidden, kernel, (stride, 1), groups=hidden, norm=norm)
            if time_only else strided(hidden, hidden, kernel, stride, hidden, norm, blur),
            conv_norm_act(hidden, c_out, kernel=1, act=False, norm=norm),  # linear bottleneck
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class TemporalContext(nn.Module):
    """Residual depthwise convolution along time only (kernel k×1, dilation d×1), LayerNorm,
    ReLU6: widens the receptive field over several beats at C·k parameters."""

    def __init__(self, channels: int, dilation: int, kernel: int = CONTEXT_KERNEL,
                 norm: str = "layer") -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, (kernel, 1), padding=(dilation * (kernel // 2), 0),
                      dilation=(dilation, 1), groups=channels, bias=False),
            channel_norm(channels, norm), nn.ReLU6())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class CoefficientsAsChannels(nn.Module):
    """(batch, 1, frames, n_mfcc) → (batch, n_mfcc, frames, 1): coefficients as channels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 2, 1)


class CentreOverTime(nn.Module):
    """Subtract each map's own mean over time from every coefficient: cepstral mean
    normalisation (Atal, 1974), which removes a fixed channel — a stethoscope's or a phone's
    frequency response — from the map. ``scale``: also divide by the map's own standard
    deviation (mean and variance normalisation, Viikki & Laurila, 1998), floored by ``eps``
    in the units of the (already standardised) input."""

    def __init__(self, scale: bool = False, eps: float = 0.1) -> None:
        super().__init__()
        self.scale, self.eps = scale, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x - x.mean(dim=2, keepdim=True)
        if self.scale:
            x = x / torch.sqrt(x.pow(2).mean(dim=2, keepdim=True) + self.eps ** 2)
        return x


class CentreLevel(nn.Module):
    """Subtract each map's mean over time of its first column only. A gain g adds
    20·log10(g) dB to every mel band of a log-mel map, which the DCT moves into c0 alone
    (the other coefficients of a constant are zero), so this removes the recording level
    and keeps everything else — the spectral shape c1… and how c0 moves over time. On a
    log-mel map use ``CentreOverTime``'s per-band centring, or the map's global mean."""

    def __init__(self, columns: int = 1) -> None:
        super().__init__()
        self.columns = columns

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.columns == 0:  # log-mel: one level over time and bands
            return x - x.mean(dim=(2, 3), keepdim=True)
        level = x[..., : self.columns].mean(dim=2, keepdim=True)
        return torch.cat([x[..., : self.columns] - level, x[..., self.columns:]], dim=-1)


class LightweightCNN(nn.Module):
    def __init__(self, n_classes: int, rows: Sequence[tuple[int, int, int, int]] = LIGHT_ROWS,
                 stem: int = LIGHT_STEM, head: int = LIGHT_HEAD, dropout: float = 0.2,
                 context: Sequence[int] = (), pool: str = "mean", temporal: bool = False,
                 centre: str = "off", n_mfcc: int = 20,
                 stem_stride: int | tuple[int, int] = 2, norm: str = "layer",
                 blur: bool = False) -> None:
        super().__init__()
        # centre="drop": the convolutions see maps centred over time, the means are dropped;
        # "side": the means (the recording's channel and level) go to the classifier instead;
        # "scale": centred and divided by their own spread over time; "level": only the
        # level (c0's mean over time) removed — gain-invariant MFCC maps, shape kept.
        centring: list[nn.Module] = (
            [] if centre == "off" else [CentreLevel()] if centre == "level"
            else [CentreOverTime(scale=centre == "scale")])
        self.side = n_mfcc if centre == "side" else 0
        if temporal:  # 1-D along time, the coefficients as the stem's input channels
            kernel: int | tuple[int, int] = (TEMPORAL_KERNEL, 1)
            layers = [*centring, CoefficientsAsChannels(),
                      conv_norm_act(n_mfcc, stem, kernel, (2, 1), norm=norm)]
        else:
            kernel = 3
            layers = [*centring,
                      strided(1, stem, 3, stem_stride, norm=norm, blur=blur)
                      if isinstance(stem_stride, int)
                      else conv_norm_act(1, stem, stride=stem_stride, norm=norm)]
        c = stem
        for t, c_out, n, s in rows:
            for i in range(n):
                layers.append(InvertedResidual(c, c_out, s if i == 0 else 1, t, kernel,
                                               temporal, norm, blur))
                c = c_out
        layers.append(conv_norm_act(c, head, kernel=1, norm=norm))
        layers += [TemporalContext(head, d, norm=norm) for d in context]
        self.features = nn.Sequential(*layers)
        self.pool = pool
        width = head * (2 if pool == "meanmax" else 1) + self.side
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        means = x.mean(dim=(1, 2)) if self.side else None  # (batch, n_mfcc), before centring
        # Channels-last memory makes the LayerNorm permutes free views instead of copies.
        x = self.features(x.contiguous(memory_format=torch.channels_last))
        if self.pool == "meanmax":  # max over time of the frequency mean: one odd beat shows
            pooled = torch.cat([x.mean(dim=(2, 3)), x.mean(dim=3).amax(dim=2)], dim=1)
        else:
            pooled = x.mean(dim=(2, 3))
        if means is not None:
            pooled = torch.cat([pooled, means], dim=1)
        return self.classifier(pooled)


def scaled(channels: int, width: float) -> int:
    """A channel count multiplied by ``width`` (MobileNet's α), at least 4."""
    return max(4, round(channels * width))


class Ensemble(nn.Module):
    """``n_members`` narrow lightweight networks side by side. ``member_logits`` gives each
    member's logits for training (each its own loss: independent members, as in a seed
    ensemble); ``forward`` returns log of the mean of their probabilities, so that a softmax
    of the output is the ensemble's average."""

    def __init__(self, n_classes: int, n_members: int = ENSEMBLE_MEMBERS,
                 width: float = ENSEMBLE_WIDTH, n_mfcc: int = 20) -> None:
        super().__init__()
        rows = tuple((t, scaled(c, width), n, s) for t, c, n, s in LIGHT_ROWS)
        self.members = nn.ModuleList(
            LightweightCNN(n_classes, rows, stem=scaled(LIGHT_STEM, width),
                           head=scaled(LIGHT_HEAD, width), n_mfcc=n_mfcc)
            for _ in range(n_members))

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(members, batch, n_classes)."""
        return torch.stack([m(x) for m in self.members])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_p = torch.log_softmax(self.member_logits(x), dim=-1)
        return torch.logsumexp(log_p, dim=0) - math.log(len(self.members))


def centred_cnn(n_classes: int, n_mfcc: int = 20) -> LightweightCNN:
    """The lightweight network on maps centred over time (cepstral mean normalisation)."""
    return LightweightCNN(n_classes, centre="drop", n_mfcc=n_mfcc)


def normalised_cnn(n_classes: int, n_mfcc: int = 20) -> LightweightCNN:
    """The lightweight network on maps centred and scaled over time (CMVN)."""
    return LightweightCNN(n_classes, centre="scale", n_mfcc=n_mfcc)


def centred_means_cnn(n_classes: int, n_mfcc: int = 20) -> LightweightCNN:
    """Centred maps for the convolutions, each map's means beside the pooled features."""
    return LightweightCNN(n_classes, centre="side", n_mfcc=n_mfcc)


def ensemble_cnn(n_classes: int, n_mfcc: int = 20) -> Ensemble:
    """Four lightweight networks at 0.45 width, averaged (issue 6's search): ≤ 30K parameters."""
    return Ensemble(n_classes, n_mfcc=n_mfcc)


def context_cnn(n_classes: int, n_mfcc: int = 20) -> LightweightCNN:
    """The lightweight network with temporal context and mean+max pooling (issue 6)."""
    return LightweightCNN(n_classes, head=CONTEXT_HEAD, context=CONTEXT_DILATIONS,
                          pool="meanmax")


def temporal_cnn(n_classes: int, n_mfcc: int = 20) -> LightweightCNN:
    """The lightweight network's rows as 1-D convolutions along time (issue 6's search)."""
    return LightweightCNN(n_classes, temporal=True, n_mfcc=n_mfcc)


class BaseCNN(nn.Module):
    def __init__(self, n_classes: int, rows: Sequence[tuple[int, int, bool]] = BASE_ROWS,
                 dropout: float = 0.3, n_mfcc: int = 20, centre: str = "off") -> None:
        super().__init__()
        # centre="level": the paper's network on level-free maps (CentreLevel).
        layers: list[nn.Module] = [CentreLevel()] if centre == "level" else []
        c = 1
        for c_out, stride, pool in rows:
            layers += [nn.Conv2d(c, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU(inplace=True)]
            if pool:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            c = c_out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)  # faster convolutions on CPU
        return self.classifier(self.features(x).mean(dim=(2, 3)))


# Every builder takes (n_classes, n_mfcc=...); only the temporal variant's stem needs n_mfcc.
ARCHITECTURES = {"light": LightweightCNN, "light-context": context_cnn,
                 "light-temporal": temporal_cnn, "light-ensemble": ensemble_cnn,
                 "light-centred": centred_cnn, "light-centred-means": centred_means_cnn,
                 "light-cmvn": normalised_cnn,
                 # Level-free maps (gain-invariant) and BatchNorm, folded away at export.
                 "light-level": functools.partial(LightweightCNN, centre="level"),
                 "light-bn": functools.partial(LightweightCNN, norm="batch"),
                 "light-level-bn": functools.partial(LightweightCNN, centre="level",
                                                     norm="batch"),
                 # The same with anti-aliased strides along time (BlurTime).
                 "light-level-bn-blur": functools.partial(LightweightCNN, centre="level",
                                                          norm="batch", blur=True),
                 "light-centred-bn": functools.partial(LightweightCNN, centre="drop",
                                                       norm="batch"),
                 **{f"light-{centre}{name}": functools.partial(
                     LightweightCNN, centre="drop" if centre else "off", **kwargs)
                    for name, kwargs in (STRIDE_VARIANTS | WIDTH_VARIANTS).items()
                    for centre in ("", "centred-")},
                 "base": BaseCNN,
                 "base-level": functools.partial(BaseCNN, centre="level")}


class BlurTime(nn.Module):
    """Anti-aliased downsampling along time (Zhang, 2019, "Making convolutional networks
    shift-invariant again"): a fixed binomial low-pass [1, 2, 1]/4 over frames, each channel
    on its own, then every ``stride``-th frame. A strided convolution samples its output at
    one phase of the map: a recording that starts one frame later lands on another phase and
    can change the label; blurred first, neighbouring phases read nearly the same. The
    strided layer before it runs at stride 1 along time (and its own stride along frequency),
    as the paper's BlurPool does. No parameters; a depthwise convolution in ONNX."""

    def __init__(self, channels: int, stride: int) -> None:
        super().__init__()
        self.channels, self.stride = channels, stride
        taps = torch.tensor([1.0, 2.0, 1.0]) / 4.0
        self.register_buffer("kernel", taps.view(1, 1, 3, 1).repeat(channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.conv2d(x, self.kernel, stride=(self.stride, 1), padding=(1, 0),
                                    groups=self.channels)


def strided(c_in: int, c_out: int, kernel: int | tuple[int, int], stride: int,
            groups: int = 1, norm: str = "layer", blur: bool = False) -> nn.Sequential:
    """``conv_norm_act`` at ``stride``; with ``blur`` and a stride above 1, the convolution
    strides along frequency only and :class:`BlurTime` downsamples time after it."""
    if not blur or stride == 1:
        return conv_norm_act(c_in, c_out, kernel, stride, groups=groups, norm=norm)
    return nn.Sequential(*conv_norm_act(c_in, c_out, kernel, (1, stride), groups=groups,
                                        norm=norm), BlurTime(c_out, stride))


class HeartSoundNet(nn.Module):
    """Standardise raw MFCC maps with the training set's per-coefficient statistics, then
    classify: input ``(batch, frames, n_mfcc)``, output logits ``(batch, n_classes)``."""

    def __init__(self, arch: str, n_classes: int, n_mfcc: int = 20) -> None:
        super().__init__()
        self.arch = arch
        self.net = ARCHITECTURES[arch](n_classes, n_mfcc=n_mfcc)
        self.register_buffer("mean", torch.zeros(n_mfcc))
        self.register_buffer("std", torch.ones(n_mfcc))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.standardise(x))

    def standardise(self, x: torch.Tensor) -> torch.Tensor:
        return ((x - self.mean) / self.std).unsqueeze(1)

    def member_logits(self, x: torch.Tensor) -> torch.Tensor:
        """(members, batch, n_classes): the logits each training loss is taken on — one
        member for a single network, each member for an ensemble."""
        z = self.standardise(x)
        return self.net.member_logits(z) if isinstance(self.net, Ensemble) else self.net(z)[None]


def build(arch: str, n_classes: int, n_mfcc: int = 20) -> HeartSoundNet:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown model {arch!r} (expected {' or '.join(ARCHITECTURES)})")
    return HeartSoundNet(arch, n_classes, n_mfcc)


def keep_classes(model: HeartSoundNet, keep: Sequence[int]) -> HeartSoundNet:
    """Cut the output layer down to the classes ``keep`` (in that order), in place: a model
    trained jointly on a wider label set then answers only its own dataset's classes (its
    softmax is the wider one's renormalised over them; an ensemble's members each)."""
    index = torch.as_tensor(list(keep))
    for net in model.net.members if isinstance(model.net, Ensemble) else [model.net]:
        old = net.classifier[-1]
        new = nn.Linear(old.in_features, len(keep))
        with torch.no_grad():
            new.weight.copy_(old.weight[index])
            new.bias.copy_(old.bias[index])
        net.classifier[-1] = new
    return model


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (the standardisation buffers are not parameters)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_madds(model: nn.Module, frames: int, n_mfcc: int = 20) -> int:
    """Multiply-adds of one inference, counted by forward hooks on Conv2d and Linear.

    Convention (Howard et al., 2017; the paper's eq. 20): a convolution costs
    ``k_h·k_w·(c_in/groups)·c_out·h_out·w_out``, a linear layer ``in·out``; norms,
    activations, pooling and additions are not counted.
    """
    total = 0

    def conv_hook(m: nn.Conv2d, _inp: object, out: torch.Tensor) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        per_output = kh * kw * (m.in_channels // m.groups)
        total += per_output * m.out_channels * out.shape[2] * out.shape[3]

    def linear_hook(m: nn.Linear, _inp: object, _out: torch.Tensor) -> None:
        nonlocal total
        total += m.in_features * m.out_features

    _trace(model, frames, n_mfcc, [
        m.register_forward_hook(conv_hook) if isinstance(m, nn.Conv2d)
        else m.register_forward_hook(linear_hook)
        for m in model.modules() if isinstance(m, nn.Conv2d | nn.Linear)])
    return total


def activation_peak_bytes(model: nn.Module, frames: int, n_mfcc: int = 20) -> int:
    """Estimated peak activation memory of one float32 inference: the largest sum of one
    layer's input and output tensors over all leaf modules (what a runtime that frees each
    tensor after its last use must hold at once), plus the residual input kept alive."""
    peak = 0

    def hook(_m: nn.Module, inp: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
        nonlocal peak
        size = sum(t.numel() for t in inp if isinstance(t, torch.Tensor)) + out.numel()
        peak = max(peak, size)

    _trace(model, frames, n_mfcc, [
        m.register_forward_hook(hook) for m in model.modules()
        if not list(m.children()) or isinstance(m, InvertedResidual)])
    return peak * 4


def receptive_field(model: HeartSoundNet, frames: int = 872, n_mfcc: int = 20) -> int:
    """Frames of input that one time step of the last feature map depends on, measured as
    the span of the input gradient of the centre step (random input, eval mode)."""
    was_training = model.training
    model.eval()
    torch.manual_seed(0)
    x = torch.randn(1, 1, frames, n_mfcc, requires_grad=True)
    try:
        features = model.net.features(x)
        features[0, :, features.shape[2] // 2].sum().backward()
    finally:
        model.train(was_training)
    touched = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero().flatten()
    return int(touched[-1] - touched[0] + 1)


def _trace(model: nn.Module, frames: int, n_mfcc: int, hooks: list) -> None:
    """One inference on a zero map with ``hooks`` registered, then remove them; the
    model's train/eval mode is left as it was."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, frames, n_mfcc))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)


