"""Ray as the pipeline's engine for many machines: the same `execute_unit` as the local pool, as Ray tasks.

The driver keeps the journal: each task returns its unit's entry (key and records together), and the driver
appends it as it arrives, so attribution is by key exactly as in a local run and the files are identical.
Tasks are submitted in a bounded window (`max_in_flight`); a stage's CPU need per task comes from its pool kind
(decoding stages ask for a CPU each; model-call stages for a fraction, since they mostly wait on a server).
"""

from __future__ import annotations

from longvt_plugins.pipeline.units import DECODE_THREADS_ENV, execute_unit


def ensure_ray(address: str | None = None, num_cpus: int | None = None):
    """Connect to `address` (a cluster) or start a local Ray; reuse a running session."""
    import ray

    if not ray.is_initialized():
        kw = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
        if address and address != "local":
            ray.init(address=address, **kw)
        else:
            ray.init(num_cpus=num_cpus, **kw)
    return ray


def task_options(stage) -> dict:
    """Ray options of a stage's tasks: a decoding task asks for one CPU and decodes with that many threads
    (units.DECODE_THREADS_ENV); a model-call task mostly waits on a server and asks for a fraction."""
    cpus = 1.0 if stage.pool == "process" else 0.5
    env = {"env_vars": {DECODE_THREADS_ENV: str(max(1, int(cpus)))}}
    return {"num_cpus": cpus, "max_retries": 1, "runtime_env": env}


def run_units_ray(
    stage, config, units, on_done, *, address: str | None = None, max_in_flight: int = 8
) -> None:
    if not units:
        return
    ray = ensure_ray(address)
    opts = task_options(stage)
    cpus = opts["num_cpus"]
    task = ray.remote(**opts)(execute_unit)
    cfg = config.to_dict()
    # In flight: what the caller allows (--workers / the stage's concurrency), and for decoding stages at least
    # enough to keep every CPU of the cluster busy.
    cluster = int(ray.available_resources().get("CPU", 1) / cpus) if stage.pool == "process" else 0
    window = max(1, max_in_flight, 2 * cluster)
    pending = []
    for u in units:
        pending.append(task.remote(stage.name, cfg, u.to_dict()))
        if len(pending) >= window:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                on_done(ray.get(ref))
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        for ref in done:
            on_done(ray.get(ref))
