"""The eval recipe sizes vLLM from the protocol: every frame is an image part, so the per-request image cap and the
context must hold the skim plus every crop (vLLM's defaults refuse such requests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from longvt_plugins.lmms_eval.protocol import PAPER_PROTOCOL
from longvt_plugins.lmms_eval.serving import frame_tokens, serve_limits

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "eval" / "run_eval.sh"


def test_paper_protocol_needs_every_skim_and_crop_frame_per_request():
    images, length, note = serve_limits(PAPER_PROTOCOL)
    assert images == 768 + 5 * 128
    assert frame_tokens(224 * 224) == 64 + 10
    assert length == 1408 * 74 + 49152 + 4096 and note == ""
    # Qwen2.5-VL-7B's 128k positions cannot hold it all: the server is capped there and says why.
    images, length, note = serve_limits(PAPER_PROTOCOL, model_max_len=128000)
    assert (images, length) == (1408, 128000) and "128000" in note
    # The SFT checkpoint's 512-frame skim.
    assert serve_limits(PAPER_PROTOCOL, skim_frames=512)[0] == 512 + 640


def test_run_eval_serves_with_the_sized_limits(tiny_model_dir):
    env = {
        **os.environ,
        "DRY_RUN": "1",
        "DP": "1",
        "VLLM_ARGS": "--enforce-eager",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", str(RECIPE), str(tiny_model_dir), "longvtp_videosiah_tool", "32"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    argv = done.stdout.splitlines()
    assert argv[:3] == ["vllm", "serve", str(tiny_model_dir)]
    limit = json.loads(argv[argv.index("--limit-mm-per-prompt") + 1])
    assert limit == {"image": 32 + 5 * 128, "video": 0}
    # The tiny model allows 32,768 positions, less than the protocol needs: capped, with a note on stderr.
    assert argv[argv.index("--max-model-len") + 1] == "32768" and "32768" in done.stderr
    assert "--chat-template" in argv and argv[argv.index("--tool-call-parser") + 1] == "hermes"
    assert argv[-1] == "--enforce-eager"
