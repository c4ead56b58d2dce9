"""Traces as one self-contained HTML file: readable from disk, no server, no request leaves the page.

Per trace: the question; a timeline of the video with the skim frames and every crop window on it; per turn the
reasoning, the call and the frames it returned (thumbnails with timestamps); the answer, ground truth and score.
Several traces get an index with filters (correct / incorrect / unscored, number of crops).
Everything the model wrote is escaped: a trace is untrusted text.
"""

from __future__ import annotations

import json
from html import escape
from importlib import resources
from pathlib import Path

from longvt_plugins.core.trace import Trace, frame_key

# The page may load nothing: styles and script are inline, images are data: URIs.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
_W, _PAD = 1000, 12  # timeline viewBox width and side padding


def _static(name: str) -> str:
    return resources.files("longvt_plugins.viewer").joinpath(name).read_text(encoding="utf-8")


def correctness(trace: Trace) -> str:
    """The index filter value of a trace: correct, incorrect or unscored."""
    if not trace.score:
        return "unscored"
    correct = trace.score.get("correct")
    if correct is None:
        correct = float(trace.score.get("score", 0.0)) >= 1.0
    return "correct" if correct else "incorrect"


def render_html(traces: list[Trace], *, title: str | None = None) -> str:
    if not traces:
        raise ValueError("no traces to render")
    title = title or ("LongVT trace" if len(traces) == 1 else f"LongVT traces ({len(traces)})")
    body = [f"<h1>{escape(title)}</h1>"]
    if any(t.backend.get("random_weights") or t.meta.get("random_weights") for t in traces):
        body.append(
            '<div class="banner" id="random-weights">Random-weight demo model: this trace shows the machinery '
            "(skim, crop calls, frames, limits), not the intelligence. Use <code>--model PATH</code> for a real "
            "checkpoint.</div>"
        )
    if len(traces) > 1:
        body.append(_index(traces))
    body.extend(_trace_section(t, i) for i, t in enumerate(traces))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_static('viewer.css')}</style></head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{_static('viewer.js')}</script>\n</body></html>\n"
    )


def write_html(traces: list[Trace], path: str | Path, *, title: str | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(render_html(traces, title=title), encoding="utf-8")
    tmp.replace(path)
    return path


# ------------------------------------------------------------------------------------------------ index
def _index(traces: list[Trace]) -> str:
    scored = [t for t in traces if t.score]
    right = sum(correctness(t) == "correct" for t in traces)
    acc = f"{right}/{len(scored)} correct" if scored else "unscored"
    mean_crops = sum(len(t.crops) for t in traces) / len(traces)
    rows = []
    for i, t in enumerate(traces):
        state = correctness(t)
        rows.append(
            f'<tr class="trace-row" data-trace data-correct="{state}" data-crops="{len(t.crops)}">'
            f'<td><a href="#{_anchor(t, i)}">{i + 1}</a></td><td>{escape(_clip(t.question, 120))}</td>'
            f"<td>{escape(t.final_answer or '-')}</td><td>{escape(t.ground_truth or '-')}</td>"
            f'<td><span class="badge {_badge(state)}">{state}</span></td><td>{len(t.crops)}</td>'
            f"<td>{escape(t.stop_reason)}</td></tr>"
        )
    return (
        f'<div class="card" id="index"><h2>Index</h2><p class="muted">{len(traces)} traces · {acc} · '
        f"{mean_crops:.2f} crops per trace</p>"
        '<div class="filters"><label>Result <select id="filter-correct"><option value="all">all</option>'
        '<option value="correct">correct</option><option value="incorrect">incorrect</option>'
        '<option value="unscored">unscored</option></select></label>'
        '<label>Crops <select id="filter-crops"><option value="any">any</option><option value="0">0</option>'
        '<option value="1">1</option><option value="2">2</option><option value="3+">3+</option></select></label>'
        '<span id="filter-count" class="muted"></span></div>'
        '<table class="index"><thead><tr><th>#</th><th>question</th><th>answer</th><th>truth</th><th>result</th>'
        "<th>crops</th><th>stop</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def _anchor(trace: Trace, i: int) -> str:
    return f"trace-{i + 1}-{''.join(ch for ch in trace.id if ch.isalnum())[:24]}"


def _badge(state: str) -> str:
    return {"correct": "ok", "incorrect": "bad"}.get(state, "")


def _clip(text: str, n: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ------------------------------------------------------------------------------------------------ one trace
def _trace_section(t: Trace, i: int) -> str:
    state = correctness(t)
    model = t.backend.get("model") or t.backend.get("name") or "?"
    badges = [
        f'<span class="badge {"ok" if t.stop_reason == "answer" else "warn"}">stop: {escape(t.stop_reason)}</span>',
        f'<span class="badge {_badge(state)}">{state}</span>',
        f'<span class="badge">{len(t.crops)} crop(s)</span>',
        f'<span class="badge">{len(t.turns)} turn(s)</span>',
        f'<span class="badge">{t.frames_seen} frames seen</span>',
        f'<span class="badge">{escape(_clip(str(model), 60))}</span>',
    ]
    usage = t.usage
    stats = (
        f"{usage['prompt_tokens']} prompt / {usage['completion_tokens']} generated tokens · "
        f"{t.timings.get('total_s', 0.0):.2f}s total"
    )
    parts = [
        f'<section class="card trace" id="{_anchor(t, i)}" data-trace data-correct="{state}" '
        f'data-crops="{len(t.crops)}">',
        f'<div class="question">{escape(t.question)}</div><div>{"".join(badges)}</div>',
        f'<p class="muted">{escape(str(t.video.get("path") or ""))} · {stats}</p>',
    ]
    if t.error:
        parts.append(f'<pre class="error">{escape(t.error)}</pre>')
    parts.append(_timeline(t))
    skim = t.skim.get("timestamps", [])
    if skim:
        parts.append(
            f'<details class="skim" open><summary>Skim: {len(skim)} frames</summary><div class="frames">'
            + "".join(_thumb(t, "skim", ts) for ts in skim)
            + "</div></details>"
        )
    parts.append('<ol class="turns">' + "".join(_turn(t, turn) for turn in t.turns) + "</ol>")
    parts.append(_outcome(t))
    parts.append("</section>")
    return "\n".join(parts)


def _duration(t: Trace) -> float:
    d = t.video.get("duration")
    if isinstance(d, (int, float)) and d > 0:
        return float(d)
    ends = [c.end for c in t.crops if c.end is not None] + list(t.skim.get("timestamps", [])) + [1.0]
    return max(ends) * 1.05  # unknown duration (verl dumps): scale to what was looked at


def _x(ts: float, duration: float) -> float:
    return _PAD + (_W - 2 * _PAD) * min(max(ts / duration, 0.0), 1.0)


def _nice_step(duration: float) -> float:
    for step in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600):
        if duration / step <= 12:
            return step
    return 7200


def _timeline(t: Trace) -> str:
    duration = _duration(t)
    rows = max(1, len(t.crops))
    height = 46 + 18 * rows
    svg = [f'<svg viewBox="0 0 {_W} {height}" role="img" aria-label="video timeline">']
    svg.append(f'<line class="axis" x1="{_PAD}" y1="24" x2="{_W - _PAD}" y2="24"/>')
    step = _nice_step(duration)
    tick = 0.0
    while tick <= duration + 1e-9:
        x = _x(tick, duration)
        svg.append(f'<line class="axis" x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="28"/>')
        svg.append(f'<text class="tick-label" x="{x:.1f}" y="12" text-anchor="middle">{_clock(tick)}</text>')
        tick += step
    for ts in t.skim.get("timestamps", []):
        x = _x(ts, duration)
        svg.append(
            f'<line class="skim-tick" data-t="{ts:.3f}" x1="{x:.1f}" y1="17" x2="{x:.1f}" y2="31">'
            f"<title>skim {ts:.1f}s</title></line>"
        )
    for row, c in enumerate(t.crops):
        y = 38 + 18 * row
        start = c.start if c.start is not None else _num(c.arguments.get("start_time"))
        end = c.end if c.end is not None else _num(c.arguments.get("end_time"))
        if start is None or end is None:
            continue
        x0, x1 = _x(start, duration), _x(max(end, start), duration)
        cls = "crop-window" if c.ok else "crop-window failed"
        svg.append(
            f'<rect class="{cls}" data-crop="{c.index}" data-start="{start:.3f}" data-end="{end:.3f}" '
            f'x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 2):.1f}" height="14" rx="2">'
            f"<title>crop #{c.index} (turn {c.turn}): {start:.1f}s-{end:.1f}s{'' if c.ok else ' failed'}</title></rect>"
        )
        for ts in c.timestamps:
            svg.append(f'<circle class="crop-frame" cx="{_x(ts, duration):.1f}" cy="{y + 7}" r="2"/>')
        label_x = min(x1 + 4, _W - 60)
        svg.append(f'<text class="crop-label" x="{label_x:.1f}" y="{y + 11}">#{c.index}</text>')
    svg.append("</svg>")
    legend = (
        '<div class="legend"><span><i style="background:var(--skim)"></i>skim frames</span>'
        '<span><i style="background:var(--crop);opacity:.5"></i>crop windows (dots: frames returned)</span>'
        f"<span>duration {_clock(duration)}</span></div>"
    )
    return '<div class="timeline">' + "".join(svg) + legend + "</div>"


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def _num(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _thumb(t: Trace, source: str, ts: float) -> str:
    src = t.thumbnails.get(frame_key(source, ts), "")
    caption = f"<figcaption>{ts:.1f}s</figcaption>"
    if src.startswith(("data:image/jpeg;base64,", "data:image/png;base64,")):
        return f'<figure class="frame-thumb" data-t="{ts:.3f}"><img alt="{ts:.1f}s" src="{escape(src)}">{caption}</figure>'
    return (
        f'<figure class="frame-thumb missing" data-t="{ts:.3f}"><div class="nothumb"></div>{caption}</figure>'
    )


def _turn(t: Trace, turn) -> str:
    tokens = "?" if turn.completion_tokens is None else turn.completion_tokens
    meta = (
        f'<div class="meta">Turn {turn.index} · {tokens} tokens · {turn.generate_s:.2f}s · '
        f"finish: {escape(turn.finish_reason)} · {escape(turn.call_format)}</div>"
    )
    out = [f'<li class="turn" data-turn="{turn.index}">', meta]
    if turn.content.strip():
        out.append(f'<pre class="reasoning">{escape(turn.content.strip())}</pre>')
    crops = {c.index: c for c in t.crops}
    for call in turn.tool_calls:
        args = json.dumps(call.get("arguments", {}), ensure_ascii=False)
        out.append(f'<pre class="call">{escape(call.get("name", "?"))}({escape(args)})</pre>')
    for err in turn.tool_call_errors:
        out.append(f'<pre class="crop-result failed">{escape(err)}</pre>')
    for idx in turn.crops:
        c = crops.get(idx)
        if c is None:
            continue
        if c.ok:
            window = f"{c.start:.1f}s-{c.end:.1f}s" if c.start is not None else "?"
            out.append(
                f'<div class="crop-result" data-crop="{c.index}">crop #{c.index}: {window}, '
                f"{len(c.timestamps)} frames</div>"
            )
            out.append(
                '<div class="frames">'
                + "".join(_thumb(t, f"crop{c.index}", ts) for ts in c.timestamps)
                + "</div>"
            )
        else:
            out.append(
                f'<div class="crop-result failed" data-crop="{c.index}">crop #{c.index} failed: '
                f"{escape(c.error or c.text)}</div>"
            )
    out.append("</li>")
    return "".join(out)


def _outcome(t: Trace) -> str:
    rows = [("Answer", t.final_answer or "(none)"), ("Ground truth", t.ground_truth or "(not given)")]
    if t.score:
        method = t.score.get("method", "")
        extra = " (fallback)" if t.score.get("fallback") else ""
        rows.append(("Score", f"{t.score.get('score')} · {method}{extra}"))
        if t.score.get("reason"):
            rows.append(("Why", str(t.score["reason"])))
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(str(v))}</dd>" for k, v in rows)
    return f'<dl class="outcome">{items}</dl>'
