"""benchmarks/grpo_log.py reads verl's console metrics and the rollout JSONL into the GPU runs' per-step table."""

from __future__ import annotations

import json

from benchmark_support import load_benchmark


def _mod():
    return load_benchmark("grpo_log")


LINE = (
    "(TaskRunnerV1 pid=1) step:1 - critic/score/mean:0.25 - response_length/mean:300.0 - response_length/max:512.0"
    " - num_turns/mean:np.float64(3.5) - timing_s/gen:6.0 - timing_s/old_log_prob:4.0 - timing_s/ref:3.0"
    " - timing_s/update_actor:11.0 - timing_s/update_weights:0.07 - timing_s/step:25.0"
)


def test_table_counts_tool_calls_and_crop_errors(tmp_path):
    m = _mod()
    (tmp_path / "1.jsonl").write_text(
        json.dumps(
            {
                "output": "<tool_call>a</tool_call><tool_response>crop_video error: x</tool_response>",
                "score": 0,
            }
        )
        + "\n"
        + json.dumps(
            {"output": "<tool_call>a</tool_call><tool_call>b</tool_call><answer>red</answer>", "score": 1}
        )
        + "\n"
    )
    steps = m.parse_log(
        "noise\n(TaskRunnerV1 pid=1) step:0 - val-core/longvt/acc/mean@1:np.float64(0.2)\n" + LINE
    )
    assert steps[0]["val-core/longvt/acc/mean@1"] == 0.2 and steps[1]["num_turns/mean"] == 3.5
    row = m.table(steps, tmp_path).splitlines()[2]
    assert (
        row == "| 1 | 0.250 | 300 / 512 | 3.50 | 1.50 | 1 / 2 | 1 | 6.0 | 4.0 | 3.0 | 11.0 | 0.070 | 25.0 |"
    )
    # a step whose rollout dump is missing (a run cut by its time limit) still gets its row
    two = m.parse_log(LINE + "\n" + LINE.replace("step:1", "step:2"))
    assert (
        m.table(two, tmp_path)
        .splitlines()[3]
        .startswith("| 2 | 0.250 | 300 / 512 | 3.50 | - | - / - | - | 6.0")
    )
    m.draw([(1, 0.25), (2, 0.5)], tmp_path / "r.png", "t")
    assert (tmp_path / "r.png").stat().st_size > 0
