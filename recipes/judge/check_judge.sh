#!/usr/bin/env bash
# Ask the judge one known question through our own client, from the node you run this on.
#   LONGVT_JUDGE_BASE_URL=http://judge-host:8000/v1 bash recipes/judge/check_judge.sh
set -euo pipefail
: "${LONGVT_JUDGE_BASE_URL:?set LONGVT_JUDGE_BASE_URL}"
exec "${PYTHON:-python3}" - <<'PY'
import asyncio, sys
from longvt_plugins.core.judge import JudgeClient, JudgeConfig

async def main():
    judge = JudgeClient(JudgeConfig.from_env(cache_path="off"))
    result = await judge.grade("What colour is the car?", "it is red", "red")
    print(f"score={result.score} fallback={result.fallback} reason={result.reason}")
    return 0 if not result.fallback else 1

sys.exit(asyncio.run(main()))
PY
