"""The HTML trace viewer: `load_traces(path)` reads traces from any run output, `write_html(traces, path)` renders."""

from longvt_plugins.viewer.load import LoadReport, load_traces, to_trace
from longvt_plugins.viewer.render import render_html, write_html

__all__ = ["LoadReport", "load_traces", "to_trace", "render_html", "write_html"]
