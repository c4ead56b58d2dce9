"""What every stage is: plan units from upstream records, run one unit, optionally fold unit records."""

from __future__ import annotations

from typing import ClassVar

from longvt_plugins.pipeline.config import PipelineConfig
from longvt_plugins.pipeline.units import Unit


class Stage:
    name: ClassVar[str] = ""
    upstream: ClassVar[tuple[str, ...]] = ()
    pool: ClassVar[str] = "thread"  # "thread": waits on a model server; "process": burns CPU (decoding)
    defaults: ClassVar[dict] = {}

    def __init__(self, config: PipelineConfig):
        self.config = config
        self.options = config.stage_options(self.name)
        self._client = None

    # --------------------------------------------------------------------------------- to implement
    def plan(self, inputs: dict[str, list[dict]]) -> tuple[list[Unit], list[dict]]:
        """Units to run (and failures found while planning, e.g. an unreadable video), from upstream records."""
        raise NotImplementedError

    def run(self, unit: Unit) -> list[dict]:
        """The records of one unit, each with a stable "id". Raise UnitFailed (or anything) to fail it."""
        raise NotImplementedError

    def finalize(self, records: list[dict], failures: list[dict]) -> tuple[list[dict], list[dict]]:
        return records, failures

    # --------------------------------------------------------------------------------- shared helpers
    def workers(self) -> int:
        if self.pool == "process":
            return int(self.options.get("workers") or 1)
        return int(self.config.endpoint(self.name).get("concurrency") or 1)

    @property
    def client(self):
        """The stage's model endpoint client, created on first use (never at import or planning)."""
        if self._client is None:
            from longvt_plugins.pipeline.llm import ModelClient

            self._client = ModelClient(self.config.endpoint(self.name))
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
