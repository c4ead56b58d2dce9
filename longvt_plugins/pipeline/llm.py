"""Model calls of the pipeline stages, through the openai SDK against any OpenAI-compatible server.

Transport problems (429, 5xx, timeouts) are retried by the SDK itself (`max_retries`). Replies that must have a
shape (JSON, yes/no, a score) are parsed by the caller's function; an unparsable reply is asked again up to
`json_retries` more times and then becomes a failure record that quotes the reply, never a crash.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections.abc import Callable
from typing import TypeVar

from longvt_plugins.pipeline.units import UnitFailed

T = TypeVar("T")


class ReplyError(ValueError):
    """A model reply does not have the shape the stage needs (the message says what was expected)."""


class ModelClient:
    """One endpoint (base_url, model, sampling settings); thread-safe, shared by a stage's worker threads."""

    def __init__(self, endpoint: dict):
        import openai

        if not endpoint.get("base_url"):
            raise UnitFailed(
                "no model endpoint configured: set model.base_url in the pipeline config "
                "(or LONGVT_PIPELINE_BASE_URL / OPENAI_BASE_URL)"
            )
        self.endpoint = endpoint
        self._client = openai.OpenAI(
            base_url=endpoint["base_url"],
            api_key=endpoint.get("api_key") or "EMPTY",
            timeout=float(endpoint.get("timeout", 120.0)),
            max_retries=int(endpoint.get("retries", 3)),
        )
        self._model = endpoint.get("model")

    @property
    def model(self) -> str:
        if not self._model:
            models = [m.id for m in self._client.models.list()]
            if not models:
                raise UnitFailed(f"{self.endpoint['base_url']} serves no models; set `model:` in the config")
            self._model = models[0]
        return self._model

    def chat(
        self, messages: list[dict], *, max_tokens: int | None = None, temperature: float | None = None
    ) -> str:
        import openai

        try:
            resp = self._client.chat.completions.create(
                model=self.model,
                messages=messages,
                max_tokens=int(max_tokens or self.endpoint.get("max_tokens", 1024)),
                temperature=float(
                    self.endpoint.get("temperature", 0.2) if temperature is None else temperature
                ),
            )
        except openai.APIError as exc:
            raise UnitFailed(f"model request failed ({type(exc).__name__}): {str(exc)[:300]}") from exc
        if not resp.choices:
            raise ReplyError("the reply has no choices")
        content = resp.choices[0].message.content
        return strip_think(content or "")

    def chat_parsed(self, messages: list[dict], parse: Callable[[str], T], *, what: str, **kw) -> T:
        """Ask, parse; on a malformed reply ask again (json_retries times) and then fail with the reply quoted."""
        attempts = 1 + max(0, int(self.endpoint.get("json_retries", 2)))
        last = ""
        problem = ""
        for _ in range(attempts):
            last = self.chat(messages, **kw)
            try:
                return parse(last)
            except ReplyError as exc:
                problem = str(exc)
        snippet = last.strip().replace("\n", " ")[:200]
        raise UnitFailed(f"model reply is not {what} after {attempts} attempts ({problem}): {snippet!r}")

    def close(self) -> None:
        self._client.close()


def strip_think(text: str) -> str:
    """Drop a reasoning model's <think>...</think> preamble; the answer is what follows."""
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    return text.strip()


_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


def parse_json_object(text: str) -> dict:
    """The JSON object in a reply: the whole reply, a ```json fenced block, or the outermost {...} span."""
    s = text.strip()
    m = _FENCE.match(s)
    if m:
        s = m.group(1)
    for candidate in (s, s[s.find("{") : s.rfind("}") + 1] if "{" in s and "}" in s else ""):
        if not candidate:
            continue
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise ReplyError("expected a JSON object")


def parse_yes_no(text: str) -> bool:
    word = re.sub(r"[^a-z]", " ", text.lower()).split()
    if word and word[0] in ("yes", "no"):
        return word[0] == "yes"
    raise ReplyError("expected 'yes' or 'no'")


def parse_score(text: str) -> float:
    """A score in [0, 1]; a percentage ("85%" or "85") is scaled. The last number in the reply counts."""
    nums = re.findall(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(%?)", text)
    if not nums:
        raise ReplyError("expected a number between 0 and 1")
    value, pct = nums[-1]
    x = float(value)
    if pct or 1.0 < x <= 100.0:
        x /= 100.0
    if not 0.0 <= x <= 1.0:
        raise ReplyError(f"score {value} is outside [0, 1]")
    return x


def frame_parts(sampled, *, quality: int = 85) -> list[dict]:
    """Chat content parts for sampled frames: a timestamp text before each JPEG image."""
    parts: list[dict] = []
    for img, t in zip(sampled.to_pil(), sampled.timestamps, strict=True):
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=quality)
        url = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        parts.append({"type": "text", "text": f"<{t:.1f}s>"})
        parts.append({"type": "image_url", "image_url": {"url": url}})
    return parts
