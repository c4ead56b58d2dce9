"""Evaluation protocols as named, complete objects (see docs/protocols.md).

`get_protocol("upstream")` / `get_protocol("longvt-plugins")` -> `Protocol`; `messages` builds what a protocol
sends, `context` sizes a server for it, `scoring` is its scoring chain.
"""

from longvt_plugins.core.protocols.named import (
    LONGVT_PLUGINS,
    LONGVT_TOOLS,
    PROTOCOLS,
    UPSTREAM,
    get_protocol,
    protocol_names,
)
from longvt_plugins.core.protocols.spec import (
    Presentation,
    Protocol,
    ScoringSpec,
    StylePrompt,
    TokenSpec,
    ToolSpec,
)
from longvt_plugins.core.style import STYLES

__all__ = [
    "STYLES",
    "LONGVT_PLUGINS",
    "LONGVT_TOOLS",
    "PROTOCOLS",
    "UPSTREAM",
    "Presentation",
    "Protocol",
    "ScoringSpec",
    "StylePrompt",
    "TokenSpec",
    "ToolSpec",
    "get_protocol",
    "protocol_names",
]
