"""Run-time distributions as an inline SVG strip plot with boxes (no plotting library).

One row per side: every run as a dot, the middle half of the runs as a box, the median as a
thick line. The axis turns logarithmic when the sides are more than 20 times apart, so a
0.1 ms index scan and a 50 ms sequential scan both stay readable. Every text is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from ._stats import summarize

__all__ = ["distribution_svg"]

_ROW_HEIGHT = 34
_LEFT = 70
_RIGHT = 16
_TOP = 8
_AXIS = 26
# Muted text in the theme's secondary colour: CSS variables work in style, not in attributes.
_MUTED = 'style="fill:var(--jp-ui-font-color2,#666)"'
_COLOURS = ("#7f8c9a", "#1f77b4", "#d62728", "#2ca02c")
_LOG_RATIO = 20.0


def distribution_svg(
    samples: Sequence[tuple[str, Sequence[float]]], *, unit: str = "ms", width: int = 560
) -> str:
    """An SVG of each named sample's values; empty samples get a row saying "no runs"."""
    values = [v for _, sample in samples for v in sample if v > 0]
    height = _TOP + _ROW_HEIGHT * len(samples) + _AXIS
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="nexus-distribution" width="{width}"'
        f' height="{height}" viewBox="0 0 {width} {height}" role="img"'
        ' style="font-family:var(--jp-ui-font-family,sans-serif);font-size:11px;'
        # Text follows JupyterLab's theme (readable in dark mode); marks keep their colours.
        'fill:var(--jp-ui-font-color1,#222)">',
        f"<title>{escape(_title(samples, unit))}</title>",
    ]
    scale = _Scale(values, _LEFT, width - _RIGHT)
    for index, (name, sample) in enumerate(samples):
        colour = _COLOURS[index % len(_COLOURS)]
        middle = _TOP + _ROW_HEIGHT * index + _ROW_HEIGHT / 2
        parts.append(
            f'<text x="{_LEFT - 6}" y="{middle + 4:.1f}" text-anchor="end">{escape(name)}</text>'
        )
        parts.extend(_row(sample, scale, middle, colour))
    axis_y = _TOP + _ROW_HEIGHT * len(samples)
    parts.append(
        f'<line x1="{_LEFT}" y1="{axis_y}" x2="{width - _RIGHT}" y2="{axis_y}" stroke="#999"/>'
    )
    for tick in scale.ticks():
        x = scale(tick)
        parts.append(f'<line x1="{x:.1f}" y1="{axis_y}" x2="{x:.1f}" y2="{axis_y + 4}"'
                     ' stroke="#999"/>')  # fmt: skip
        parts.append(
            f'<text x="{x:.1f}" y="{axis_y + 15}" text-anchor="middle">'
            f"{escape(_tick_label(tick))}</text>"
        )
    log_note = " (log scale)" if scale.log else ""
    parts.append(
        f'<text x="{width - _RIGHT}" y="{axis_y + 25}" text-anchor="end" {_MUTED}>'
        f"{escape(unit + log_note)}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _row(sample: Sequence[float], scale: _Scale, middle: float, colour: str) -> list[str]:
    if not sample:
        return [f'<text x="{_LEFT + 4}" y="{middle + 4:.1f}" {_MUTED}>no runs</text>']
    summary = summarize(sample)
    half = _ROW_HEIGHT * 0.3
    q1, q3, med = scale(summary.q1), scale(summary.q3), scale(summary.median)
    low, high = scale(summary.minimum), scale(summary.maximum)
    parts = [
        f'<line x1="{low:.1f}" y1="{middle:.1f}" x2="{high:.1f}" y2="{middle:.1f}"'
        f' stroke="{colour}" stroke-width="1"/>',
        f'<rect x="{q1:.1f}" y="{middle - half:.1f}" width="{max(q3 - q1, 1):.1f}"'
        f' height="{2 * half:.1f}" fill="{colour}" fill-opacity="0.18" stroke="{colour}"/>',
        f'<line x1="{med:.1f}" y1="{middle - half:.1f}" x2="{med:.1f}" y2="{middle + half:.1f}"'
        f' stroke="{colour}" stroke-width="3"><title>median {_tick_label(summary.median)}'
        "</title></line>",
    ]
    for index, value in enumerate(sample):
        # Spread the dots over the row by run number, so equal times do not hide each other.
        jitter = ((index * 7) % 11 - 5) / 5 * half * 0.8
        parts.append(
            f'<circle cx="{scale(value):.1f}" cy="{middle + jitter:.1f}" r="2.5"'
            f' fill="{colour}" fill-opacity="0.75"><title>run {index + 1}: '
            f"{_tick_label(value)}</title></circle>"
        )
    return parts


def _title(samples: Sequence[tuple[str, Sequence[float]]], unit: str) -> str:
    described = []
    for name, sample in samples:
        if sample:
            summary = summarize(sample)
            described.append(
                f"{name}: median {_tick_label(summary.median)} {unit}, {len(sample)} runs"
            )
        else:
            described.append(f"{name}: no runs")
    return "; ".join(described)


def _tick_label(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.3g}"
    return f"{value:.2g}"


class _Scale:
    """Values to x positions, linear or logarithmic."""

    def __init__(self, values: Sequence[float], left: float, right: float) -> None:
        low = min(values) if values else 0.001
        high = max(values) if values else 1.0
        self.log = low > 0 and high / low > _LOG_RATIO
        if self.log:
            self.low, self.high = math.log10(low), math.log10(high)
        else:
            self.low, self.high = 0.0, high * 1.05 if high > 0 else 1.0
        if self.high <= self.low:
            self.high = self.low + 1.0
        pad = (self.high - self.low) * 0.04 if self.log else 0.0
        self.low, self.high = self.low - pad, self.high + pad
        self.left, self.right = left, right

    def __call__(self, value: float) -> float:
        position = math.log10(max(value, 1e-9)) if self.log else value
        fraction = (position - self.low) / (self.high - self.low)
        return self.left + min(max(fraction, 0.0), 1.0) * (self.right - self.left)

    def ticks(self) -> list[float]:
        if self.log:
            first, last = math.floor(self.low), math.ceil(self.high)
            decades = [10.0**power for power in range(first, last + 1)]
            return [t for t in decades if self.low <= math.log10(t) <= self.high]
        step = _nice_step(self.high / 5)
        return [step * i for i in range(int(self.high / step) + 1)]


def _nice_step(raw: float) -> float:
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    for factor in (1, 2, 2.5, 5, 10):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10 * magnitude  # pragma: no cover - factor 10 always fits
