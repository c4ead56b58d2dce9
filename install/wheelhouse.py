"""Helpers of install/build_wheelhouse.sh: plan the download, report sizes, prune to a compact bundle.

Standard library only: it runs on the build machine before any environment exists.

  plan CONSTRAINTS.txt --host-provides "torch nvidia-*" --lock L --host-file H
  report DIR
  prune DIR --profile install/prune-hopper.txt [--max-mb N]

A prune profile is a text file of rules, one per line (# comments):
  drop-package NAME-GLOB            leave the whole distribution out (the bundle is then installed with --no-deps)
  drop-file NAME-GLOB PATH-GLOB     leave out files inside a distribution's wheel (its RECORD is rewritten)
  keep-file NAME-GLOB PATH-GLOB     an exception to drop-file
The pruned wheels are re-zipped uncompressed, so xz sees the raw bytes: CUDA fat binaries shrink far more under
xz than under zip's deflate.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

MIB = 1024 * 1024


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_name(path: Path) -> str:
    return canonical(path.name.split("-")[0])


def matches(name: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatch(canonical(name), canonical(g)) for g in globs)


def read_pins(path: Path) -> list[tuple[str, str]]:
    """`name==version` lines of a constraints file (comments and blank lines skipped)."""
    pins = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, sep, ver = line.partition("==")
            if not sep:
                raise SystemExit(f"{path}: not an exact pin: {raw!r}")
            pins.append((canonical(name.split("[")[0]), ver.strip()))
    return pins


def plan(args: argparse.Namespace) -> None:
    host_globs = args.host_provides.split()
    lock, host = [], []
    for name, ver in read_pins(Path(args.constraints)):
        (host if matches(name, host_globs) else lock).append(f"{name}=={ver}")
    Path(args.lock).write_text("\n".join(sorted(lock)) + "\n")
    Path(args.host_file).write_text("\n".join(sorted(host)) + ("\n" if host else ""))
    print(f"{len(lock)} distributions to carry, {len(host)} left to the host")


def report(args: argparse.Namespace) -> None:
    wheels = sorted(Path(args.dir).glob("*.whl"), key=lambda p: p.stat().st_size, reverse=True)
    total = sum(p.stat().st_size for p in wheels)
    print(f"{len(wheels)} wheels, {total / MIB:.0f} MiB; largest:")
    for p in wheels[:12]:
        print(f"  {p.stat().st_size / MIB:8.1f} MiB  {p.name}")


def read_profile(path: Path) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    packages, drop, keep = [], [], []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].split()
        if not line:
            continue
        rule, *rest = line
        if rule == "drop-package" and len(rest) == 1:
            packages.append(rest[0])
        elif rule == "drop-file" and len(rest) == 2:
            drop.append((rest[0], rest[1]))
        elif rule == "keep-file" and len(rest) == 2:
            keep.append((rest[0], rest[1]))
        else:
            raise SystemExit(f"{path}: bad rule {raw!r}")
    return packages, drop, keep


def file_dropped(dist: str, member: str, drop: list[tuple[str, str]], keep: list[tuple[str, str]]) -> bool:
    def hit(rules: list[tuple[str, str]]) -> bool:
        return any(matches(dist, [n]) and fnmatch.fnmatch(member, p) for n, p in rules)

    return hit(drop) and not hit(keep)


def repack(src: Path, dst: Path, dist: str, drop, keep) -> int:
    """Copy a wheel without the dropped files; RECORD loses their lines. Returns the bytes left out."""
    removed, dropped = 0, set()
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        infos = zin.infolist()
        for info in infos:
            if not info.filename.endswith("/RECORD") and file_dropped(dist, info.filename, drop, keep):
                dropped.add(info.filename)
                removed += info.file_size
        for info in infos:
            if info.filename in dropped:
                continue
            data = zin.read(info)
            if info.filename.endswith(".dist-info/RECORD") and dropped:
                rows = [r for r in csv.reader(io.StringIO(data.decode())) if r and r[0] not in dropped]
                out = io.StringIO()
                csv.writer(out, lineterminator="\n").writerows(rows)
                data = out.getvalue().encode()
            info.compress_type = zipfile.ZIP_STORED
            zout.writestr(info, data)
    return removed


def pack(folder: Path, bundle: Path) -> None:
    """tar.xz of the folder as wheelhouse/; the xz tool with all cores when present (lzma is single-threaded)."""
    preset = os.environ.get("XZ_PRESET", "6")
    if shutil.which("xz") and shutil.which("tar"):
        files = sorted(p.name for p in folder.iterdir())
        tar = subprocess.Popen(
            ["tar", "-cf", "-", "--transform", "s,^,wheelhouse/,", *files], cwd=folder, stdout=subprocess.PIPE
        )
        with open(bundle, "wb") as fh:
            subprocess.run(["xz", "-T0", f"-{preset}", "-c"], stdin=tar.stdout, stdout=fh, check=True)
        if tar.wait() != 0:
            raise SystemExit("tar failed")
        return
    with tarfile.open(bundle, "w:xz", preset=int(preset)) as tar:
        for p in sorted(folder.iterdir()):
            tar.add(p, arcname=f"wheelhouse/{p.name}")


def prune(args: argparse.Namespace) -> None:
    src_dir = Path(args.dir)
    packages, drop, keep = read_profile(Path(args.profile))
    out = src_dir / "pruned"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    left_out, shrunk = [], []
    for wheel in sorted(src_dir.glob("*.whl")):
        dist = wheel_name(wheel)
        if matches(dist, packages):
            left_out.append(wheel.name)
            continue
        removed = repack(wheel, out / wheel.name, dist, drop, keep)
        if removed:
            shrunk.append(f"{wheel.name}: -{removed / MIB:.1f} MiB unpacked")
    # The marker tells install.sh that this set is not resolvable (dropped packages): install it with --no-deps.
    (out / "PRUNED").write_text(
        f"profile: {Path(args.profile).name}\nleft out:\n"
        + "".join(f"  {n}\n" for n in left_out)
        + "shrunk:\n"
        + "".join(f"  {s}\n" for s in shrunk)
    )
    for name in ("host-provided.txt", "wheelhouse.lock"):
        if (src_dir / name).exists():
            (out / name).write_bytes((src_dir / name).read_bytes())
    bundle = src_dir / "bundle.tar.xz"
    pack(out, bundle)
    size = bundle.stat().st_size / MIB
    unpacked = sum(p.stat().st_size for p in out.glob("*.whl")) / MIB
    print(f"left out {len(left_out)} distributions; shrunk {len(shrunk)} wheels")
    print(f"bundle {bundle}: {size:.1f} MiB (wheels {unpacked:.0f} MiB uncompressed)")
    if args.max_mb and size > args.max_mb:
        sys.exit(f"bundle is {size:.1f} MiB, over the {args.max_mb} MiB limit")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plan")
    p.add_argument("constraints")
    p.add_argument("--host-provides", default="")
    p.add_argument("--lock", required=True)
    p.add_argument("--host-file", required=True)
    p.set_defaults(func=plan)
    r = sub.add_parser("report")
    r.add_argument("dir")
    r.set_defaults(func=report)
    q = sub.add_parser("prune")
    q.add_argument("dir")
    q.add_argument("--profile", required=True)
    q.add_argument("--max-mb", type=float, default=0)
    q.set_defaults(func=prune)
    args = ap.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
