"""`python -m longvt_plugins.lmms_engine.launch config_yaml=... [key.path=value ...]` (also under torchrun).

Runs lmms-engine's own Hydra CLI as `__main__` after three things, in every process that runs it:
1. import every `lmms_engine.plugins` entry point (ours registers `longvt_imcott` / `longvt_qwen2_5_vl`); a plugin
   that fails to import stops the launch with its error (a silent skip would surface later as a bare KeyError);
2. apply our workarounds for lmms-engine 0.1.4 bugs (compat.py), and the CPU shims only if LONGVT_CPU_SHIMS=1;
3. fold `key.path=value` overrides into the config_yaml: lmms-engine merges its YAML over Hydra's config one
   top-level section at a time, so without this any override inside a section the YAML has is silently lost.

lmms-engine's CLI must run through runpy: calling its `main()` from another module breaks Hydra's config lookup.
"""

from __future__ import annotations

import os
import runpy
import socket
import sys
import tempfile
from importlib.metadata import entry_points
from typing import Any

import yaml

PLUGIN_GROUP = "lmms_engine.plugins"


def load_plugins() -> list[str]:
    loaded = []
    for ep in entry_points(group=PLUGIN_GROUP):
        try:
            ep.load()
        except Exception as e:
            raise RuntimeError(f"lmms-engine plugin {ep.name!r} ({ep.value}) failed to import: {e}") from e
        loaded.append(ep.name)
    if "longvt" not in loaded:  # running from a source tree without the entry point installed
        import longvt_plugins.lmms_engine.register  # noqa: F401

        loaded.append("longvt")
    return loaded


def _set(cfg: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    node = cfg
    for k in keys[:-1]:
        if not isinstance(node.get(k), dict):
            node[k] = {}
        node = node[k]
    node[keys[-1]] = value


def fold_overrides(argv: list[str], tmp_dir: str | None = None) -> list[str]:
    """Merge `key=value` overrides into the config_yaml (values parsed as YAML); return the argv for lmms-engine."""
    yaml_arg = next((a for a in argv if a.startswith("config_yaml=")), None)
    overrides = [a for a in argv if "=" in a and not a.startswith(("-", "config_yaml=", "hydra."))]
    if yaml_arg is None or not overrides:
        return list(argv)
    path = yaml_arg.split("=", 1)[1]
    with open(path) as f:
        cfg = yaml.safe_load(f) or {}
    for a in overrides:
        key, raw = a.split("=", 1)
        _set(cfg, key.lstrip("+"), yaml.safe_load(raw) if raw != "" else None)
    fd, merged = tempfile.mkstemp(prefix="longvt-lmms-engine-", suffix=".yaml", dir=tmp_dir)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(cfg, f, sort_keys=False)
    rest = [a for a in argv if a is not yaml_arg and a not in overrides]
    return [f"config_yaml={merged}", *rest]


def single_process_rendezvous(env: dict[str, str] | None = None) -> None:
    """Outside torchrun, give the one-process group a free loopback port.

    lmms-engine 0.1.4 falls back to the fixed MASTER_PORT 29500, so two single-process trainings on one machine
    (two users, or a test beside a training run) fail with EADDRINUSE. torchrun's own variables are left alone.
    """
    env = os.environ if env is None else env
    if "WORLD_SIZE" in env or "MASTER_ADDR" in env:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    single_process_rendezvous()
    from longvt_plugins.lmms_engine import compat, cpu_shims

    if os.environ.get(cpu_shims.ENV_FLAG) == "1":
        cpu_shims.apply()
    compat.apply()
    load_plugins()
    sys.argv = ["lmms_engine.launch.cli", *fold_overrides(argv)]
    runpy.run_module("lmms_engine.launch.cli", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
