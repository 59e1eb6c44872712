"""Harness of the fault-tolerance tests: a ZEO server and application servers in real subprocesses."""
from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from compte_citoyen.testing import base_settings, free_port, installed_plugins, write_ini

BIN = Path(sys.executable).parent


def wait_for_port(port: int, timeout: float = 30.0, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def request(port: int, method: str, path: str, timeout: float = 60.0,
            cookies: dict | None = None) -> tuple[int, dict | str]:
    """One HTTP request on a new connection; (status, JSON body or text). Status 0: no answer. ``cookies``: a
    browser's cookies, sent and updated from the answer."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    headers = {"Host": "localhost", "Content-Length": "0"} if method == "POST" else {"Host": "localhost"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in cookies.items())
    try:
        conn.request(method, path, headers=headers)
        response = conn.getresponse()
        body = response.read().decode("utf-8", "replace")
        if cookies is not None:
            for header in response.headers.get_all("Set-Cookie") or ():
                name, _, value = header.split(";", 1)[0].partition("=")
                cookies[name.strip()] = value.strip()
        try:
            return response.status, json.loads(body)
        except ValueError:
            return response.status, body
    except (OSError, http.client.HTTPException) as exc:
        return 0, repr(exc)
    finally:
        conn.close()


@dataclass
class Process:
    """A subprocess with its log file; stopped (or killed) at the end of the test."""
    argv: list[str]
    log: Path
    port: int
    env: dict = field(default_factory=dict)
    popen: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> "Process":
        handle = open(self.log, "ab")
        self.popen = subprocess.Popen(self.argv, stdout=handle, stderr=subprocess.STDOUT,
                                      env={**os.environ, **self.env}, start_new_session=True)
        handle.close()
        try:
            wait_for_port(self.port, timeout, self.popen)
        except Exception:
            self.stop()
            raise RuntimeError(f"{self.argv[0]} did not start:\n{self.tail()}") from None
        return self

    def tail(self, size: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-size:]
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no cleanup at all, as when the kernel or an operator kills the process."""
        if self.popen is not None and self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class ZEOServer(Process):
    """``runzeo`` from the venv serving one FileStorage with blobs."""
    data_fs: Path = None
    blob_dir: Path = None

    @property
    def uri(self) -> str:
        """A worker's storage as in production (etc/zeo-client.conf): records sent in one go, shared blobs, no
        server-sync (``database.catch_up``)."""
        conf = self.log.parent / "zeo-client.conf"
        conf.write_text(f"""%import compte_citoyen.zeo
<zodb main>
  cache-size 5000
  pool-size 4
  <batchingclientstorage>
    server 127.0.0.1:{self.port}
    blob-dir {self.blob_dir}
    shared-blob-dir true
    cache-size 16MB
    server-sync false
    wait-timeout 60
  </batchingclientstorage>
</zodb>
""")
        return f"zconfig://{conf}"


def make_zeo(tmp_path: Path) -> ZEOServer:
    port = free_port()
    data = tmp_path / "zeo"
    data.mkdir(exist_ok=True)
    conf = data / "zeo.conf"
    conf.write_text(f"""<zeo>
  address 127.0.0.1:{port}
</zeo>
<filestorage 1>
  path {data}/Data.fs
  blob-dir {data}/blobs
</filestorage>
""")
    return ZEOServer([str(BIN / "runzeo"), "-C", str(conf)], data / "zeo.log", port,
                     data_fs=data / "Data.fs", blob_dir=data / "blobs")


@pytest.fixture
def zeo_server(tmp_path):
    server = make_zeo(tmp_path).start()
    yield server
    server.stop()


def app_settings(tmp_path: Path, uri: str, **extra) -> dict:
    settings = base_settings(tmp_path, **{"zodbconn.uri": uri, "retry.attempts": "5",
                                         "compte_citoyen.evolve_on_startup": "false"})
    plugins = settings["compte_citoyen.plugins"].split()
    settings["compte_citoyen.plugins"] = "\n".join(plugins + installed_plugins(["fault_test"]))
    settings.update(extra)
    return settings


def init_database(tmp_path: Path, settings: dict) -> None:
    """``compte-citoyen INI init``: the root and every evolve step, before any server starts."""
    ini = write_ini(tmp_path / "init.ini", settings)
    result = subprocess.run([str(BIN / "compte-citoyen"), ini, "init"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]


def make_app(tmp_path: Path, settings: dict, name: str) -> Process:
    port = free_port()
    ini = write_ini(tmp_path / f"{name}.ini", settings, port=port)
    return Process([str(BIN / "pserve"), ini], tmp_path / f"{name}.log", port)


@pytest.fixture
def start_app(tmp_path):
    """``start_app(settings, name)`` starts ``pserve`` on a generated ini; every process is stopped at the end."""
    started: list[Process] = []

    def start(settings: dict, name: str) -> Process:
        process = make_app(tmp_path, settings, name).start()
        started.append(process)
        status, body = request(process.port, "GET", "/sante")
        assert status == 200, body
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(autouse=True)
def fault_plugin_installed():
    if not installed_plugins(["fault_test"]):
        pytest.fail("the test plugin tests/plugins/compte_citoyen_fault_plugin is not installed (run make install)")


@pytest.fixture
def harness():
    """This module's helpers (test modules cannot import a conftest under --import-mode=importlib)."""
    return sys.modules[__name__]
