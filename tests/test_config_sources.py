"""Configuration from flags, PORCH_* variables and [tool.porch] in pyproject.toml."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest

from porch.config import Config, load_config, read_pyproject
from porch.errors import ConfigError
from tests.server.test_lifecycle import PorchProcess, get
from tests.test_cli import APP, assert_one_line_error, run_porch


def project(folder: Path, table: str) -> str:
    (folder / "pyproject.toml").write_text(f'[project]\nname = "site"\n\n[tool.porch]\n{table}\n')
    return str(folder)


# precedence ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "env", "expected", "source"),
    [
        (None, {}, 1111, "pyproject"),
        (None, {"PORCH_PORT": "2222"}, 2222, "env"),
        (3333, {"PORCH_PORT": "2222"}, 3333, "flag"),
        (3333, {}, 3333, "flag"),
    ],
)
def test_flag_beats_env_beats_pyproject(tmp_path, flag, env, expected, source):
    folder = project(tmp_path, "port = 1111\nhost = '0.0.0.0'")
    config, sources = load_config({"port": flag}, app_dir=folder, environ=env)
    assert config.port == expected
    assert sources["port"] == source
    assert config.host == "0.0.0.0"
    assert sources["host"] == "pyproject"
    assert config.backlog == 2048
    assert sources["backlog"] == "default"
    assert Config.load(app_dir=folder, environ=env, port=flag) == config


def test_without_pyproject_or_table_the_defaults_stand(tmp_path):
    assert read_pyproject(str(tmp_path)) == {}
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n[tool.other]\na = 1\n')
    config, sources = load_config({}, app_dir=str(tmp_path), environ={})
    assert config == Config()
    assert set(sources.values()) == {"default"}


def test_from_env_reads_no_file(tmp_path, monkeypatch):
    project(tmp_path, "port = 1111")
    monkeypatch.chdir(tmp_path)
    assert Config.from_env({}).port == 8000
    assert Config.load(environ={}).port == 1111  # the current folder by default


def test_both_spellings_and_toml_types(tmp_path):
    folder = project(
        tmp_path,
        "limit-body-size = 1024\nlimit_header_count = 50\ntimeout-head = 3\n"
        "proxy-headers = true\nforwarded-allow-ips = '10.0.0.0/8'\nlog-level = 'debug'",
    )
    config = Config.load(app_dir=folder, environ={})
    assert config.limit_body_size == 1024
    assert config.limit_header_count == 50
    assert config.timeout_head == 3.0
    assert isinstance(config.timeout_head, float)
    assert config.proxy_headers is True
    assert config.forwarded_allow_ips == "10.0.0.0/8"
    assert config.log_level == "debug"


# errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("prot = 8000", "unknown key 'prot'; did you mean 'port'?"),
        ("limit-body = 1", "unknown key 'limit-body'; did you mean 'limit_body_size'?"),
        ("xyzzy = 1", "unknown key 'xyzzy'"),
        ("[tool.porch.database]\nurl = 'x'", "unknown key 'database'"),
        ("port = 'abc'", "[tool.porch] port: expected an integer, got 'abc'"),
        ("port = '8000'", "[tool.porch] port: expected an integer, got '8000'"),
        ("port = true", "[tool.porch] port: expected an integer, got True"),
        ("port = 80.5", "[tool.porch] port: expected an integer, got 80.5"),
        ("access-log = 'yes'", "[tool.porch] access-log: expected true or false, got 'yes'"),
        ("timeout_head = 'soon'", "timeout_head: expected a number, got 'soon'"),
        ("host = 1", "[tool.porch] host: expected a string, got 1"),
        ("host = ['a']", "[tool.porch] host: expected a string, got ['a']"),
        ("port = 1\nport-x = 2", "unknown key 'port-x'"),
        ("limit_body_size = 1\nlimit-body-size = 2", "limit_body_size is given twice"),
        ("port = 70000", "--port (PORCH_PORT) must be between 0 and 65535; got 70000"),
        ("log-level = 'loud'", "must be one of critical, error, warning, info, debug"),
        ("forwarded-allow-ips = 'nope'", "'nope' is not an IP address or network"),
        ("port = ", "is not valid TOML"),
    ],
)
def test_bad_table_is_a_config_error(tmp_path, table, message):
    folder = project(tmp_path, table)
    with pytest.raises(ConfigError) as error:
        Config.load(app_dir=folder, environ={})
    assert message in str(error.value)


def test_tool_porch_must_be_a_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool]\nporch = 1\n")
    with pytest.raises(ConfigError, match=r"\[tool.porch\] in .* must be a table"):
        Config.load(app_dir=str(tmp_path), environ={})


def test_a_wrong_value_in_the_file_is_no_error_when_a_flag_replaces_it(tmp_path):
    """Types are checked for every key; a flag only replaces a valid value."""
    folder = project(tmp_path, "port = 'abc'")
    with pytest.raises(ConfigError, match="expected an integer"):
        Config.load(app_dir=folder, environ={}, port=1)


# the command line ----------------------------------------------------------------------------


def test_porch_config_prints_values_and_sources(tmp_path):
    folder = project(tmp_path, "port = 1111\ntimeout-head = 3\nssl-keyfile-password = 'hunter2'")
    result = run_porch(
        "config",
        "--app-dir",
        folder,
        "--host",
        "0.0.0.0",
        "--ssl-certfile",
        "c.pem",
        env={"PORCH_BACKLOG": "99", "PORCH_PORT": "2222"},
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split(" = ")[0]: line.split(" = ", 1)[1] for line in result.stdout.splitlines()}
    assert len(lines) == len(Config.__dataclass_fields__)
    assert lines["host"].split() == ['"0.0.0.0"', "#", "flag"]
    assert lines["port"].split() == ["2222", "#", "env"]
    assert lines["backlog"].split() == ["99", "#", "env"]
    assert lines["timeout_head"].split() == ["3.0", "#", "pyproject"]
    assert lines["access_log"].split() == ["true", "#", "default"]
    assert lines["uds"].split() == ["(none)", "#", "default"]
    assert lines["ssl_keyfile_password"].split() == ['"********"', "#", "pyproject"]
    assert "hunter2" not in result.stdout


def test_porch_config_json(tmp_path):
    folder = project(tmp_path, "proxy-headers = true")
    result = run_porch("config", "--json", "--app-dir", folder, "--port", "0")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["port"] == {"value": 0, "source": "flag"}
    assert document["proxy_headers"] == {"value": True, "source": "pyproject"}
    assert document["uds"] == {"value": None, "source": "default"}
    assert list(document) == list(Config.__dataclass_fields__)


def test_porch_config_and_serve_report_a_bad_table_in_one_line(tmp_path):
    folder = project(tmp_path, "prot = 1")
    for args in (["config", "--app-dir", folder], ["serve", APP, "--app-dir", folder]):
        result = run_porch(*args)
        assert_one_line_error(result, "unknown key 'prot'; did you mean 'port'?")


def test_serve_takes_its_settings_from_the_app_dir_pyproject(tmp_path):
    folder = project(tmp_path, "port = 0\naccess-log = false\nserver-header = false")
    with PorchProcess("serve", APP, "--app-dir", folder) as porch:
        port = porch.port()
        assert port != 8000  # the default would have been 8000
        status, headers, _ = get(port, "/")
        assert status == 200
        assert "server" not in headers
        porch.signal(signal.SIGTERM)
        assert porch.finish() == 0, porch.transcript()
        assert porch.lines["stdout"] == []  # no access log
