"""Stage `detect`: hard cuts of every video (fast path in `pipeline.scenecut`), then scenes and caption clips.

Long videos are cut into time chunks that run in parallel (processes or Ray workers); each chunk's cuts are a
record keyed `<video_id>#c<k>`, and `finalize` folds them back per video by key. Scenes longer than
`max_clip_seconds` are split into equal clips for captioning (upstream used 10 s windows).
"""

from __future__ import annotations

import math

from longvt_plugins.pipeline.stages.base import Stage
from longvt_plugins.pipeline.units import Unit, UnitFailed, failure_record


class DetectStage(Stage):
    name = "detect"
    pool = "process"
    defaults = {
        "threshold": 27.0,
        "min_scene_len": 15,
        "analysis_width": 160,
        "gop_skip": True,
        "skip_loop_filter": True,
        "skip_nonref": False,
        "threads": "auto",  # auto: the worker's share of the CPUs (units.decode_threads); 0: FFmpeg's choice
        "chunk_seconds": 600.0,  # 0: never split a video in time
        "max_clip_seconds": 10.0,
        "workers": 2,
    }

    def _cut_options(self):
        from longvt_plugins.pipeline.scenecut import CutOptions
        from longvt_plugins.pipeline.units import decode_threads

        o = self.options
        return CutOptions(
            threshold=float(o["threshold"]),
            min_scene_len=int(o["min_scene_len"]),
            analysis_width=int(o["analysis_width"]),
            gop_skip=bool(o["gop_skip"]),
            skip_loop_filter=bool(o["skip_loop_filter"]),
            skip_nonref=bool(o["skip_nonref"]),
            threads=decode_threads() if o["threads"] == "auto" else int(o["threads"]),
        )

    def plan(self, inputs):
        from longvt_plugins.core.video import VideoError, probe
        from longvt_plugins.pipeline.config import ConfigError
        from longvt_plugins.pipeline.manifest import load_manifest

        if self.config.videos is None:
            raise ConfigError("config.videos (the video manifest) is not set")
        units, failures = [], []
        chunk = float(self.options["chunk_seconds"] or 0)
        for v in load_manifest(self.config.videos):
            vid = v["video_id"]
            try:
                info = probe(v["path"])
            except VideoError as exc:
                failures.append(failure_record(vid, self.name, exc, vid))
                continue
            n = 1 if chunk <= 0 else max(1, math.ceil(info.duration / chunk - 1e-9))
            for k in range(n):
                payload = {
                    "video": v,
                    "duration": info.duration,
                    "fps": info.fps,
                    "num_frames": info.num_frames,
                    "chunk": k,
                    "num_chunks": n,
                    "start": 0.0 if k == 0 else k * chunk,
                    "end": None if k == n - 1 else (k + 1) * chunk,
                }
                units.append(Unit(f"{vid}#c{k:04d}", vid, payload))
        return units, failures

    def run(self, unit):
        from longvt_plugins.pipeline.scenecut import CutDetectionError, detect_cuts

        p = unit.payload
        try:
            res = detect_cuts(p["video"]["path"], p["start"], p["end"], self._cut_options())
        except CutDetectionError as exc:
            raise UnitFailed(f"scene detection failed: {exc}") from exc
        return [
            {
                "id": unit.key,
                "video_id": unit.video_id,
                "chunk": p["chunk"],
                "num_chunks": p["num_chunks"],
                "fps": res.fps,
                "cuts": res.cuts,
                "frames_decoded": res.frames_decoded,
                "gops": res.gops,
                "gops_dense": res.gops_dense,
                "payload": p,
            }
        ]

    def finalize(self, records, failures):
        from longvt_plugins.pipeline.scenecut import merge_chunk_cuts

        by_video: dict[str, list[dict]] = {}
        for r in records:
            by_video.setdefault(r["video_id"], []).append(r)
        out_failures = [f for f in failures if "#c" not in f["id"]]
        failed_videos = {}
        for f in failures:
            if "#c" in f["id"]:
                failed_videos.setdefault(f["video_id"], f"chunk {f['id'].split('#c')[1]}: {f['reason']}")
        for vid, reason in failed_videos.items():
            out_failures.append(failure_record(vid, self.name, reason, vid))
        videos = []
        for vid, chunks in by_video.items():
            if vid in failed_videos:
                continue
            p = chunks[0]["payload"]
            if len(chunks) != p["num_chunks"]:
                continue  # the missing chunks are failures, reported above
            fps, duration = chunks[0]["fps"], float(p["duration"])
            cuts = merge_chunk_cuts([c["cuts"] for c in chunks], int(self.options["min_scene_len"]))
            times = [round(c / fps, 6) for c in cuts if 0 < c / fps < duration]
            bounds = [0.0, *times, round(duration, 6)]
            scenes = [{"index": i, "start": bounds[i], "end": bounds[i + 1]} for i in range(len(bounds) - 1)]
            videos.append(
                {
                    "id": vid,
                    "video_id": vid,
                    "path": p["video"]["path"],
                    "source": {k: v for k, v in p["video"].items() if k not in ("path", "video_id")},
                    "duration": duration,
                    "fps": fps,
                    "num_frames": p["num_frames"],
                    "cuts": times,
                    "scenes": scenes,
                    "clips": split_clips(vid, scenes, float(self.options["max_clip_seconds"])),
                    "stats": {
                        "chunks": len(chunks),
                        "frames_decoded": sum(c["frames_decoded"] for c in chunks),
                        "gops": sum(c["gops"] for c in chunks),
                        "gops_dense": sum(c["gops_dense"] for c in chunks),
                    },
                }
            )
        return videos, out_failures


def split_clips(video_id: str, scenes: list[dict], max_len: float) -> list[dict]:
    """Caption clips: each scene, split into equal parts no longer than `max_len` seconds."""
    clips = []
    for s in scenes:
        length = s["end"] - s["start"]
        n = 1 if max_len <= 0 else max(1, math.ceil(length / max_len - 1e-9))
        for k in range(n):
            a = s["start"] + length * k / n
            b = s["end"] if k == n - 1 else s["start"] + length * (k + 1) / n
            clips.append(
                {
                    "id": f"{video_id}/clip{len(clips):05d}",
                    "scene": s["index"],
                    "start": round(a, 3),
                    "end": round(b, 3),
                }
            )
    return clips


STAGE = DetectStage
