"""A server that refuses too many images / too long a context: the backend says `ContextExhausted`, not an error."""

from __future__ import annotations

import pytest
from PIL import Image

from longvt_plugins.core.backends import BackendError, ContextExhausted, GenerationParams, OpenAIBackend
from longvt_plugins.testing.openai_server import OpenAIStubServer


def _messages(images: int) -> list[dict]:
    parts = [{"type": "image", "image": Image.new("RGB", (28, 28))} for _ in range(images)]
    return [{"role": "user", "content": [*parts, {"type": "text", "text": "what is shown?"}]}]


def test_too_many_images_is_refused_with_vllms_words():
    with OpenAIStubServer(lambda body: "<answer>A</answer>", max_images=3) as server:
        backend = OpenAIBackend(server.base_url, "m", max_retries=0)
        assert (
            backend.generate(_messages(3), [], GenerationParams(max_tokens=8)).content == "<answer>A</answer>"
        )
        with pytest.raises(ContextExhausted, match="At most 3 image"):
            backend.generate(_messages(4), [], GenerationParams(max_tokens=8))
        assert [status for _, _, status in server.log][-1] == 400


def test_too_long_a_context_is_refused_and_usage_is_the_servers_count():
    with OpenAIStubServer(lambda body: "ok", max_model_len=300, image_tokens=66) as server:
        backend = OpenAIBackend(server.base_url, "m", max_retries=0)
        out = backend.generate(_messages(2), [], GenerationParams(max_tokens=100))
        assert out.usage.prompt_tokens == server.last_prompt_tokens
        with pytest.raises(ContextExhausted, match="maximum context length is 300"):
            backend.generate(_messages(2), [], GenerationParams(max_tokens=200))


def test_other_refusals_stay_backend_errors():
    from longvt_plugins.testing.openai_server import Fault

    with OpenAIStubServer(lambda body: Fault("unauthorized")) as server:
        backend = OpenAIBackend(server.base_url, "m", max_retries=0)
        with pytest.raises(BackendError) as info:
            backend.generate(_messages(1), [], GenerationParams(max_tokens=8))
        assert not isinstance(info.value, ContextExhausted)
