"""A fork server for the documentation tests: ``spsync`` commands without the import cost.

The docs tests run some seventy ``spsync`` commands as separate processes, as a user
would. Most of each one's CPU time is Python importing spsync, pydantic, httpx and click
(about 0.3 s), not the command. This server imports them once; each command then runs in a
fresh process forked from it, with the caller's argv, environment, working directory and
standard streams (passed as file descriptors, so a terminal stays a terminal), and its exit
status sent back. The command's code path is the CLI's own (``spsync.cli.run``); nothing
carries over from one command to the next, since the server itself never runs any.

    server = ForkServer.start(tmp_dir)          # a process of its own
    write_exe(bin / "spsync", server.shim(["--sandbox"]))
    ...
    server.stop()
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

#: what each command needs, imported once by the server
PRELOAD = (
    "spsync.cli",
    "spsync.manifest",
    "spsync.planning",
    "spsync.planner",
    "spsync.apply",
    "spsync.render",
    "spsync.state",
    "spsync.store",
    "spsync.api.client",
    "spsync.sandbox.embedded",
    "spsync.sandbox.app",
)

#: the client: stdlib only, started with -S (no site-packages) so that it costs ~20 ms
SHIM = """\
#!{python} -S
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect({sock!r})
msg = json.dumps({{"argv": {prefix!r} + sys.argv[1:], "env": dict(os.environ),
                  "cwd": os.getcwd()}}).encode()
socket.send_fds(s, [len(msg).to_bytes(8, "big") + msg], [0, 1, 2])
status = b""
while len(status) < 4:
    chunk = s.recv(4 - len(status))
    if not chunk:
        sys.exit(1)
    status += chunk
sys.exit(int.from_bytes(status, "big"))
"""


def _recv_all(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _run_command(request: dict[str, object], fds: list[int]) -> int:
    """In the forked process: become the command, run it, return its exit status."""
    for target, fd in zip((0, 1, 2), fds, strict=True):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(str(request["cwd"]))
    env = request["env"]
    assert isinstance(env, dict)
    os.environ.clear()
    os.environ.update(env)
    sys.stdin = open(0, encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = open(1, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
    sys.stderr = open(2, "w", encoding="utf-8", closefd=False, buffering=1)  # noqa: SIM115
    argv = request["argv"]
    assert isinstance(argv, list)
    sys.argv = [str(a) for a in argv]
    from spsync.cli import run

    code = 0
    try:
        run()
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    return code


def _handle(conn: socket.socket) -> None:
    """In a child of the server: fork the command, wait for it, report its status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # the descriptors come with the first bytes: read those with recv_fds, the rest after
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 3)
    while len(data) < 8:
        data += _recv_all(conn, 8 - len(data))
    size = int.from_bytes(data[:8], "big")
    msg = data[8:]
    if len(msg) < size:
        msg += _recv_all(conn, size - len(msg))
    request = json.loads(msg)
    pid = os.fork()
    if pid == 0:
        conn.close()
        os._exit(_run_command(request, fds))
    for fd in fds:
        os.close(fd)
    _pid, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code  # killed by a signal: as a shell reports it
    conn.sendall(code.to_bytes(4, "big"))


def serve(path: str) -> None:
    """The server's main loop (``python -m support.docs_forkserver SOCKET``)."""
    for name in PRELOAD:
        __import__(name)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers exit on their own: reap them
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(64)
    print("ready", flush=True)
    while True:
        conn, _ = server.accept()
        if os.fork() == 0:
            server.close()
            try:
                _handle(conn)
            finally:
                os._exit(0)
        conn.close()


class ForkServer:
    """A running fork server and the shims that use it."""

    def __init__(self, proc: subprocess.Popen[str], sock: str) -> None:
        self.proc = proc
        self.sock = sock

    @classmethod
    def start(cls, directory: Path) -> ForkServer:
        sock = str(directory / "spsync.sock")
        here = str(Path(__file__).resolve().parents[1])  # tests/, the parent of support
        env = {**os.environ, "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", "")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "support.docs_forkserver", sock],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
        return cls(proc, sock)

    def shim(self, prefix: list[str]) -> str:
        """The text of an ``spsync`` executable that runs ``spsync PREFIX... ARGS...``."""
        return SHIM.format(python=sys.executable, sock=self.sock, prefix=["spsync", *prefix])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


if __name__ == "__main__":
    serve(sys.argv[1])
