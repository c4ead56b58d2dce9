"""The module verl's `verl.plugins` entry point names: importing it registers everything LongVT adds to verl.

`import verl` (in the driver and in every Ray worker) imports this module. It registers:

- the agent loop `longvt_tool_agent` (`LongVTToolAgentLoop`: verl's tool loop plus our counters, call errors and
  per-frame timestamps) in verl's agent-loop registry;
- the tool parser `longvt_hermes` in verl's `ToolParser` registry;
- three OmegaConf resolvers for recipes: `${longvt.model_template:${actor_rollout_ref.model.path}}` (the chat template
  the checkpoint's family needs: ours for Qwen2.5-VL, null = the checkpoint's own for Qwen3-VL),
  `${longvt.template:qwen2_5_vl_tools}` (the text of one of our chat templates) and `${longvt.resource:verl/tool_config.yaml}` (the absolute
  path of a file shipped in this package, for `multi_turn.tool_config_path`);
- the backport of verl 0.9.1's mRoPE padding fix (`mrope_padding`: equal-length batches of Qwen-VL rows).

verl swallows any exception a plugin raises at import (logged at DEBUG). So each registration here catches its own
failure, logs it at WARNING, and keeps it for `check_registration()`, which `longvt doctor` calls after `import verl`.
The tool itself needs no registration: verl imports it from the dotted `class_name` in the tool YAML.
"""

from __future__ import annotations

import logging
from importlib import resources

from longvt_plugins.verl.names import (
    AGENT_LOOP_CLASS_PATH,
    AGENT_LOOP_NAME,
    MODEL_TEMPLATE_RESOLVER,
    RESOURCE_RESOLVER,
    TEMPLATE_RESOLVER,
    TOOL_CLASS_PATH,
    TOOL_PARSER_NAME,
)

logger = logging.getLogger(__name__)


_errors: dict[str, str] = {}


def chat_template(name: str = "qwen2_5_vl_tools") -> str:
    """Text of `longvt_plugins/templates/<name>.jinja`."""
    path = resources.files("longvt_plugins.templates").joinpath(f"{name}.jinja")
    if not path.is_file():
        raise FileNotFoundError(f"longvt-plugins has no chat template named {name!r} (looked for {path})")
    return path.read_text()


def model_template(model_path: str) -> str | None:
    """`custom_chat_template` for the checkpoint at `model_path`, from its config: our tool template for
    Qwen2.5-VL (its released one has no tools), None for Qwen3-VL (verl then uses the checkpoint's own)."""
    from longvt_plugins.core.families import QWEN3_VL, model_family

    return None if model_family(model_path) == QWEN3_VL else chat_template("qwen2_5_vl_tools")


def resource_path(relative: str) -> str:
    """Absolute path of a file shipped inside the `longvt_plugins` package (e.g. `verl/tool_config.yaml`)."""
    path = resources.files("longvt_plugins").joinpath(relative)
    if not path.is_file():
        raise FileNotFoundError(f"longvt-plugins ships no file {relative!r} (looked for {path})")
    return str(path)


def _register_resolvers() -> None:
    from omegaconf import OmegaConf

    OmegaConf.register_new_resolver(TEMPLATE_RESOLVER, chat_template, replace=True)
    OmegaConf.register_new_resolver(MODEL_TEMPLATE_RESOLVER, model_template, replace=True)
    OmegaConf.register_new_resolver(RESOURCE_RESOLVER, resource_path, replace=True)


def _register_agent_loop() -> None:
    # The @register decorators in these modules do the work; importing them is the registration.
    import longvt_plugins.verl.agent_loop  # noqa: F401
    import longvt_plugins.verl.tool_parser  # noqa: F401


def _install_backports() -> None:
    from longvt_plugins.verl import mrope_padding

    mrope_padding.install()


def register() -> None:
    """Idempotent: safe to call again (the entry point, tests and `longvt doctor` may all trigger it)."""
    steps = (
        ("resolvers", _register_resolvers),
        ("agent_loop", _register_agent_loop),
        ("backports", _install_backports),
    )
    for name, step in steps:
        try:
            step()
            _errors.pop(name, None)
        except Exception as exc:  # verl would swallow it without a trace: keep it visible
            _errors[name] = f"{type(exc).__name__}: {exc}"
            logger.warning("longvt-plugins could not register its verl %s: %s", name, _errors[name])


def check_registration() -> tuple[bool, str]:
    """Did `import verl` really register our parts? Returns (ok, one human-readable line per check)."""
    lines: list[str] = []
    ok = True

    def record(passed: bool, what: str) -> None:
        nonlocal ok
        ok = ok and passed
        lines.append(f"{'ok ' if passed else 'MISSING'} {what}")

    try:
        import verl  # noqa: F401 - the entry point runs inside this import
        from omegaconf import OmegaConf
        from verl.experimental.agent_loop.agent_loop import _agent_loop_registry
        from verl.experimental.agent_loop.tool_parser import ToolParser
        from verl.tools.tool_registry import get_tool_class
    except Exception as exc:
        return (
            False,
            f"cannot import verl's agent loop: {type(exc).__name__}: {exc} (install verl[verl-core]==0.9.1)",
        )

    target = _agent_loop_registry.get(AGENT_LOOP_NAME, {}).get("_target_")
    record(target == AGENT_LOOP_CLASS_PATH, f"agent loop {AGENT_LOOP_NAME!r}")
    record(TOOL_PARSER_NAME in ToolParser._registry, f"tool parser {TOOL_PARSER_NAME!r}")
    for resolver in (TEMPLATE_RESOLVER, MODEL_TEMPLATE_RESOLVER, RESOURCE_RESOLVER):
        record(OmegaConf.has_resolver(resolver), f"OmegaConf resolver ${{{resolver}:...}}")
    try:
        tool_cls = get_tool_class(TOOL_CLASS_PATH)
        record(tool_cls.__name__ == "CropVideoTool", f"tool class {TOOL_CLASS_PATH}")
    except Exception as exc:
        record(False, f"tool class {TOOL_CLASS_PATH}: {type(exc).__name__}: {exc}")
    from longvt_plugins.verl import mrope_padding

    record(
        mrope_padding.active(),
        f"mRoPE equal-length padding fix (backport for verl {mrope_padding.AFFECTED_VERL})",
    )
    for name, error in _errors.items():
        lines.append(f"error while registering {name}: {error}")
    return ok, "\n".join(lines)


register()
