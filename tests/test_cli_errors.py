"""Every ``hub`` command answers bad input with one clear message and exit code 2, never a
traceback. The command tree is enumerated, so a command added later is covered without
touching this file: its parameters get bad values by their kind (a broken configuration
directory, a garbage file, an unknown OrganId, an unreachable hub)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from hub.cli import main
from hub.demo.workdir import Workdir
from tests.api.conftest import start_hub
from tests.conftest import PROJECT_ROOT

UNKNOWN_AGENCY = "999.99.99.X99"
#: commands whose answer about a bad *package* is a verdict (exit 1): their bad input here is a
#: file that does not exist
VERDICTS = {("validate",), ("verify",), ("pdf", "verify")}


def _leaves(cmd: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _leaves(sub, (*path, name))
    else:
        yield path


def _command(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = main
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    return cmd


COMMANDS = list(_leaves(main))


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("bad")
    config = root / "config"
    config.mkdir()
    # a value of the wrong type and a misspelt section: refused before anything is built
    (config / "hub.toml").write_text('[delivery]\nmax_attempts = "four"\n[delivry]\nx = 1\n')
    (config / "agencies.toml").write_text("")
    garbage = root / "garbage.txt"
    garbage.write_text("this is not a key, a certificate, a package, a CSV or a TOML file {\n")
    return {"config": config, "garbage": garbage, "root": root}


def _value(param: click.Parameter, bad: dict[str, Path], verdict: bool = False) -> str:
    """A bad value for ``param``, chosen by what it is."""
    name = param.name or ""
    kind = param.type
    if verdict and isinstance(kind, click.Path) and kind.exists:
        return str(bad["root"] / "no-such-file.edxml")
    if isinstance(kind, click.Choice):
        return str(kind.choices[0])
    if isinstance(kind, click.Path):
        if name in ("config_dir", "from_dir", "to_dir"):
            return str(bad["config"])
        if not kind.file_okay:  # a directory to create or read: give an existing file
            return str(bad["garbage"])
        if kind.exists or name in ("config_file", "token_file"):
            return str(bad["garbage"])
        return str(bad["root"] / f"out-{name}")  # an output: fine, the input is bad
    if isinstance(kind, click.types.IntParamType):
        return "1"
    if name in ("url",):
        return "http://127.0.0.1:9"  # the discard port: nothing answers
    if name == "organ_id":
        return UNKNOWN_AGENCY
    if name == "name":
        return "Not-An-Identifier"
    return "x"


def _args(path: tuple[str, ...], bad: dict[str, Path]) -> list[str]:
    args = list(path)
    cmd = _command(path)
    for param in cmd.params:
        if isinstance(param, click.Argument):
            args.append(_value(param, bad, path in VERDICTS))
        elif isinstance(param, click.Option) and not param.is_flag and not param.count:
            if param.required or (param.name or "").endswith("dir") or param.name in ("url",):
                args += [param.opts[0], _value(param, bad)]
            if param.name == "port" and path == ("demo",):
                args += ["--port", "1"]  # a port no user may bind: refused at once
    return args


def _no_traceback(result: Result) -> None:
    assert "Traceback" not in result.output, result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)


@pytest.mark.parametrize("path", COMMANDS, ids=[" ".join(p) for p in COMMANDS])
def test_bad_input_is_one_message_and_exit_2(path: tuple[str, ...], bad: dict[str, Path]) -> None:
    args = _args(path, bad)
    result = CliRunner().invoke(main, args, input="pw\npw\n")
    _no_traceback(result)
    assert result.exit_code == 2, f"hub {' '.join(args)} → {result.exit_code}\n{result.output}"
    assert "error" in result.output.lower(), result.output


def test_the_tree_is_enumerated() -> None:
    # the enumeration reaches nested groups and commands registered from other modules
    assert {("agency", "disable"), ("config", "check"), ("report",), ("keys", "rotate")} <= set(
        COMMANDS
    )


def _run(*args: str) -> Result:
    result = CliRunner().invoke(main, list(args))
    _no_traceback(result)
    return result


def test_issue_13_cases(workdir: Workdir, tmp_path: Path) -> None:
    """The cases reported in issue 13, one by one."""
    done = _run(
        "agency", "disable", UNKNOWN_AGENCY, "--reason", "x", "--config", str(workdir.config_dir)
    )
    assert done.exit_code == 2 and UNKNOWN_AGENCY in done.output

    done = _run("serve", "--config", str(PROJECT_ROOT / "config"))  # the shipped template
    assert done.exit_code == 2
    assert "/etc/hub/receipt/key.pem does not exist" in done.output
    assert "hub pki init" in done.output and "hub demo" in done.output

    hub_toml = workdir.config_dir / "hub.toml"
    hub_toml.write_text(hub_toml.read_text().replace("max_attempts = 4", 'max_attempts = "four"'))
    done = _run("agency", "list", "--config", str(workdir.config_dir))
    assert done.exit_code == 2
    assert "[delivery] max_attempts: expected an integer, got 'four'" in done.output

    connector = tmp_path / "connector.toml"
    connector.write_text(
        'organ_id = "000.00.00.H29"\nhub_url = "http://127.0.0.1:9"\ntoken_file = "t"\n'
        'key_file = "k"\ncert_file = "c"\ntrust_anchors = []\n[adapter]\nname = "no_such_thing"\n'
    )
    done = _run("connector", "--config", str(connector), "--once")
    assert (
        done.exit_code == 2 and "no_such_thing" in done.output and "no such adapter" in done.output
    )


def test_signing_what_is_not_a_package(workdir: Workdir, tmp_path: Path) -> None:
    agency = workdir.agencies["000.00.00.G22"]
    text = tmp_path / "notes.txt"
    text.write_text("not XML")
    done = _run("sign", str(text), "--key", str(agency.key_path), "--cert", str(agency.cert_path))
    assert done.exit_code == 2 and "not well-formed" in done.output


def test_verdicts_exit_1(workdir: Workdir, tmp_path: Path) -> None:
    """verify and validate: a package that is refused or invalid is a verdict, exit 1."""
    package = tmp_path / "p.edxml"
    package.write_bytes(b"garbage<edXMLEnvelope/>")
    assert _run("validate", str(package)).exit_code == 1
    assert _run("verify", str(package), "--config", str(workdir.config_dir)).exit_code == 1


async def test_a_hub_that_refuses_the_caller(workdir: Workdir, tmp_path: Path) -> None:
    """A wrong token: the hub's refusal as one line, exit 2 (inbox, trace, send alike)."""
    token = tmp_path / "token"
    token.write_text("not-a-token\n")
    async with start_hub(workdir) as hub:
        for args in (
            ("inbox", "--url", hub.url, "--token-file", str(token)),
            ("trace", "nope", "--url", hub.url, "--token-file", str(token)),
        ):
            done = await asyncio.to_thread(_run, *args)
            assert done.exit_code == 2, done.output
            assert "auth." in done.output, done.output
