"""The offline install path: install/build_wheelhouse.sh builds a wheelhouse (and a pruned bundle), install.sh
--wheelhouse installs it into a fresh venv with no index at all, keeping what the host already has.

Real pip, real venvs, real wheels; the wheels are tiny ones made here, served from a local folder, and the index
URL points at a closed port so that any attempt to use the network fails the test.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import tarfile
import zipfile
from importlib.metadata import version
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PY = f"{sys.version_info.major}.{sys.version_info.minor}"
HOST_PACKAGE = ("pyyaml", version("pyyaml"))  # present in the test environment: stands for the host's torch


def make_wheel(folder: Path, name: str, ver: str, files: dict[str, bytes], requires: list[str] = ()) -> Path:
    """A minimal valid py3-none-any wheel (METADATA, WHEEL, RECORD with hashes)."""
    dist = f"{name}-{ver}.dist-info"
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    contents = {
        **files,
        f"{dist}/METADATA": meta.encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    out = folder / f"{name}-{ver}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for path, data in contents.items():
            z.writestr(path, data)
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return out


@pytest.fixture()
def index(tmp_path):
    """A local 'registry' with two tiny packages; tinyb depends on the host package and on tinya."""
    src = tmp_path / "registry"
    src.mkdir()
    make_wheel(
        src,
        "tinya",
        "1.0",
        {"tinya/__init__.py": b"VALUE = 'a'\n", "tinya/kernels_sm100.bin": b"\0" * 200_000},
    )
    make_wheel(src, "tinyb", "2.0", {"tinyb/__init__.py": b"import yaml, tinya\nVALUE = 'b'\n"},
               requires=[f"{HOST_PACKAGE[0]}=={HOST_PACKAGE[1]}", "tinya==1.0"])  # fmt: skip
    pins = tmp_path / "env.txt"
    pins.write_text(
        f"# an environment's full pin set\ntinya==1.0\ntinyb==2.0\n{HOST_PACKAGE[0]}=={HOST_PACKAGE[1]}\n"
    )
    env = {
        **os.environ,
        "PIP_INDEX_URL": "http://127.0.0.1:9/simple",  # closed port: any index use fails
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(src),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_RETRIES": "0",
        "PYTHON": sys.executable,
        "PY_VERSION": PY,
        "CONSTRAINTS": str(pins),
        "PROJECT": "0",
        "HOST_PROVIDES": HOST_PACKAGE[0],
        "JOBS": "2",
    }
    return src, env


def run(cmd, env, **kw):
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, **kw)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def imports(venv: Path, code: str) -> str:
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=120
    ).stdout.strip()


@pytest.mark.slow
def test_wheelhouse_installs_offline_and_keeps_the_hosts_package(index, tmp_path):
    _, env = index
    wh = tmp_path / "wh"
    run(["bash", str(ROOT / "install/build_wheelhouse.sh"), "test-env", str(wh)], env)
    assert sorted(p.name for p in wh.glob("*.whl")) == [
        "tinya-1.0-py3-none-any.whl",
        "tinyb-2.0-py3-none-any.whl",
    ]
    assert (wh / "host-provided.txt").read_text().split() == [f"{HOST_PACKAGE[0]}=={HOST_PACKAGE[1]}"]
    assert (wh / "wheelhouse.lock").read_text().split() == ["tinya==1.0", "tinyb==2.0"]

    venv = tmp_path / "venv"
    # Only the wheelhouse from here on; and PYTHON a bare name with the venv first on PATH (as on a host whose
    # profile puts the venv there): the script must keep using the host's python, not the new venv's pip-less one.
    path = f"{venv / 'bin'}:{Path(sys.executable).parent}:{os.environ['PATH']}"
    offline = {
        **env,
        "PIP_FIND_LINKS": "",
        "VENV": str(venv),
        "PYTHON": Path(sys.executable).name,
        "PATH": path,
    }
    out = run(["bash", str(ROOT / "install/install.sh"), "test-env", "--wheelhouse", str(wh)], offline)
    assert "offline" in out
    assert imports(venv, "import tinyb, yaml; print(tinyb.VALUE, yaml.__file__)").startswith("b ")
    # The host's package came from the host, not from the wheelhouse (which does not have it).
    assert str(venv) not in imports(venv, "import yaml; print(yaml.__file__)")


@pytest.mark.slow
def test_install_refuses_a_host_without_what_the_wheelhouse_leaves_to_it(index, tmp_path):
    _, env = index
    wh = tmp_path / "wh"
    run(["bash", str(ROOT / "install/build_wheelhouse.sh"), "test-env", str(wh)], env)
    (wh / "host-provided.txt").write_text("no-such-host-package==1.0\n")
    done = subprocess.run(
        ["bash", str(ROOT / "install/install.sh"), "test-env", "--wheelhouse", str(wh)],
        env={**env, "VENV": str(tmp_path / "v2"), "HOST_REQUIRED": "no-such-host-package"},
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 1 and "no-such-host-package: missing (the pins want 1.0)" in done.stderr


@pytest.mark.slow
def test_pruned_bundle_leaves_out_packages_and_files_and_still_installs(index, tmp_path):
    _, env = index
    wh = tmp_path / "wh"
    profile = tmp_path / "prune.txt"
    profile.write_text(
        "# a GPU generation we do not run on\ndrop-file tinya tinya/kernels_sm100.bin\ndrop-package tinyb\n"
    )
    out = run(
        ["bash", str(ROOT / "install/build_wheelhouse.sh"), "test-env", str(wh)],
        {**env, "PRUNE": str(profile)},
    )
    assert "left out 1 distributions; shrunk 1 wheels" in out and "bundle" in out
    with tarfile.open(wh / "bundle.tar.xz") as tar:
        names = sorted(tar.getnames())
    assert "wheelhouse/PRUNED" in names and "wheelhouse/tinya-1.0-py3-none-any.whl" in names
    assert not any("tinyb" in n for n in names)
    with zipfile.ZipFile(wh / "pruned" / "tinya-1.0-py3-none-any.whl") as z:
        assert "tinya/kernels_sm100.bin" not in z.namelist()
        assert "kernels_sm100" not in z.read("tinya-1.0.dist-info/RECORD").decode()

    # The bundle alone, unpacked on the "GPU host": installs with no index, without the dropped file.
    target = tmp_path / "host"
    target.mkdir()
    with tarfile.open(wh / "bundle.tar.xz") as tar:
        tar.extractall(target, filter="data")
    venv = tmp_path / "venv"
    run(["bash", str(ROOT / "install/install.sh"), "test-env", "--wheelhouse", str(target / "wheelhouse")],
        {**env, "PIP_FIND_LINKS": "", "VENV": str(venv)})  # fmt: skip
    assert imports(
        venv,
        "import tinya, os; print(tinya.VALUE, [f for f in os.listdir(os.path.dirname(tinya.__file__)) if f[0] != '_' or f.endswith('.py')])",
    ) == ("a ['__init__.py']")
    # A size limit the bundle exceeds fails the build.
    done = subprocess.run(
        ["bash", str(ROOT / "install/build_wheelhouse.sh"), "test-env", str(wh)],
        env={**env, "PRUNE": str(profile), "MAX_BUNDLE_MB": "0.00001"}, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode != 0 and "over the" in done.stderr
