"""The network guard refuses non-loopback connections, in-process and in guarded Python subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading

import pytest

from tests import netguard
from tests.netguard import NetworkAccessBlocked, guard_env  # noqa: F401

# Never routed on the internet / a public address: with a working guard no packet is ever sent to either.
UNROUTABLE = "10.255.255.1"
PUBLIC = "93.184.216.34"
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def loopback_server():
    """A TCP server on 127.0.0.1 that answers b"pong" to any connection; yields its port."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"pong")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    listener.close()


def _expect_blocked(fn, address: str) -> None:
    with pytest.raises(NetworkAccessBlocked, match=address.replace(".", r"\.")):
        fn()
    # Consume what the attempt recorded, or the autouse fixture would (rightly) fail this test.
    assert any(address in v for v in netguard.take_violations())


def test_non_loopback_connections_are_refused_in_process():
    def raw_connect():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            sock.connect((UNROUTABLE, 80))

    def raw_connect_ex():
        with socket.socket() as sock:
            sock.settimeout(1)
            sock.connect_ex((PUBLIC, 443))

    def udp_sendto():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"x", (PUBLIC, 53))

    _expect_blocked(raw_connect, f"{UNROUTABLE}:80")
    _expect_blocked(raw_connect_ex, f"{PUBLIC}:443")
    _expect_blocked(lambda: socket.create_connection((PUBLIC, 80), timeout=1), f"{PUBLIC}:80")
    _expect_blocked(udp_sendto, f"{PUBLIC}:53")
    _expect_blocked(lambda: socket.getaddrinfo("huggingface.co", 443), "huggingface.co")


def test_http_clients_fail_as_offline_with_the_address_in_the_message():
    import urllib.error
    import urllib.request

    import httpx2  # what huggingface_hub uses

    # The same exception types as without network, so the code takes its real offline path...
    with pytest.raises(httpx2.ConnectError, match=f"netguard: blocked .* {PUBLIC}:80"):
        httpx2.get(f"http://{PUBLIC}/", timeout=1, trust_env=False)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with pytest.raises(urllib.error.URLError, match=f"netguard: blocked .* {PUBLIC}:443"):
        opener.open(f"https://{PUBLIC}/", timeout=1)
    # ...and the attempts are on record for the autouse fixture.
    assert len([v for v in netguard.take_violations() if PUBLIC in v]) == 2


def test_loopback_and_unix_sockets_still_work(loopback_server, tmp_path):
    for host in ("127.0.0.1", "localhost"):
        with socket.create_connection((host, loopback_server), timeout=5) as conn:
            assert conn.recv(4) == b"pong"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as server, socket.socket(socket.AF_UNIX) as client:
        server.bind(str(tmp_path / "s.sock"))
        server.listen()
        client.connect(str(tmp_path / "s.sock"))
    assert netguard.take_violations() == []


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("::ffff:127.0.0.1", True), ("localhost", True),
        ("LOCALHOST", True), ("app.localhost", True), ("0.0.0.0", True), (None, True), (b"127.0.0.1", True),
        (UNROUTABLE, False), (PUBLIC, False), ("::ffff:10.0.0.1", False), ("huggingface.co", False),
        ("localhost.example.com", False), ("2001:db8::1", False),
    ],
)
def test_is_local_host(host, local):
    assert netguard.is_local_host(host) is local


def _run_guarded(code: str, tmp_path, extra_pythonpath: str = "") -> tuple[subprocess.CompletedProcess, str]:
    log = str(tmp_path / "child-netguard.log")
    base = {**os.environ, "PYTHONPATH": extra_pythonpath} if extra_pythonpath else os.environ
    env = {**os.environ, **guard_env(log_path=log, base_env=base)}
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True, timeout=30
    )
    if not os.path.exists(log):
        return result, ""
    with open(log) as f:
        return result, f.read()


def test_guarded_subprocess_refuses_non_loopback_and_reports_it(tmp_path, loopback_server):
    result, log = _run_guarded(
        f"""
        import socket
        with socket.create_connection(("127.0.0.1", {loopback_server}), timeout=5) as conn:
            print("loopback", conn.recv(4).decode())
        try:
            socket.create_connection(("{PUBLIC}", 80), timeout=1)
        except Exception as exc:  # swallowed on purpose: the log must still show it
            print("blocked", type(exc).__name__, exc)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "loopback pong"
    assert lines[1].startswith("blocked NetworkAccessBlocked") and f"{PUBLIC}:80" in lines[1]
    assert f"{PUBLIC}:80" in log


def test_guard_env_keeps_pythonpath_and_chains_an_existing_sitecustomize(tmp_path):
    other = tmp_path / "other-site"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['OTHER_SITECUSTOMIZE_RAN'] = '1'\n")
    env = guard_env(base_env={"PYTHONPATH": str(other)})
    assert env["PYTHONPATH"].split(os.pathsep) == [netguard.SITE_DIR, str(other)]
    result, _ = _run_guarded(
        """
        import os, socket
        print(os.environ.get("OTHER_SITECUSTOMIZE_RAN"), hasattr(socket, "_zoo_netguard_originals"))
        """,
        tmp_path,
        extra_pythonpath=str(other),
    )
    assert result.stdout.split() == ["1", "True"], result.stderr


def test_swallowed_violations_fail_the_test(tmp_path):
    """A test that catches the guard's error, or whose subprocess does, is still reported."""
    test_file = tmp_path / "test_swallowing.py"
    test_file.write_text(textwrap.dedent(f"""
        import os, socket, subprocess, sys
        import pytest
        from tests.netguard import guard_env

        def test_in_process():
            try:
                socket.create_connection(("{UNROUTABLE}", 80), timeout=1)
            except Exception:
                pass

        def test_in_subprocess():
            code = "import socket, contextlib\\nwith contextlib.suppress(Exception):\\n"
            code += " socket.create_connection(('{PUBLIC}', 80), timeout=1)"
            subprocess.run([sys.executable, "-c", code], env={{**os.environ, **guard_env()}}, check=True)

        @pytest.mark.expect_blocked_network
        def test_marked_as_expecting_it():
            try:
                socket.create_connection(("{UNROUTABLE}", 81), timeout=1)
            except ConnectionRefusedError:
                pass

        def test_clean():
            pass
    """))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.netguard", "-p", "no:cacheprovider", "-q", str(test_file)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("ZOO_NETGUARD")},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "4 passed, 2 errors" in result.stdout, result.stdout
    assert f"{UNROUTABLE}:81" not in result.stdout
    assert f"blocked create_connection to {UNROUTABLE}:80" in result.stdout
    assert f"blocked create_connection to {PUBLIC}:80" in result.stdout
