"""What a client process loads: each package a script-driven client imports is memory it
keeps for its whole life (a downloader's peak RSS is mostly code), so the server side,
the terminal UI and general-purpose HTTP stacks stay out of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from minitorrent.driver import free_port

# Packages a client run from a script must not load (the tracker's, the interactive
# terminal's, and an HTTP stack with its imports that cost ~10 MiB).
NOT_IN_A_CLIENT = {
    "httpx",
    "httpcore",
    "h11",
    "anyio",
    "rich",
    "click",
    "pygments",
    "prompt_toolkit",
    "fastapi",
    "starlette",
    "uvicorn",
    "sqlalchemy",
    "pydantic",
    "jinja2",
}


def test_a_script_driven_client_loads_no_server_terminal_or_http_library(tmp_path: Path) -> None:
    info = tmp_path / "tracker_info.txt"
    info.write_text(f"127.0.0.1:{free_port()}\n")
    script = tmp_path / "commands.txt"
    script.write_text("echo ready\n")
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "importtime",
            "-m",
            "minitorrent",
            "client",
            f"127.0.0.1:{free_port()}",
            str(info),
            "--state-dir",
            str(tmp_path / "state"),
            "--script",
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "ready\n"), done.stderr
    imported = {
        line.rpartition("|")[2].strip().split(".")[0]
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "minitorrent" in imported  # the import log was read
    assert imported & NOT_IN_A_CLIENT == set()
