"""One line panel drawn with PIL (the benchmarks' PNGs need no plotting dependency)."""

from __future__ import annotations

from PIL import ImageDraw


def panel(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int], points: list[tuple[int, float]], title: str,
          *, top: float, first_step: int, last_step: int) -> None:  # fmt: skip
    """Points (step, value) as a line with dots inside `box` = (x0, y0, width, height), y from 0 to `top`."""
    x0, y0, pw, ph = box
    d.rectangle((x0, y0, x0 + pw, y0 + ph), outline="black")
    d.text((x0, y0 - 16), f"{title} (0..{top:.2g})", fill="black")
    d.text((x0, y0 + ph + 4), f"step {first_step} .. {last_step}", fill="black")
    span = max(last_step - first_step, 1)
    xy = [(x0 + pw * (s - first_step) / span, y0 + ph - ph * v / top) for s, v in points]
    if len(xy) > 1:
        d.line(xy, fill=(30, 60, 220), width=2)
    for x, y in xy:
        d.ellipse((x - 3, y - 3, x + 3, y + 3), fill=(220, 30, 30))
