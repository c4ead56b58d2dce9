"""A Hugging Face hub cache filled from a local folder, and a Hub that knows no repo: `--model ORG/NAME` tested
with no network.

`fill_hub_cache` lays a checkpoint out exactly as huggingface_hub does after a download - content-addressed
files in `models--org--name/blobs/`, `snapshots/<commit>/` of relative symlinks to them, `refs/main` naming the
commit - so the real `snapshot_download(local_files_only=True)` finds it.
"""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fill_hub_cache(
    cache_dir: str | Path, repo_id: str, folder: str | Path, *, revision: str = "main"
) -> Path:
    """Put every file of `folder` into the hub cache at `cache_dir` as `repo_id`'s snapshot; returns the snapshot."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    commit = hashlib.sha1("\n".join(str(p.relative_to(folder)) for p in files).encode()).hexdigest()
    repo = Path(cache_dir) / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    for src in files:
        blob = repo / "blobs" / hashlib.sha256(src.read_bytes()).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        if not blob.exists():
            shutil.copyfile(src, blob)
        link = snapshot / src.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo / "refs").mkdir(parents=True, exist_ok=True)
    (repo / "refs" / revision).write_text(commit)  # no newline, as huggingface_hub writes it
    return snapshot


class _NoSuchRepo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # the Hub's answer for an unknown or private repo
        body = b'{"error": "Repository not found"}'
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args) -> None:
        pass


@contextmanager
def hub_without_repos() -> Iterator[str]:
    """An HF_ENDPOINT on 127.0.0.1 that answers every request as the Hub does for a repo that does not exist."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoSuchRepo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
