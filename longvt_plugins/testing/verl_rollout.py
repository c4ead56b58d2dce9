"""Run LongVT's rollout through verl's own `AgentLoopWorker` on a CPU, with a scripted stand-in for vLLM / SGLang.

The stand-in speaks verl's server-manager interface (`async generate(request_id, prompt_ids, sampling_params,
image_data, video_data, ...) -> TokenOutput`), the one seam verl's agent loop talks to. Everything else is verl's
code and ours: dataset rows, the tool, the chat template, tokenisation, masks, multimodal inputs and the reward
loop. Tests use it; so can a user checking a data file and a config before booking a cluster.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class GenerateCall:
    request_id: str
    turn: int  # 0 for the first generation of this trajectory
    prompt_ids: list[int]
    prompt_text: str
    images: list[Any] = field(default_factory=list)
    videos: list[Any] = field(default_factory=list)
    reply: str = ""


# script(prompt_text, turn) -> the assistant text to return (it should end with <|im_end|>, as a model would).
Script = Callable[[str, int], str] | Sequence[str]


class ScriptedRolloutServer:
    """verl's server manager as a script: records every request, answers from `script`."""

    def __init__(self, tokenizer, script: Script):
        self.tokenizer = tokenizer
        self.script = script
        self.calls: list[GenerateCall] = []
        self._turns: dict[str, int] = defaultdict(int)

    def _reply(self, prompt_text: str, turn: int) -> str:
        if callable(self.script):
            return self.script(prompt_text, turn)
        if turn >= len(self.script):
            raise AssertionError(
                f"the script has {len(self.script)} replies; generation {turn + 1} was asked for"
            )
        return self.script[turn]

    async def generate(
        self,
        *,
        request_id: str,
        prompt_ids: list[int],
        sampling_params: dict[str, Any],
        image_data: list[Any] | None = None,
        video_data: list[Any] | None = None,
        **kwargs: Any,
    ):
        from verl.workers.rollout.replica import TokenOutput

        turn = self._turns[request_id]
        self._turns[request_id] += 1
        prompt_text = self.tokenizer.decode(prompt_ids)
        reply = self._reply(prompt_text, turn)
        self.calls.append(
            GenerateCall(
                request_id,
                turn,
                list(prompt_ids),
                prompt_text,
                list(image_data or []),
                list(video_data or []),
            )
        )
        self.calls[-1].reply = reply
        token_ids = self.tokenizer.encode(reply, add_special_tokens=False)
        return TokenOutput(token_ids=token_ids, stop_reason="completed")


def compose_recipe(
    overrides: Sequence[str] = (), recipe_dir: str | Path | None = None, name: str = "longvt_grpo"
):
    """verl's full trainer config with our RL recipe applied (Hydra, exactly as `main_ppo --config-path` does)."""
    import verl  # noqa: F401 - runs the entry point that registers our ${longvt.*} resolvers
    from hydra import compose, initialize_config_dir

    recipe_dir = Path(recipe_dir) if recipe_dir else Path(__file__).resolve().parents[2] / "recipes" / "rl"
    if not (recipe_dir / f"{name}.yaml").is_file():
        raise FileNotFoundError(f"no recipe {name}.yaml in {recipe_dir}")
    with initialize_config_dir(config_dir=str(recipe_dir), version_base=None):
        return compose(name, overrides=list(overrides))


def load_batch(config, data_file: str | Path, tokenizer, processor):
    """The first rows of a parquet, through verl's `RLHFDataset` and `collate_fn`, as the trainer batches them."""
    from verl import DataProto
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    dataset = RLHFDataset(str(data_file), tokenizer, config.data, processor)
    return DataProto.from_single_dict(collate_fn([dataset[i] for i in range(len(dataset))])), dataset


class LocalActor:
    """An object on its own event loop in its own thread, called like a Ray actor: `await actor.method.remote()`.

    verl's reward-loop worker is a Ray actor in training and binds the event loop it was created on; this gives
    it the same isolation in one process (Ray itself would cost a cluster start for each test run).
    """

    def __init__(self, factory: Callable[[], Any]):
        import asyncio
        import threading

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="longvt-local-actor", daemon=True)
        self._thread.start()

        async def build():
            return factory()

        self.obj = asyncio.run_coroutine_threadsafe(build(), self._loop).result()

    def __getattr__(self, name: str):
        import asyncio
        from types import SimpleNamespace

        method = getattr(self.obj, name)

        def remote(*args, **kwargs):
            return asyncio.wrap_future(asyncio.run_coroutine_threadsafe(method(*args, **kwargs), self._loop))

        return SimpleNamespace(remote=remote)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
