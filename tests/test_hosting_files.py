"""The hosting files (Dockerfile, .dockerignore, .devcontainer/devcontainer.json), read as text.

No Docker and no network: the Dockerfile's instructions are parsed, its install steps are run
by ``sh`` with ``pip`` and ``python`` replaced by stubs that write down what they were asked,
and the dev container's server command is expanded by ``sh`` the same way.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEVCONTAINER = ROOT / ".devcontainer" / "devcontainer.json"
REQUIREMENTS = ROOT / "requirements.txt"

needs_sh = pytest.mark.skipif(shutil.which("sh") is None, reason="no sh on this machine")


# --- reading the files ------------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per Dockerfile instruction, continuation lines joined."""
    found: list[tuple[str, str]] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.strip().startswith("#"):
            continue  # a comment, also between the lines of one instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        if whole:
            keyword, _, rest = whole.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return found


def _all(keyword: str) -> list[str]:
    return [rest for key, rest in _instructions() if key == keyword]


def _one(keyword: str) -> str:
    [rest] = _all(keyword)
    return rest


def _words(rest: str) -> list[str]:
    """An instruction's arguments: the JSON (exec) form or shell words."""
    return json.loads(rest) if rest.startswith("[") else shlex.split(rest)


def _env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in _all("ENV"):
        for word in shlex.split(rest):
            key, _, value = word.partition("=")
            env[key] = value
    return env


def _copy_sources() -> list[str]:
    sources: list[str] = []
    for rest in _all("COPY"):
        words = [w for w in _words(rest) if not w.startswith("--")]
        sources += words[:-1]
    return sources


def _requirements() -> list[str]:
    return [line.strip() for line in REQUIREMENTS.read_text().splitlines() if line.strip()]


def _torch_pins() -> list[str]:
    pins = [line for line in _requirements() if re.match(r"(torch|torchvision)==", line)]
    assert len(pins) == 2, pins
    return pins


def _cpu_index() -> str:
    [line] = [line for line in _requirements() if line.startswith("--extra-index-url")]
    return line.split()[1]


def _ignore_patterns() -> list[tuple[bool, str]]:
    """(is an exception ``!``, pattern) per line of .dockerignore, as Docker cleans them."""
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = os.path.normpath(line.lstrip("!").strip()).lstrip("/")
        patterns.append((negated, pattern))
    return patterns


def _matches(path: str, pattern: str) -> bool:
    # fnmatch's `*` also crosses `/` where Docker's does not: this errs towards "excluded",
    # the safe side for a test that nothing needed is excluded.
    if pattern.startswith("**/"):
        parts = path.split("/")
        return any(fnmatch.fnmatchcase("/".join(parts[i:]), pattern[3:]) for i in range(len(parts)))
    return fnmatch.fnmatchcase(path, pattern)


def _ignored(path: str) -> bool:
    """Whether .dockerignore keeps ``path`` out of the build context (the last match decides;
    a pattern matching a folder takes everything under it)."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for negated, pattern in _ignore_patterns():
        if any(_matches(prefix, pattern) for prefix in prefixes):
            ignored = not negated
    return ignored


def _strip_jsonc(text: str) -> str:
    """JSON with comments (devcontainer.json) as JSON: // and /* */ outside strings removed."""
    out: list[str] = []
    i, in_string = 0, False
    while i < len(text):
        char = text[i]
        if in_string:
            out.append(char)
            if char == "\\":
                out.append(text[i + 1])
                i += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif text.startswith("//", i):
            i = text.find("\n", i)
            if i < 0:
                break
            continue
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
            continue
        else:
            out.append(char)
        i += 1
    return "".join(out)


def _devcontainer() -> dict:
    return json.loads(_strip_jsonc(DEVCONTAINER.read_text()))


def _run_with_stubs(script: str, tmp_path: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run ``script`` in sh in ``tmp_path`` with stub ``pip`` and ``python`` first on PATH.

    Each stub writes its arguments to the log, and for ``-r FILE`` the file's lines.
    """
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    log = tmp_path / "log.txt"
    log.write_text("")
    for name in ("pip", "python"):
        stub = stubs / name
        stub.write_text(
            "#!/bin/sh\n"
            f'echo "{name} $*" >> "$STUB_LOG"\n'
            "while [ $# -gt 0 ]; do\n"
            '  if [ "$1" = -r ]; then sed "s/^/  /" "$2" >> "$STUB_LOG"; fi\n'
            "  shift\n"
            "done\n"
        )
        stub.chmod(0o755)
    done = subprocess.run(
        ["sh", "-c", script],
        cwd=tmp_path,
        env={
            **os.environ,
            **env,
            "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}",
            "STUB_LOG": str(log),
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.returncode, log.read_text() + done.stderr


# --- the Dockerfile ---------------------------------------------------------------------------


def test_every_copy_source_exists() -> None:
    sources = _copy_sources()
    assert sources
    for source in sources:
        assert list(ROOT.glob(source)), f"COPY {source}: not in the repository"


def test_the_image_holds_every_file_the_dashboard_runs_and_dockerignore_keeps_none_out() -> None:
    needed = [ROOT / "app.py", ROOT / "requirements.txt", ROOT / ".streamlit" / "config.toml"]
    for folder in ("pages", "googlenet_core"):
        needed += [
            p for p in (ROOT / folder).rglob("*") if p.is_file() and "__pycache__" not in p.parts
        ]
    assert ROOT / "googlenet_core" / "data" / "files" / "optdigits.tra.gz" in needed
    sources = _copy_sources()
    for path in needed:
        name = path.relative_to(ROOT).as_posix()
        assert any(name == s or name.startswith(s.rstrip("/") + "/") for s in sources), (
            f"{name} is not copied into the image"
        )
        assert not _ignored(name), f"{name} is excluded by .dockerignore"


def test_dockerignore_keeps_the_environment_runs_and_secrets_out() -> None:
    for name in (
        ".venv/bin/python",
        ".git/HEAD",
        "runs/mini-16px-1/best.pt",
        "test-output/screenshots/a.png",
        ".data-cache/fashionmnist/x.gz",
        "googlenet_core/__pycache__/x.cpython-311.pyc",
        ".streamlit/secrets.toml",
        "my_net.pt",
    ):
        assert _ignored(name), f"{name} would be sent to the Docker daemon"


def test_the_docker_ignore_matcher_itself() -> None:
    assert _matches("a/b/__pycache__", "**/__pycache__")
    assert _matches("__pycache__", "**/__pycache__")
    assert not _matches("pages/train.py", "**/*.pt")
    assert not _matches("docs2", "docs")


def test_the_torch_pins_are_read_from_requirements_txt() -> None:
    text = DOCKERFILE.read_text()
    # Any pin written out in the Dockerfile must be requirements.txt's.
    for written in re.findall(r"\b(?:torch|torchvision)==[\w.+]+", text):
        assert written in _torch_pins(), written
    # The pins it installs first are the lines its grep takes from requirements.txt.
    [pattern] = re.findall(r"grep -E '([^']+)' requirements\.txt", text)
    assert [line for line in _requirements() if re.search(pattern, line)] == _torch_pins()
    # The CPU build comes from requirements.txt's CPU index; the rest without that line.
    assert f"--extra-index-url {_cpu_index()}" in text
    assert "grep -v -e '^--extra-index-url' requirements.txt" in text
    assert _one("ARG") == "TORCH=cpu"


@needs_sh
@pytest.mark.parametrize("kind", ["cpu", "cuda"])
def test_the_install_steps_run_in_sh(kind: str, tmp_path: Path) -> None:
    shutil.copy(REQUIREMENTS, tmp_path / "requirements.txt")
    steps = [rest for rest in _all("RUN") if "requirements.txt" in rest]
    assert len(steps) == 2, steps
    script = " && ".join(f"( {s} )" for s in steps).replace("/tmp/", f"{tmp_path}/")
    code, log = _run_with_stubs(script, tmp_path, {"TORCH": kind})
    assert code == 0, log
    lines = log.splitlines()
    calls = [i for i, line in enumerate(lines) if line.startswith("pip ")]
    assert len(calls) == 2, log
    torch_call, rest_call = calls
    # First torch and torchvision alone, at requirements.txt's pins ...
    assert lines[torch_call + 1 : rest_call] == [f"  {pin}" for pin in _torch_pins()], log
    if kind == "cpu":
        assert f"--extra-index-url {_cpu_index()}" in lines[torch_call], log
    else:
        assert "index" not in lines[torch_call], log
    # ... then all of requirements.txt but its CPU index line, from the default index.
    wanted = [f"  {line}" for line in _requirements() if not line.startswith("--extra-index")]
    assert lines[rest_call + 1 : rest_call + 1 + len(wanted)] == wanted, log
    assert "index" not in lines[rest_call], log
    assert any(x.startswith("python -c") and "torch.version.cuda" in x for x in lines), log
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.txt", "requirements.txt", "stubs"]


@needs_sh
def test_an_unknown_torch_kind_stops_the_build(tmp_path: Path) -> None:
    shutil.copy(REQUIREMENTS, tmp_path / "requirements.txt")
    [step] = [rest for rest in _all("RUN") if "grep -E" in rest]
    code, log = _run_with_stubs(step.replace("/tmp/", f"{tmp_path}/"), tmp_path, {"TORCH": "rocm"})
    assert code != 0
    assert "TORCH must be cpu or cuda" in log


def test_the_server_command_port_health_check_user_and_volume_agree() -> None:
    cmd = _words(_one("CMD"))
    assert cmd[:2] == ["streamlit", "run"]
    assert (ROOT / cmd[2]).is_file()
    flags = dict(zip(cmd[3::2], cmd[4::2], strict=True))
    assert flags["--server.address"] == "0.0.0.0"
    assert flags["--server.headless"] == "true"
    port = flags["--server.port"]
    assert _one("EXPOSE") == port

    health = _one("HEALTHCHECK")
    code = _words(health[health.index("CMD ") + 4 :])
    assert code[:2] == ["python", "-c"]
    compile(code[2], "<healthcheck>", "exec")
    assert f"http://127.0.0.1:{port}/_stcore/health" in code[2]

    user = _one("USER").split(":")[0]
    assert user not in ("root", "0")
    env = _env()
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PIP_NO_CACHE_DIR"] == "1"
    # The run store is the volume, by the variable the package reads.
    assert _words(_one("VOLUME")) == [env["GOOGLENET_RUNS_DIR"]]
    assert env["GOOGLENET_DATA_DIR"].startswith(env["HOME"] + "/")
    assert _one("FROM").startswith("python:3.11-slim-bookworm")


# --- the dev container ------------------------------------------------------------------------


def test_the_jsonc_reader_keeps_slashes_inside_strings() -> None:
    text = '{\n  // a comment\n  "url": "https://example.org/a", /* b */ "n": 1 // c\n}'
    assert json.loads(_strip_jsonc(text)) == {"url": "https://example.org/a", "n": 1}


def test_the_devcontainer_installs_requirements_and_forwards_the_server_port() -> None:
    config = _devcontainer()
    assert config["image"].startswith("mcr.microsoft.com/devcontainers/python:1-3.11")
    assert "-r requirements.txt" in config["updateContentCommand"]
    for name in config["customizations"]["codespaces"]["openFiles"]:
        assert (ROOT / name).is_file(), name
    server = config["postAttachCommand"]["server"]
    [port] = re.findall(r"--server\.port (\d+)", server)
    assert int(port) in config["forwardPorts"]
    assert port in config["portsAttributes"]
    assert "enableXsrfProtection" not in server  # stays on, from .streamlit/config.toml
    assert "enableCORS" not in server
    assert re.findall(r"streamlit run (\S+)", server) == ["app.py"]
    assert (ROOT / "app.py").is_file()


@needs_sh
def test_the_devcontainer_server_command_in_and_out_of_a_codespace(tmp_path: Path) -> None:
    server = _devcontainer()["postAttachCommand"]["server"]
    [port] = re.findall(r"--server\.port (\d+)", server)

    code, log = _run_with_stubs(server, tmp_path, {"CODESPACE_NAME": ""})
    assert code == 0, log
    assert "corsAllowedOrigins" not in log
    assert "--server.xsrfCookieSameSite none" in log

    codespace = {
        "CODESPACE_NAME": "ideal-space-x1",
        "GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN": "app.github.dev",
    }
    code, log = _run_with_stubs(server, tmp_path, codespace)
    assert code == 0, log
    words = log.split()
    origin = words[words.index("--server.corsAllowedOrigins") + 1]
    assert origin == f"https://ideal-space-x1-{port}.app.github.dev"
