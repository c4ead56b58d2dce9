"""lmms-eval chat models that run LongVT's global-to-local loop (`core.agent.run_agent`) on every doc.

`--model longvt_agent`     the policy behind an OpenAI-compatible server (vLLM / SGLang, hermes tool parser).
`--model longvt_agent_hf`  the policy loaded in-process with transformers (small models, CPU tests).

What upstream's `async_openai` + MCP loop gets wrong and this does not: tool arguments are parsed as JSON (never
`eval`), every call has its own `tool_call_id`, every earlier tool output stays in the conversation, turns and
tokens are capped, the crop tool runs in-process bound to the doc's video (no MCP process, no path in the prompt),
each frame carries its timestamp and the prompt states the duration. Docs run concurrently with a bounded number
of requests in flight; a doc whose request fails becomes a failed sample with its reason, never a crashed run.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lmms_eval.api.instance import GenerationResult, TokenCounts
from lmms_eval.api.model import lmms
from loguru import logger
from tqdm import tqdm

from longvt_plugins.core.budget import CropBudget, FrameBudget
from longvt_plugins.core.style import STYLES
from longvt_plugins.lmms_eval import sample_records
from longvt_plugins.lmms_eval.doc_identity import doc_key
from longvt_plugins.lmms_eval.protocol import PROTOCOLS, build_card

# Frame-budget model args, built from the dataclasses: the skim's fields by their own names (fps=, max_frames=,
# ...) and the crop's with "crop_" (crop_fps=, crop_max_frames=, ...). The crop's call cap is max_tool_calls=.
SKIM_ARGS = FrameBudget.option_names("")
CROP_ARGS = {k: v for k, v in CropBudget.option_names("crop_").items() if v != "max_calls"}
# Stop reasons that mean "no model output to judge" rather than "the model's own (possibly wrong) behaviour".
FAILED_STOPS = ("backend_error", "video_error")


class LongVTAgent(lmms):
    """Model args (lmms-eval `--model_args k=v,...`); the defaults are our CPU-friendly ones, `protocol=paper`
    sets the paper's frames / pixels / crop budget / turn cap (see `protocol.PROTOCOLS`). Frame budgets: any
    FrameBudget field (`fps=`, `max_frames=`, ...) for the skim, `crop_<field>` for each crop."""

    is_simple = False
    backend_kind = "openai"

    def __init__(
        self,
        model_version: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        pretrained: str | None = None,
        device: str | None = None,
        dtype: str | None = None,
        protocol: str = "custom",
        max_tool_calls: int | None = None,
        max_turns: int | None = None,
        max_calls_per_turn: int = 1,
        max_total_tokens: int | None = None,
        max_new_tokens: int | None = None,
        concurrency: int = 8,
        timeout: float = 600.0,
        max_retries: int = 2,
        native_tools: bool = True,
        tool_parser: str = "hermes",
        trace_dir: str | None = None,
        batch_size: int | str | None = None,
        max_batch_size: int | None = None,
        **unknown: Any,
    ) -> None:
        super().__init__()
        frames = {k: unknown.pop(k) for k in list(unknown) if k in SKIM_ARGS or k in CROP_ARGS}
        if unknown:
            raise TypeError(
                f"unknown model_args for {type(self).__name__}: {sorted(unknown)}; see docs/lmms_eval.md for the list"
            )
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {', '.join(PROTOCOLS)}, got {protocol!r}")
        from longvt_plugins.core.agent import AgentBudgets

        # An explicit model arg wins over the named protocol.
        named = PROTOCOLS[protocol]
        crop = CropBudget.from_options(frames, "crop_", named.crop)
        if max_tool_calls is not None:
            crop = crop.replace(max_calls=int(max_tool_calls))
        self.budgets = AgentBudgets(
            skim=FrameBudget.from_options(frames, "", named.skim),
            crop=crop,
            max_turns=int(max_turns if max_turns is not None else named.max_turns),
            max_calls_per_turn=int(max_calls_per_turn),
        )
        self.budgets.validate()
        self.max_total_tokens = max_total_tokens
        self.max_new_tokens_override = max_new_tokens
        self.protocol = protocol
        self.tool_parser = tool_parser
        self.native_tools = bool(native_tools)
        self.trace_dir = Path(trace_dir) if trace_dir else None
        self._trace_lock = threading.Lock()
        if int(concurrency) < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.backend = self._make_backend(
            model_version=model_version or model,
            base_url=base_url or os.environ.get("OPENAI_API_BASE"),
            api_key=api_key or os.environ.get("OPENAI_API_KEY"),
            pretrained=pretrained,
            device=device,
            dtype=dtype,
            max_retries=int(max_retries),
        )
        if self.backend_kind == "transformers":
            self.concurrency = 1  # one in-process model: docs run one after another
        world = int(os.environ.get("WORLD_SIZE", "1") or 1)
        if world > 1:
            logger.warning(
                "longvt models run docs concurrently in one process (concurrency=...); under accelerate with "
                f"WORLD_SIZE={world} every process would evaluate every doc. Run lmms-eval as one process."
            )

    # ------------------------------------------------------------------------------------------ backend
    def _make_backend(self, *, model_version, base_url, api_key, pretrained, device, dtype, max_retries):
        from longvt_plugins.core.backends import OpenAIBackend

        if not base_url:
            raise ValueError(
                "longvt_agent needs base_url=<server>/v1 (or OPENAI_API_BASE) of a vLLM/SGLang server"
            )
        return OpenAIBackend(
            base_url,
            model_version,
            api_key=api_key,
            timeout=self.timeout,
            max_retries=max_retries,
            native_tools=self.native_tools,
        )

    def describe_model(self) -> dict[str, Any]:
        info = dict(self.backend.describe())
        info.pop("api_key", None)
        return info

    # ------------------------------------------------------------------------------------------ lmms API
    def loglikelihood(self, requests):
        raise NotImplementedError("longvt models generate answers; loglikelihood tasks are not supported")

    def generate_until_multi_round(self, requests):
        raise NotImplementedError(
            "longvt models run their own multi-turn tool loop; use generate_until tasks"
        )

    def generate_until(self, requests) -> list[GenerationResult]:
        results: list[GenerationResult | None] = [None] * len(requests)
        bar = tqdm(total=len(requests), disable=(self.rank != 0), desc="longvt agent")
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="longvt-doc") as pool:
            futures = {pool.submit(self._one, req): i for i, req in enumerate(requests)}
            for future, i in futures.items():
                results[i] = future.result()  # _one never raises
                bar.update(1)
        bar.close()
        return results  # type: ignore[return-value]

    # ------------------------------------------------------------------------------------------ one doc
    def _one(self, request) -> GenerationResult:
        ctx, doc_to_messages, gen_kwargs, doc_id, task, split = request.args
        gen_kwargs = dict(gen_kwargs or {})
        task_style = str(gen_kwargs.get("longvt_style") or "non_think")
        started = time.perf_counter()
        try:
            doc = self.task_dict[task][split][doc_id]
        except Exception as exc:
            reason = f"doc {task}/{split}/{doc_id} not found: {type(exc).__name__}: {exc}"
            return self._failed(task_style, None, task, doc_id, reason, gen_kwargs)
        try:
            if task_style not in STYLES:
                raise ValueError(f"generation_kwargs.longvt_style must be one of {', '.join(STYLES)}")
            video, question = self._read_messages(doc_to_messages(doc))
            trace = self._run(video, question, task_style, gen_kwargs, task, doc_id)
        except Exception as exc:  # a bad doc (missing video, no video part) is one failed sample, not a crash
            return self._failed(task_style, doc, task, doc_id, f"{type(exc).__name__}: {exc}", gen_kwargs)
        text = sample_records.transcript(trace)
        failed = trace.stop_reason in FAILED_STOPS
        record = {
            "failed": failed,
            "reason": trace.error if failed else None,
            "log": {
                **sample_records.summarize(trace),
                "task": task,
                "doc_id": doc_id,
                "wall_s": time.perf_counter() - started,
            },
            "protocol": self._card(task_style, gen_kwargs),
        }
        if "longvt_style" in gen_kwargs:  # only our tasks' process_results take the record back
            sample_records.put(task_style, doc_key(doc), record)
        self._save_trace(task, doc_id, trace)
        usage = trace.usage
        return GenerationResult(
            text=text,
            token_counts=TokenCounts(
                input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]
            ),
        )

    def _failed(
        self, style: str, doc: dict | None, task: str, doc_id: int, reason: str, gen_kwargs: dict
    ) -> GenerationResult:
        logger.warning(f"longvt: {task} doc {doc_id} failed: {reason}")
        if doc is not None and "longvt_style" in gen_kwargs:
            record = {
                "failed": True,
                "reason": reason,
                "log": {"task": task, "doc_id": doc_id, "error": reason},
            }
            record["protocol"] = self._card(style, gen_kwargs)
            sample_records.put(style, doc_key(doc), record)
        return GenerationResult(text="", token_counts=TokenCounts(input_tokens=0, output_tokens=0))

    @staticmethod
    def _read_messages(messages: list[dict]) -> tuple[str, str]:
        """(video path, question) from a task's chat messages.

        Our tasks put the question in the first text part and the style's instruction (for other models) in a
        later one; the agent brings its own instruction, so only the first text part is the question. For any
        other task, all of the user's text is the question.
        """
        video, texts, marked = None, [], None
        for message in messages:
            if message.get("role") != "user":
                continue
            content = message.get("content")
            if isinstance(content, str):
                texts.append(content)
                continue
            for part in content or []:
                kind = part.get("type")
                if kind == "video" and video is None:
                    video = part.get("url") or part.get("video")
                elif kind == "text":
                    texts.append(part.get("text", ""))
                    if part.get("longvt_role") == "question" and marked is None:
                        marked = part.get("text", "")
        if not video:
            raise ValueError(
                "the doc's messages carry no video; longvt models answer questions about one video"
            )
        video = str(video)
        if video.startswith("file://"):
            video = video[len("file://") :]
        question = (marked if marked is not None else "\n".join(t for t in texts if t.strip())).strip()
        if not question:
            raise ValueError("the doc's messages carry no question text")
        return video, question

    def _turn_tokens(self, gen_kwargs: dict) -> int:
        value = self.max_new_tokens_override or gen_kwargs.get("max_new_tokens") or 4096
        return int(value)

    def _run(self, video: str, question: str, task_style: str, gen_kwargs: dict, task: str, doc_id: int):
        from dataclasses import replace

        from longvt_plugins.core.agent import run_agent
        from longvt_plugins.core.backends import GenerationParams

        per_turn = self._turn_tokens(gen_kwargs)
        # The task's max_new_tokens caps each turn (as upstream applies it per request); the whole trajectory
        # gets max_total_tokens if given, else one turn's worth per allowed turn.
        total = int(self.max_total_tokens or per_turn * self.budgets.max_turns)
        budgets = replace(self.budgets, max_new_tokens=per_turn, max_total_tokens=total)
        params = GenerationParams(
            max_tokens=per_turn,
            temperature=float(gen_kwargs.get("temperature", 0.0) or 0.0),
            top_p=float(gen_kwargs.get("top_p", 1.0) or 1.0),
            timeout=self.timeout,
        )
        return run_agent(
            video,
            question,
            self.backend,
            budgets,
            style=task_style,
            params=params,
            meta={"task": task, "doc_id": doc_id},
        )

    def _card(self, task_style: str, gen_kwargs: dict) -> dict[str, Any]:
        import hashlib

        from longvt_plugins.core.prompts import load_prompt

        b = self.budgets
        agent_style = task_style if task_style in STYLES else "non_think"
        prompt_text = load_prompt("agent_system") + load_prompt(f"agent_{agent_style}")
        model = self.describe_model()
        model["prompt_sha256"] = hashlib.sha256(prompt_text.encode()).hexdigest()[:16]
        if self.backend_kind == "openai":
            parser = (
                f"server --tool-call-parser {self.tool_parser}"
                if self.native_tools
                else "longvt hermes (text)"
            )
        else:
            parser = "longvt hermes (text)"
        return build_card(
            model=model,
            skim=b.skim,
            crop=b.crop,
            max_turns=b.max_turns,
            max_new_tokens=self._turn_tokens(gen_kwargs) if gen_kwargs else None,
            style=task_style,
            tool_parser=parser,
            judge={},
            protocol=self.protocol,
        )

    def _save_trace(self, task: str, doc_id: int, trace) -> None:
        if self.trace_dir is None:
            return
        self.trace_dir.mkdir(parents=True, exist_ok=True)
        line = json.dumps(
            {"task": task, "doc_id": doc_id, "trace": trace.to_dict(thumbnails=False)}, default=str
        )
        with self._trace_lock, open(self.trace_dir / f"{task}.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class LongVTAgentHF(LongVTAgent):
    """The same loop with the policy loaded in-process by transformers (`pretrained=<checkpoint dir>`).

    Qwen2.5-VL or Qwen3-VL is read from the checkpoint's config (model_type), not from a flag: Qwen2.5-VL gets
    our tool chat template, Qwen3-VL its own.
    """

    backend_kind = "transformers"

    def _make_backend(self, *, model_version, base_url, api_key, pretrained, device, dtype, max_retries):
        from longvt_plugins.core.backends import TransformersBackend

        path = pretrained or model_version
        if not path:
            raise ValueError("longvt_agent_hf needs pretrained=<checkpoint dir>")
        return TransformersBackend(path, device=device, dtype=dtype)
