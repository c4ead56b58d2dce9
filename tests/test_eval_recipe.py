"""recipes/eval/run_eval.sh serves vLLM sized from the protocol (`longvt eval serve-args`): every frame is an image
part, so the per-request image cap and the context must hold the skim plus every crop, which vLLM's defaults refuse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from longvt_plugins.core.protocols import get_protocol
from longvt_plugins.core.protocols.context import serve_limits_all

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "eval" / "run_eval.sh"


def _dry_run(model_dir: Path, *extra: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "DRY_RUN": "1",
        "DP": "1",
        "VLLM_ARGS": "--enforce-eager",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        **env_extra,
    }
    return subprocess.run(
        ["bash", str(RECIPE), str(model_dir), "longvtp_videosiah_tool", *extra],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_run_eval_serves_with_the_protocols_limits_capped_at_the_model(tiny_model_dir):
    done = _dry_run(tiny_model_dir)
    assert done.returncode == 0, done.stderr[-2000:]
    argv = done.stdout.splitlines()
    assert argv[:3] == ["vllm", "serve", str(tiny_model_dir)]
    upstream = serve_limits_all(get_protocol("upstream").for_model(str(tiny_model_dir)))
    limit = json.loads(argv[argv.index("--limit-mm-per-prompt") + 1])
    assert limit == {"image": upstream.images, "video": 0} and upstream.images >= 768 + 128
    # The tiny model allows 32,768 positions, less than the protocol needs: capped there, with a note on stderr.
    assert upstream.max_model_len > 32768
    assert argv[argv.index("--max-model-len") + 1] == "32768" and "32768" in done.stderr
    template = Path(argv[argv.index("--chat-template") + 1])
    assert template.name == get_protocol("upstream").chat_template and template.is_file()
    assert argv[argv.index("--tool-call-parser") + 1] == "hermes"
    # Explicit, not left to vLLM's detection (LongVT's vLLM 0.12.0 would have flattened the parts to a string).
    assert argv[argv.index("--chat-template-content-format") + 1] == "openai"
    assert argv[-1] == "--enforce-eager"


def test_run_eval_serves_our_protocol_with_its_own_template(tiny_model_dir):
    done = _dry_run(tiny_model_dir, PROTOCOL="longvt-plugins")
    assert done.returncode == 0, done.stderr[-2000:]
    argv = done.stdout.splitlines()
    ours = get_protocol("longvt-plugins")
    assert Path(argv[argv.index("--chat-template") + 1]).name == ours.chat_template
    limit = json.loads(argv[argv.index("--limit-mm-per-prompt") + 1])
    assert limit["image"] == serve_limits_all(ours).images
