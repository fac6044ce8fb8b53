"""Where a start listens: `--lan` / `--no-lan` win over the Settings switch for that start, `--host` names the address
outright, and without any of them the switch decides (loopback when it was never switched on)."""

from __future__ import annotations

from blazz import cli, lan
from blazz.config import Settings
from tests.unit.blazz_process import started


def _listens(data_dir, *flags: str) -> tuple[bool, str]:
    args = cli.build_parser().parse_args(["serve", *flags, "--data-dir", str(data_dir)])
    settings = Settings(data_dir=data_dir)
    cli.apply_network(args, settings)
    return settings.lan, settings.host


def test_a_start_flag_wins_over_the_switch_and_the_switch_decides_without_one(tmp_path):
    assert _listens(tmp_path) == (False, "127.0.0.1"), "never switched on: this computer only"
    assert _listens(tmp_path, "--lan") == (True, "0.0.0.0")
    lan.remember(tmp_path, True)
    assert _listens(tmp_path) == (True, "0.0.0.0")
    assert _listens(tmp_path, "--no-lan") == (False, "127.0.0.1")
    assert _listens(tmp_path, "--host", "127.0.0.1") == (False, "127.0.0.1")
    assert _listens(tmp_path, "--host", "0.0.0.0", "--no-lan") == (True, "0.0.0.0"), "--host says it outright"
    lan.remember(tmp_path, False)
    assert _listens(tmp_path) == (False, "127.0.0.1")
    assert lan.remembered(tmp_path) is False, "a flag never changes the saved switch"


def test_serve_no_lan_keeps_to_this_computer_although_the_switch_is_on(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    lan.remember(data, True)
    with started("serve", "--port", "0", "--no-lan", "--data-dir", str(data)) as app:
        assert "On your network" not in app.output() and "No network address found" not in app.output()
        assert app.url.startswith("http://127.0.0.1:")
        assert app.stop() == 0
    assert lan.remembered(data) is True
