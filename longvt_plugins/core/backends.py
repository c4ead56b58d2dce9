"""Backends: one call, `generate(messages, tools, params) -> AssistantTurn`, over any way of running the model.

Messages are the agent's own chat format (the HF/Qwen multimodal shape):
  {"role": "system" | "user", "content": str | [parts]}
  {"role": "assistant", "content": str, "tool_calls": [{"id", "type": "function", "function": {"name",
   "arguments": dict}}], "call_format": "native" | "hermes" | "none", "raw_text": str}
  {"role": "tool", "tool_call_id": str, "name": str, "content": [parts]}
where a part is {"type": "text", "text": ...} or {"type": "image", "image": PIL.Image, "timestamp": float, ...}.

`OpenAIBackend` talks to any OpenAI-compatible server (vLLM, SGLang, hosted) with the openai SDK;
`TransformersBackend` runs a Qwen2.5-VL / Qwen3-VL checkpoint in-process. Both hand back tool calls already parsed
(native `tool_calls` or hermes `<tool_call>` text), so the agent never sees the difference.
"""

from __future__ import annotations

import base64
import io
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from longvt_plugins.core.checkpoints import CheckpointNotFound, resolve_checkpoint
from longvt_plugins.core.families import check_family, family_of, local_family
from longvt_plugins.core.prompts import load_prompt
from longvt_plugins.core.toolcall import ToolCall, parse_tool_calls, tool_response_parts


class BackendError(RuntimeError):
    """The model could not produce a turn (server down, timeout, HTTP error, OOM...). The message says why."""


class ContextExhausted(BackendError):
    """The server refused the request as too large (too many images, or past its context): not a model error."""


@dataclass
class GenerationParams:
    # A cap on this turn's new tokens. None: the caller's budget decides (run_agent: AgentBudgets.max_new_tokens
    # or the protocol's room); a backend called directly with None stops at DIRECT_MAX_TOKENS.
    max_tokens: int | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] | None = None
    timeout: float | None = 300.0  # seconds, per request (OpenAI backend)
    extra: dict[str, Any] = field(default_factory=dict)  # backend-specific: extra_body / generate() kwargs


DIRECT_MAX_TOKENS = 1024


def token_limit(params: GenerationParams) -> int:
    return DIRECT_MAX_TOKENS if params.max_tokens is None else params.max_tokens


@dataclass
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass
class AssistantTurn:
    content: str  # what the model said, tool-call markup removed
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = "stop"  # "stop" | "length" | "tool_calls"
    raw_text: str = ""  # exactly what was generated (hermes <tool_call> text included)
    tool_call_errors: list[str] = field(default_factory=list)  # malformed calls, as text the model can read
    call_format: str = "none"  # "native" | "hermes" | "none"


class Backend(Protocol):
    name: str
    model: str

    def generate(
        self, messages: list[dict], tools: list[dict], params: GenerationParams
    ) -> AssistantTurn: ...

    def describe(self) -> dict[str, Any]: ...


def turn_from_text(text: str, *, usage: Usage, finish_reason: str) -> AssistantTurn:
    """Parse hermes tool calls out of generated text (in-process models, servers without a tool parser)."""
    parsed = parse_tool_calls(text)
    calls = list(parsed.calls)
    if calls and finish_reason == "stop":
        finish_reason = "tool_calls"
    return AssistantTurn(
        content=parsed.content,
        tool_calls=calls,
        usage=usage,
        finish_reason=finish_reason,
        raw_text=text,
        tool_call_errors=list(parsed.errors),
        call_format="hermes" if calls or parsed.errors else "none",
    )


def split_images(messages: list[dict]) -> tuple[list[dict], list[Any]]:
    """Copies of the messages with each image part reduced to {"type": "image"}, plus the images in order.

    Chat templates only need to know *where* an image goes; the processor gets the pixels separately.
    """
    images: list[Any] = []
    out = []
    for m in messages:
        m2 = {k: v for k, v in m.items() if k not in ("raw_text", "call_format")}
        content = m.get("content")
        if isinstance(content, list):
            parts = []
            for p in content:
                if p.get("type") == "image":
                    images.append(p["image"])
                    parts.append({"type": "image"})
                else:
                    parts.append({"type": "text", "text": p.get("text", "")})
            m2["content"] = parts
        elif content is None:
            m2["content"] = ""
        out.append(m2)
    return out, images


# ================================================================================================ OpenAI
class OpenAIBackend:
    """Any OpenAI-compatible chat-completions server; frames travel as base64 images beside their timestamp text.

    native_tools: send `tools=` and read `tool_calls` (vLLM needs --enable-auto-tool-choice --tool-call-parser
      hermes). False: the tool schema goes into the system prompt as hermes text and calls are parsed from text.
    tool_frames_as_user: strict servers refuse images inside `tool` messages; then the tool message carries the
      text and a following user message carries the frames.
    family: how the served model reads frame times (core/families.py). Default: read from the config.json of the
      served model when its name is a local checkpoint folder (vLLM names a model by the path it serves), else
      Qwen2.5-VL.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 300.0,
        max_retries: int = 2,
        native_tools: bool = True,
        tool_frames_as_user: bool = False,
        image_format: str = "png",
        shape: Any = None,
        family: str | None = None,
    ) -> None:
        import openai

        if image_format not in ("png", "jpeg"):
            raise ValueError(f"image_format must be 'png' or 'jpeg', got {image_format!r}")
        self.base_url = base_url
        self.client = openai.OpenAI(
            base_url=base_url, api_key=api_key or "EMPTY", timeout=timeout, max_retries=max_retries
        )
        self.model = model or self._served_model()
        self.native_tools = native_tools
        self.tool_frames_as_user = tool_frames_as_user
        self.image_format = image_format
        # A protocol's wire shape (`core.protocols.messages.shape_request`): the body exactly as it is sent.
        self.shape = shape
        self.family = check_family(family) if family else local_family(self.model)
        self._encoded: OrderedDict[int, tuple[Any, str]] = OrderedDict()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "base_url": self.base_url,
            "native_tools": self.native_tools,
            "family": self.family,
        }

    def _served_model(self) -> str:
        import openai

        try:
            models = self.client.models.list()
        except openai.OpenAIError as exc:
            raise BackendError(f"cannot list models at {self.base_url}: {exc}") from exc
        ids = [m.id for m in models.data]
        if not ids:
            raise BackendError(f"server at {self.base_url} serves no model; pass the model name")
        return ids[0]

    # ---------------------------------------------------------------------------------------- encoding
    def _data_url(self, image: Any) -> str:
        # The same skim frames are re-sent every turn: encode each once. The cache holds the image itself,
        # so its id() cannot be reused by another object while cached.
        hit = self._encoded.get(id(image))
        if hit is not None and hit[0] is image:
            self._encoded.move_to_end(id(image))
            return hit[1]
        buf = io.BytesIO()
        fmt = "PNG" if self.image_format == "png" else "JPEG"
        image.convert("RGB").save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        url = f"data:image/{self.image_format};base64,{base64.b64encode(buf.getvalue()).decode()}"
        self._encoded[id(image)] = (image, url)
        while len(self._encoded) > 1024:
            self._encoded.popitem(last=False)
        return url

    def _parts(self, content: Any) -> Any:
        if not isinstance(content, list):
            return content or ""
        out = []
        for p in content:
            if p.get("type") == "image":
                out.append({"type": "image_url", "image_url": {"url": self._data_url(p["image"])}})
            else:
                out.append({"type": "text", "text": p.get("text", "")})
        return out

    def to_wire(self, messages: list[dict], tools: list[dict]) -> list[dict]:
        """The agent's messages as OpenAI chat messages (public so tests can check the exact wire form)."""
        wire: list[dict] = []
        hermes_mode = False  # once the conversation uses hermes text, tool results go back as text too
        for m in messages:
            role = m["role"]
            if role == "assistant":
                if m.get("call_format") == "native" and m.get("tool_calls"):
                    calls = [
                        {
                            "id": c["id"],
                            "type": "function",
                            "function": {
                                "name": c["function"]["name"],
                                "arguments": json.dumps(c["function"]["arguments"], ensure_ascii=False),
                            },
                        }
                        for c in m["tool_calls"]
                    ]
                    wire.append(
                        {"role": "assistant", "content": m.get("content") or None, "tool_calls": calls}
                    )
                else:
                    hermes_mode = hermes_mode or m.get("call_format") == "hermes"
                    wire.append({"role": "assistant", "content": m.get("raw_text") or m.get("content") or ""})
            elif role == "tool":
                parts = self._parts(m["content"])
                if hermes_mode:
                    body = parts if isinstance(parts, list) else [{"type": "text", "text": parts}]
                    wire.append({"role": "user", "content": tool_response_parts(body)})
                elif self.tool_frames_as_user and isinstance(parts, list):
                    text = "".join(p["text"] for p in parts if p["type"] == "text")
                    wire.append({"role": "tool", "tool_call_id": m["tool_call_id"], "content": text})
                    if any(p["type"] == "image_url" for p in parts):
                        wire.append({"role": "user", "content": parts})
                else:
                    wire.append({"role": "tool", "tool_call_id": m["tool_call_id"], "content": parts})
            else:
                wire.append({"role": role, "content": self._parts(m["content"])})
        if tools and not self.native_tools:
            block = hermes_tools_block(tools)
            if wire and wire[0]["role"] == "system":
                first = wire[0]["content"]
                wire[0] = {"role": "system", "content": (first if isinstance(first, str) else "") + block}
            else:
                wire.insert(0, {"role": "system", "content": "You are a helpful assistant." + block})
        return wire

    # ---------------------------------------------------------------------------------------- generate
    def generate(self, messages: list[dict], tools: list[dict], params: GenerationParams) -> AssistantTurn:
        import openai

        request: dict[str, Any] = {
            "model": self.model,
            "messages": self.to_wire(messages, tools),
            "max_tokens": token_limit(params),
            "temperature": params.temperature,
            "top_p": params.top_p,
        }
        if params.seed is not None:
            request["seed"] = params.seed
        if params.stop:
            request["stop"] = params.stop
        if tools and self.native_tools:
            request["tools"] = tools
            request["tool_choice"] = "auto"
        if params.extra:
            request["extra_body"] = params.extra
        if self.shape is not None:
            request = self.shape(request)
        try:
            resp = self.client.chat.completions.create(**request, timeout=params.timeout)
        except openai.APITimeoutError as exc:
            raise BackendError(f"request timed out after {params.timeout}s ({self.base_url})") from exc
        except openai.APIStatusError as exc:
            from longvt_plugins.core.protocols.context import is_context_error

            if exc.status_code == 400 and is_context_error(str(exc.message)):
                raise ContextExhausted(
                    f"server refused the request as too large: {_short(exc.message)}"
                ) from exc
            raise BackendError(f"server answered HTTP {exc.status_code}: {_short(exc.message)}") from exc
        except openai.APIConnectionError as exc:
            raise BackendError(f"cannot reach {self.base_url}: {exc}") from exc
        except (openai.OpenAIError, json.JSONDecodeError, ValueError) as exc:
            raise BackendError(f"bad reply from {self.base_url}: {_short(str(exc))}") from exc
        if not getattr(resp, "choices", None):
            raise BackendError(f"reply from {self.base_url} has no choices")
        choice = resp.choices[0]
        msg = choice.message
        usage = Usage(
            prompt_tokens=getattr(resp.usage, "prompt_tokens", None) if resp.usage else None,
            completion_tokens=getattr(resp.usage, "completion_tokens", None) if resp.usage else None,
        )
        finish = choice.finish_reason or "stop"
        text = msg.content or ""
        if not msg.tool_calls:
            return turn_from_text(text, usage=usage, finish_reason=finish)
        calls, errors = [], []
        for i, tc in enumerate(msg.tool_calls):
            call_id = tc.id or f"call_{i}"
            name = tc.function.name if tc.function else ""
            raw_args = tc.function.arguments if tc.function else ""
            try:
                args = json.loads(raw_args) if raw_args else {}
                if not isinstance(args, dict):
                    raise ValueError("arguments must be a JSON object")
            except ValueError as exc:
                errors.append(
                    f"tool call {call_id}: arguments are not a JSON object ({exc}): {_short(raw_args)}"
                )
                args = {"__invalid__": raw_args}
            calls.append(ToolCall(name=name, arguments=args, id=call_id))
        # A server with a tool parser strips the markup; content is the reasoning text only. vLLM's hermes parser
        # keeps the separator before <tool_call> ("</think>\n"); hermes templates write that separator again
        # when the turn is sent back, so the history would read "</think>\n\n<tool_call>", a prompt the model
        # never generated (seen on vLLM 0.24 with the miniature checkpoint). The trailing whitespace goes.
        return AssistantTurn(
            content=text.rstrip(),
            tool_calls=calls,
            usage=usage,
            finish_reason=finish,
            raw_text=text,
            tool_call_errors=errors,
            call_format="native",
        )


def hermes_tools_block(tools: list[dict]) -> str:
    lines = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
    return load_prompt("agent_hermes_tools").replace("{tools}", lines)


def _short(text: str, n: int = 300) -> str:
    text = str(text)
    return text if len(text) <= n else text[:n] + "..."


# ================================================================================================ transformers
class TransformersBackend:
    """A Qwen2.5-VL / Qwen3-VL checkpoint run in-process (SDPA attention, CPU or GPU). No server needed.

    `model_path` is a checkpoint folder or a Hugging Face repo id (core/checkpoints.resolve_checkpoint).

    The family is read from the checkpoint's config (model_type). Qwen2.5-VL gets our tool chat template
    (the released template has no tool support); Qwen3-VL uses the template shipped with the checkpoint.
    """

    name = "transformers"
    FAMILIES = {
        "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
        "qwen3_vl": "Qwen3VLForConditionalGeneration",
    }

    def __init__(
        self,
        model_path: str | Path,
        *,
        device: str | None = None,
        dtype: str | None = None,
        template: str = "qwen2_5_vl_tools.jinja",
    ) -> None:
        """`template`: the Qwen2.5-VL tool template file in longvt_plugins/templates (a protocol names it);
        Qwen3-VL checkpoints always use their own."""
        import torch
        import transformers
        from transformers import AutoConfig, AutoProcessor

        try:  # a local folder, or a Hub repo id (through the hub cache, as transformers takes it)
            path = resolve_checkpoint(model_path)
        except CheckpointNotFound as exc:
            raise BackendError(str(exc)) from None
        config = AutoConfig.from_pretrained(path)
        family = getattr(config, "model_type", None)
        if family not in self.FAMILIES:
            raise BackendError(
                f"{path}: model_type {family!r} is not supported; expected one of {list(self.FAMILIES)}"
            )
        self.family = family_of(family)  # frame time labels and template follow it (core/families.py)
        # The name as given (a repo id stays an id): protocols match checkpoints by name (SFT -> 512 frames).
        self.model = str(model_path)
        self.path = path
        # Frames are resized to multiples of patch * merge; the agent samples with the model's own patch size.
        self.patch_size = int(getattr(getattr(config, "vision_config", None), "patch_size", 14) or 14)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        if dtype is None:
            dtype = "bfloat16" if self.device.startswith("cuda") else "float32"
        self.dtype = dtype
        self.processor = AutoProcessor.from_pretrained(path)
        if family == "qwen2_5_vl":
            from importlib import resources

            self.chat_template = resources.files("longvt_plugins.templates").joinpath(template).read_text()
        else:
            self.chat_template = getattr(self.processor, "chat_template", None) or getattr(
                self.processor.tokenizer, "chat_template", None
            )
            if not self.chat_template:
                raise BackendError(f"{path}: Qwen3-VL checkpoint has no chat template")
        cls = getattr(transformers, self.FAMILIES[family])
        self.net = cls.from_pretrained(path, dtype=getattr(torch, dtype), attn_implementation="sdpa")
        self.net.to(self.device).eval()
        self.random_weights = (path / "LONGVT_TINY_RANDOM_MODEL.txt").exists()

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "model": self.model,
            "path": str(self.path),
            "family": self.family,
            "device": self.device,
            "dtype": self.dtype,
            "random_weights": self.random_weights,
        }

    def render(self, messages: list[dict], tools: list[dict]) -> tuple[str, list[Any]]:
        """The exact prompt text and the images in the order their pads appear."""
        plain, images = split_images(messages)
        for m in plain:
            for c in m.get("tool_calls") or []:
                c.setdefault("type", "function")
        text = self.processor.tokenizer.apply_chat_template(
            plain,
            tools=tools or None,
            chat_template=self.chat_template,
            add_generation_prompt=True,
            tokenize=False,
        )
        return text, images

    def generate(self, messages: list[dict], tools: list[dict], params: GenerationParams) -> AssistantTurn:
        import torch

        text, images = self.render(messages, tools)
        try:
            inputs = self.processor(text=[text], images=images or None, return_tensors="pt").to(self.device)
            tok = self.processor.tokenizer
            eos = [tok.convert_tokens_to_ids("<|im_end|>"), tok.convert_tokens_to_ids("<|endoftext|>")]
            sample = params.temperature > 0
            kwargs: dict[str, Any] = dict(
                max_new_tokens=token_limit(params),
                do_sample=sample,
                eos_token_id=[i for i in eos if i is not None],
                pad_token_id=tok.pad_token_id,
            )
            if sample:
                kwargs.update(temperature=params.temperature, top_p=params.top_p)
            kwargs.update(params.extra)
            if params.seed is not None:
                torch.manual_seed(params.seed)
            with torch.inference_mode():
                out = self.net.generate(**inputs, **kwargs)
        except (
            RuntimeError,
            ValueError,
        ) as exc:  # OOM, shape mismatch, bad kwargs: end the trace, not the process
            raise BackendError(f"in-process generation failed: {_short(str(exc))}") from exc
        prompt_len = inputs["input_ids"].shape[1]
        new = out[0, prompt_len:].tolist()
        ended = bool(new) and new[-1] in eos
        gen_text = tok.decode(new, skip_special_tokens=True)
        if params.stop:
            for s in params.stop:
                if s in gen_text:
                    gen_text, ended = gen_text.split(s, 1)[0], True
        finish = "stop" if ended or len(new) < token_limit(params) else "length"
        return turn_from_text(gen_text, usage=Usage(prompt_len, len(new)), finish_reason=finish)


def make_backend(
    *,
    model: str | Path | None = None,
    base_url: str | None = None,
    api_key: str | None = None,
    served_model: str | None = None,
    device: str | None = None,
    dtype: str | None = None,
    timeout: float = 300.0,
    native_tools: bool = True,
) -> Backend:
    """A server backend when base_url is given, else the in-process model at `model`."""
    if base_url:
        return OpenAIBackend(
            base_url,
            served_model or (str(model) if model else None),
            api_key=api_key,
            timeout=timeout,
            native_tools=native_tools,
        )
    if model is None:
        raise ValueError("give a model checkpoint path or a server base_url")
    return TransformersBackend(model, device=device, dtype=dtype)
