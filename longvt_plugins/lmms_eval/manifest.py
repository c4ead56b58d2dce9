"""The `lmms_eval.models` entry-point payload: which `--model` names lmms-eval resolves to our chat classes.

lmms-eval 0.7.3 imports this module whenever `lmms_eval.models` is imported (every run, every `lmms-eval` call),
so it stays tiny: the class paths are strings and the model module (openai, torch, video) is imported only when a
run really asks for one of our models. The payload is a callable; lmms-eval calls it and registers each
`ModelManifest` it returns (a manifest, a list of them, or a callable returning either are all accepted).
"""

from __future__ import annotations

# model id -> (chat class path, aliases). One class per backend so `--model` alone says where tokens come from.
MODELS: dict[str, tuple[str, tuple[str, ...]]] = {
    # Policy behind an OpenAI-compatible server (vLLM / SGLang with --tool-call-parser hermes).
    "longvt_agent": ("longvt_plugins.lmms_eval.model.LongVTAgent", ("longvt_agent_openai",)),
    # The policy loaded in-process with transformers (small checkpoints, CPU tests, GPU smoke checks).
    "longvt_agent_hf": ("longvt_plugins.lmms_eval.model.LongVTAgentHF", ("longvt_agent_transformers",)),
}


def longvt_models():
    """Our model manifests (lmms-eval calls this while it builds its model registry)."""
    from lmms_eval.models.registry_v2 import ModelManifest

    return [
        ModelManifest(model_id=model_id, chat_class_path=class_path, aliases=aliases)
        for model_id, (class_path, aliases) in MODELS.items()
    ]
