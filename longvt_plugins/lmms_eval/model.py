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
from longvt_plugins.core.trace import transcript
from longvt_plugins.lmms_eval import sample_records
from longvt_plugins.lmms_eval.answer_store import AnswerStore, answer_key
from longvt_plugins.lmms_eval.doc_identity import doc_key
from longvt_plugins.lmms_eval.protocol import build_card

# Frame-budget model args, built from the dataclasses: the skim's fields by their own names (fps=, max_frames=,
# ...) and the crop's with "crop_" (crop_fps=, crop_max_frames=, ...). The crop's call cap is max_tool_calls=.
# Each one given overrides that field of the protocol (which is then renamed `<name>+custom`).
SKIM_ARGS = FrameBudget.option_names("")
CROP_ARGS = {k: v for k, v in CropBudget.option_names("crop_").items() if v != "max_calls"}
BENCHMARKS = ("videosiah", "videommmu", "videomme", "lvbench")


def benchmark_of(task: str) -> str | None:
    """Our benchmark folder of a task name ("longvtp_videomme_sub_tool" -> "videomme"), for per-benchmark prompts."""
    name = (task or "").removeprefix("longvtp_")
    return next((b for b in BENCHMARKS if name == b or name.startswith(b + "_")), None)


# Stop reasons that mean "no model output to judge" rather than "the model's own (possibly wrong) behaviour".
FAILED_STOPS = ("backend_error", "video_error")


def _framed(part: dict, framing: str | None) -> str | None:
    """The question part's text as `framing` words it, whitespace and all; None when the task offers no such framing."""
    framings = part.get("longvt_framings") or {}
    if framing in framings:
        return framings[framing]
    if f"{framing}!error" in framings:  # the task could not build it (bad SRT, unreadable video)
        raise ValueError(f"the {framing} question text could not be built: {framings[f'{framing}!error']}")
    return None


class LongVTAgent(lmms):
    """Model args (lmms-eval `--model_args k=v,...`). `protocol=upstream|longvt-plugins` (core.protocols) decides
    prompts, tool schema, frames, budgets, turn cap and scoring; a budget arg (any FrameBudget field: `fps=`,
    `max_frames=`, ...; `crop_<field>`; `max_turns=`, ...) overrides one field and renames the protocol `<name>+custom`. `max_model_len=` and
    `max_images=` are the server's limits (default: what the protocol needs, see `longvt eval serve-args`).
    `answers_dir=` saves every finished answer there as it comes (`answer_store`); `resume=true` serves the docs
    already saved there instead of generating them again."""

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
        protocol: str = "longvt-plugins",
        max_tool_calls: int | None = None,
        max_turns: int | None = None,
        max_calls_per_turn: int = 1,
        max_total_tokens: int | None = None,
        max_new_tokens: int | None = None,
        max_model_len: int | None = None,
        max_images: int | None = None,
        concurrency: int = 8,
        timeout: float = 600.0,
        max_retries: int = 2,
        native_tools: bool = True,
        tool_parser: str = "hermes",
        trace_dir: str | None = None,
        answers_dir: str | None = None,
        resume: bool | str = False,
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
        from longvt_plugins.core.protocols import get_protocol

        base = get_protocol(protocol)  # ValueError names the known protocols
        overrides = {f"skim_{SKIM_ARGS[k]}": v for k, v in frames.items() if k in SKIM_ARGS}
        overrides.update({f"crop_{CROP_ARGS[k]}": v for k, v in frames.items() if k in CROP_ARGS})
        overrides.update(
            max_tool_calls=max_tool_calls,
            turn_cap=max_turns,
            max_total_tokens=max_total_tokens,
            max_new_tokens=max_new_tokens,
        )
        self.max_calls_per_turn = int(max_calls_per_turn)
        self.max_model_len = int(max_model_len) if max_model_len else None
        self.max_images = int(max_images) if max_images else None
        self.tool_parser = tool_parser
        self.native_tools = bool(native_tools)
        self.trace_dir = Path(trace_dir) if trace_dir else None
        self._trace_lock = threading.Lock()
        resume = str(resume).strip().lower() in ("1", "true", "yes", "on")
        if resume and not answers_dir:
            raise ValueError("resume=true needs answers_dir=<folder> (where the answers were saved)")
        self.answers = AnswerStore(answers_dir, reuse=resume) if answers_dir else None
        if int(concurrency) < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self._shape_protocol = base  # the wire shape does not depend on budgets
        self.backend = self._make_backend(
            model_version=model_version or model,
            base_url=base_url or os.environ.get("OPENAI_API_BASE"),
            api_key=api_key or os.environ.get("OPENAI_API_KEY"),
            pretrained=pretrained,
            device=device,
            dtype=dtype,
            max_retries=int(max_retries),
        )
        # Upstream evaluated its SFT checkpoint at 512 frames: the checkpoint's name picks that.
        self.protocol = base.for_model(getattr(self.backend, "model", None) or pretrained).with_overrides(
            **overrides
        )
        self.budgets = self._budgets("tool")
        self.budgets.validate()
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
        from longvt_plugins.core.families import local_family

        if not base_url:
            raise ValueError(
                "longvt_agent needs base_url=<server>/v1 (or OPENAI_API_BASE) of a vLLM/SGLang server"
            )
        from longvt_plugins.core.protocols.messages import shape_request

        protocol = self._shape_protocol
        return OpenAIBackend(
            base_url,
            model_version,
            api_key=api_key,
            timeout=self.timeout,
            max_retries=max_retries,
            native_tools=self.native_tools,
            image_format=protocol.presentation.image_format,
            shape=lambda request: shape_request(protocol, request),
            # frame time labels follow the checkpoint's family: its config when pretrained= names the folder
            family=local_family(pretrained) if pretrained else None,
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
        seen: dict[tuple, int] = {}  # lmms-eval's repeats are the same request n times: the n-th is repeat n
        with ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="longvt-doc") as pool:
            futures = {}
            for i, req in enumerate(requests):
                doc = tuple(str(a) for a in req.args[3:6])  # doc_id, task, split
                repeat = seen[doc] = seen.get(doc, -1) + 1
                futures[pool.submit(self._one, req, repeat)] = i
            for future, i in futures.items():
                results[i] = future.result()  # _one never raises
                bar.update(1)
        bar.close()
        if self.answers is not None and self.answers.reused:
            logger.info(
                f"longvt: {self.answers.reused} answers served from {self.answers.folder} (resume=true)"
            )
        return results  # type: ignore[return-value]

    # ------------------------------------------------------------------------------------------ one doc
    def _one(self, request, repeat: int = 0) -> GenerationResult:
        ctx, doc_to_messages, gen_kwargs, doc_id, task, split = request.args
        gen_kwargs = dict(gen_kwargs or {})
        task_style = str(gen_kwargs.get("longvt_style") or "non_think")
        started = time.perf_counter()
        try:
            doc = self.task_dict[task][split][doc_id]
        except Exception as exc:
            reason = f"doc {task}/{split}/{doc_id} not found: {type(exc).__name__}: {exc}"
            return self._failed(task_style, None, task, doc_id, reason, gen_kwargs)
        key = None
        try:
            if task_style not in STYLES:
                raise ValueError(f"generation_kwargs.longvt_style must be one of {', '.join(STYLES)}")
            if self.answers is not None:
                card = self._card(task_style, gen_kwargs, task)
                key = answer_key(card, task, doc_key(doc), gen_kwargs, repeat)
                saved = self.answers.get(key)
                if saved is not None:
                    return self._saved(saved, task_style, doc, gen_kwargs, card)
            messages = doc_to_messages(doc)
            video, question, mcq = self._read_messages(messages, self.protocol.question_framing)
            resources = self._check_resources(self._read_resources(messages))
            trace = self._run(video, question, task_style, gen_kwargs, task, doc_id, mcq, resources)
        except Exception as exc:  # a bad doc (missing video, no video part) is one failed sample, not a crash
            return self._failed(task_style, doc, task, doc_id, f"{type(exc).__name__}: {exc}", gen_kwargs)
        if (
            self.protocol.scoring.recipe
        ):  # upstream scores the harness's whole response string, built as it was
            from longvt_plugins.core.protocols.upstream_response import upstream_response

            text = upstream_response(trace, self.protocol.tool.error)
        else:
            text = transcript(trace)
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
            "protocol": self._card(task_style, gen_kwargs, task),
        }
        if "longvt_style" in gen_kwargs:  # only our tasks' process_results take the record back
            sample_records.put(task_style, doc_key(doc), record)
        self._save_trace(task, doc_id, trace)
        usage = trace.usage
        tokens = {"input_tokens": usage["prompt_tokens"], "output_tokens": usage["completion_tokens"]}
        if key is not None and not failed:  # a failed request is asked again by a resumed run
            self.answers.put(task, key, {"doc_id": doc_id, "text": text, "tokens": tokens, "record": record})
        return GenerationResult(text=text, token_counts=TokenCounts(**tokens))

    def _saved(self, saved: dict, style: str, doc: dict, gen_kwargs: dict, card: dict) -> GenerationResult:
        """A doc answered by an earlier run (resume=true): its text, and its record filed again for the scorer,
        under today's card (the key left out only the server's address)."""
        if "longvt_style" in gen_kwargs:
            record = dict(saved.get("record") or {})
            record["log"] = {**(record.get("log") or {}), "answer_from": str(self.answers.folder)}
            record["protocol"] = card
            sample_records.put(style, doc_key(doc), record)
        return GenerationResult(text=saved.get("text") or "", token_counts=TokenCounts(**saved["tokens"]))

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
            record["protocol"] = self._card(style, gen_kwargs, task)
            sample_records.put(style, doc_key(doc), record)
        return GenerationResult(text="", token_counts=TokenCounts(input_tokens=0, output_tokens=0))

    @staticmethod
    def _read_messages(messages: list[dict], framing: str | None = None) -> tuple[str, str, bool]:
        """(video path, question, multiple choice?) from a task's chat messages.

        Our tasks put the question in the first text part and the style's instruction (for other models) in a
        later one; the agent brings its own instruction, so only the first text part is the question. For any
        other task, all of the user's text is the question. Where the question part offers the protocol's own
        framing (`longvt_framings`, e.g. VideoMME's subtitles as upstream wrote them), that text is the question.
        """
        video, texts, marked, mcq, framed = None, [], None, False, None
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
                        framed = _framed(part, framing)
                        marked = part.get("text", "")
                        mcq = bool(part.get("longvt_mcq"))
        if not video:
            raise ValueError(
                "the doc's messages carry no video; longvt models answer questions about one video"
            )
        video = str(video)
        if video.startswith("file://"):
            video = video[len("file://") :]
        question = (marked if marked is not None else "\n".join(t for t in texts if t.strip())).strip()
        if not question and not (framed or "").strip():
            raise ValueError("the doc's messages carry no question text")
        # A framing is the text as that protocol sent it: the protocol decides about its whitespace.
        return video, (framed if framed is not None else question), mcq

    @staticmethod
    def _read_resources(messages: list[dict]) -> dict[str, str]:
        """The doc's own files for the tools (`longvt_resources` on the question part; tasklib.build_messages)."""
        for message in messages:
            content = message.get("content") if message.get("role") == "user" else None
            for part in content if isinstance(content, list) else []:
                if isinstance(part, dict) and part.get("longvt_role") == "question":
                    return {str(k): str(v) for k, v in (part.get("longvt_resources") or {}).items()}
        return {}

    def _check_resources(self, resources: dict[str, str]) -> dict[str, str]:
        """A task that gives the subtitles as the search_subtitles tool has no subtitle block in its prompt: under a
        protocol without that tool the model would silently answer without subtitles, so the doc fails instead."""
        if "subtitle_path" in resources and "search_subtitles" not in self.protocol.tool.also_offered:
            raise ValueError(
                f"this task gives the subtitles as the search_subtitles tool, which protocol {self.protocol.name!r} "
                "does not offer; run it with protocol=longvt-tools"
            )
        return resources

    def _session(self, style: str, task: str = "", multiple_choice: bool = False):
        from longvt_plugins.core.protocols.session import ProtocolSession

        return ProtocolSession(
            self.protocol,
            style,
            benchmark=benchmark_of(task),
            multiple_choice=multiple_choice,
            patch_size=getattr(self.backend, "patch_size", None) or 14,
            max_images=self.max_images,
            max_model_len=self.max_model_len,
        )

    def _budgets(self, style: str):
        from longvt_plugins.core.agent import AgentBudgets, session_budgets

        base = AgentBudgets(max_calls_per_turn=self.max_calls_per_turn)
        return session_budgets(self._session(style), base)

    def _run(self, video, question, task_style, gen_kwargs, task, doc_id, mcq=False, resources=None):
        from longvt_plugins.core.agent import AgentBudgets, run_agent
        from longvt_plugins.core.backends import GenerationParams

        # Tokens, frames and turns come from the protocol; the task's generation_kwargs give only the sampling.
        params = GenerationParams(
            temperature=float(gen_kwargs.get("temperature", 0.0) or 0.0),
            top_p=float(gen_kwargs.get("top_p", 1.0) or 1.0),
            timeout=self.timeout,
        )
        return run_agent(
            video,
            question,
            self.backend,
            AgentBudgets(max_calls_per_turn=self.max_calls_per_turn),
            params=params,
            meta={"task": task, "doc_id": doc_id},
            session=self._session(task_style, task, mcq),
            subtitle_path=(resources or {}).get("subtitle_path"),
        )

    def _card(self, task_style: str, gen_kwargs: dict, task: str = "") -> dict[str, Any]:
        if self.backend_kind == "openai" and self.native_tools:
            parser = f"server --tool-call-parser {self.tool_parser}"
        else:
            parser = "longvt hermes (text)"
        return build_card(
            protocol=self.protocol,
            model=self.describe_model(),
            style=task_style,
            tool_parser=parser,
            judge={},
            benchmark=benchmark_of(task),
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
        return TransformersBackend(
            path, device=device, dtype=dtype, template=self._shape_protocol.chat_template
        )
