"""The cache root: one function in core, used by the judge cache, the token-length cache and built fixtures."""

from __future__ import annotations

from pathlib import Path

from longvt_plugins.core.judge import JudgeConfig
from longvt_plugins.core.paths import cache_root
from longvt_plugins.testing import cache as testing_cache


def test_cache_root_honours_longvt_cache_then_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("LONGVT_CACHE", str(tmp_path / "explicit"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "explicit" and not (tmp_path / "explicit").exists()
    monkeypatch.delenv("LONGVT_CACHE")
    assert cache_root() == tmp_path / "xdg" / "longvt"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "longvt"


def test_every_cache_lives_under_the_one_root(monkeypatch, tmp_path):
    monkeypatch.setenv("LONGVT_CACHE", str(tmp_path / "root"))
    monkeypatch.delenv("LONGVT_JUDGE_CACHE", raising=False)
    assert JudgeConfig.from_env().cache_path == str(tmp_path / "root" / "judge_cache.sqlite")
    assert testing_cache.cache_root() == tmp_path / "root" and (tmp_path / "root").is_dir()
