"""Secrets come from the environment first, else from a .env file where the user launched."""

from __future__ import annotations

from unlearn.envfile import read_env_file, secret


def test_env_file_syntax(tmp_path):
    path = tmp_path / ".env"
    path.write_text('# comment\nexport HF_TOKEN="hf_abc"\nOPENXLAB_AK = \'ak 1\'\nnot a pair\nEMPTY=\n')
    assert read_env_file(path) == {"HF_TOKEN": "hf_abc", "OPENXLAB_AK": "ak 1", "EMPTY": ""}


def test_environment_wins_over_the_file(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("HF_TOKEN=from_file\nOPENXLAB_SK=sk_file\n")
    monkeypatch.setenv("UNLEARN_ROOT", str(tmp_path))
    monkeypatch.setenv("HF_TOKEN", "from_env")
    monkeypatch.delenv("OPENXLAB_SK", raising=False)
    assert secret("HF_TOKEN") == "from_env"
    assert secret("OPENXLAB_SK") == "sk_file"


def test_missing_secret_is_none(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARN_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OPENXLAB_AK", raising=False)
    assert secret("OPENXLAB_AK") is None
