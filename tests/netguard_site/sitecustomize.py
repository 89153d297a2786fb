"""Network guard: refuse any connection that would leave the machine (standard library only).

This file is both:

* the ``sitecustomize`` of Python subprocesses started by the tests: ``tests.netguard.guard_env()`` puts this
  directory first on ``PYTHONPATH`` and sets ``ZOO_NETGUARD=1``, and Python imports ``sitecustomize`` at
  start-up, so the guard is installed before the child runs any code;
* the core of the pytest plugin ``tests/netguard.py``, which imports it as ``tests.netguard_site.sitecustomize``
  (under that name nothing is installed on import).

What is patched: ``socket.socket.connect``, ``connect_ex`` and ``sendto`` (every TCP/UDP client, including
httpx/httpcore, urllib, http.client, asyncio and ssl, ends up there), ``socket.create_connection`` (for a
clearer message), and the name resolvers ``socket.getaddrinfo`` / ``gethostbyname`` / ``gethostbyname_ex``
for names other than localhost (a DNS query is itself network traffic).

Allowed: loopback addresses (127.0.0.0/8, ::1, IPv4-mapped loopback), the unspecified address (0.0.0.0 / ::,
which the kernel routes to the local host), the names localhost / *.localhost / ip6-localhost, AF_UNIX and
every family other than AF_INET/AF_INET6.

A blocked call raises ``NetworkAccessBlocked``, a ``ConnectionRefusedError``: the code under test fails at
once (no timeout) and takes the same path it takes on a machine without network (urllib raises URLError,
httpx ConnectError, with this message naming the address inside). Because such code may well swallow the
error, every blocked call is also recorded: in memory, and when ``ZOO_NETGUARD_LOG`` names a file, as one line
appended to it, so the pytest plugin (tests/netguard.py) can fail the test anyway.

Limits, honestly: only Python processes that run ``site`` are guarded (not ``python -S``/``-I``, not curl, git
or other non-Python programs), and C extensions that open sockets without going through the ``socket`` module
(e.g. a Rust or C++ HTTP stack) bypass it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import threading

ENV_ENABLE = "ZOO_NETGUARD"
ENV_LOG = "ZOO_NETGUARD_LOG"
LOCAL_HOSTNAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_GUARDED_FAMILIES = (socket.AF_INET, socket.AF_INET6)
_STATE_ATTR = "_zoo_netguard_originals"  # kept on the socket module: one install per process, whatever imports us


class NetworkAccessBlocked(ConnectionRefusedError):
    """Raised when code under test tries to reach a non-loopback address."""


_violations: list[str] = []
_violations_lock = threading.Lock()


def is_local_host(host: object) -> bool:
    """Whether ``host`` (a name or an IP literal, str or bytes) designates this machine."""
    if host is None or host in ("", b""):
        return True  # getaddrinfo(None, port) is a local bind lookup
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    name = host.strip("[]").lower()
    if name in LOCAL_HOSTNAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False  # a name other than localhost
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or address.is_unspecified or bool(mapped and mapped.is_loopback)


def _record_and_raise(what: str, target: str) -> None:
    message = f"netguard: blocked {what} to {target}: tests must not reach non-loopback addresses"
    with _violations_lock:
        _violations.append(message)
    log_path = os.environ.get(ENV_LOG)
    if log_path:
        try:
            with open(log_path, "a", encoding="utf-8") as log:
                log.write(f"[pid {os.getpid()}] {message}\n")
        except OSError:
            pass  # the exception below still tells the story
    raise NetworkAccessBlocked(message)


def _check_address(family: int, address: object, what: str) -> None:
    if family not in _GUARDED_FAMILIES or not isinstance(address, tuple) or not address:
        return
    if not is_local_host(address[0]):
        port = address[1] if len(address) > 1 else "?"
        _record_and_raise(what, f"{address[0]}:{port}")


def _check_name(host: object, what: str) -> None:
    if not is_local_host(host) and not _is_ip_literal(host):
        _record_and_raise(what, repr(host))


def _is_ip_literal(host: object) -> bool:
    # Resolving an IP literal sends nothing on the network; connecting to it is checked separately.
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    try:
        ipaddress.ip_address(str(host).strip("[]").split("%", 1)[0])
        return True
    except ValueError:
        return False


def take_violations() -> list[str]:
    """Return and forget the violations recorded in this process."""
    with _violations_lock:
        taken = list(_violations)
        _violations.clear()
    return taken


def is_installed() -> bool:
    return hasattr(socket, _STATE_ATTR)


def install() -> None:
    """Patch the socket module (idempotent, process-wide)."""
    if is_installed():
        return
    originals = {
        "connect": socket.socket.connect,
        "connect_ex": socket.socket.connect_ex,
        "sendto": socket.socket.sendto,
        "create_connection": socket.create_connection,
        "getaddrinfo": socket.getaddrinfo,
        "gethostbyname": socket.gethostbyname,
        "gethostbyname_ex": socket.gethostbyname_ex,
    }
    setattr(socket, _STATE_ATTR, originals)

    def connect(self: socket.socket, address: object) -> None:
        _check_address(self.family, address, "connect")
        return originals["connect"](self, address)

    def connect_ex(self: socket.socket, address: object) -> int:
        _check_address(self.family, address, "connect_ex")
        return originals["connect_ex"](self, address)

    def sendto(self: socket.socket, data: bytes, *args: object) -> int:
        _check_address(self.family, args[-1] if args else None, "sendto")
        return originals["sendto"](self, data, *args)

    def create_connection(address: tuple, *args: object, **kwargs: object) -> socket.socket:
        if not is_local_host(address[0]):
            _record_and_raise("create_connection", f"{address[0]}:{address[1]}")
        return originals["create_connection"](address, *args, **kwargs)

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> list:
        _check_name(host, "name resolution (getaddrinfo)")
        return originals["getaddrinfo"](host, *args, **kwargs)

    def gethostbyname(host: str) -> str:
        _check_name(host, "name resolution (gethostbyname)")
        return originals["gethostbyname"](host)

    def gethostbyname_ex(host: str) -> tuple:
        _check_name(host, "name resolution (gethostbyname_ex)")
        return originals["gethostbyname_ex"](host)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign]
    socket.create_connection = create_connection  # type: ignore[assignment]
    socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]
    socket.gethostbyname = gethostbyname  # type: ignore[assignment]
    socket.gethostbyname_ex = gethostbyname_ex  # type: ignore[assignment]


def uninstall() -> None:
    originals = getattr(socket, _STATE_ATTR, None)
    if originals is None:
        return
    for name in ("connect", "connect_ex", "sendto"):
        setattr(socket.socket, name, originals[name])
    for name in ("create_connection", "getaddrinfo", "gethostbyname", "gethostbyname_ex"):
        setattr(socket, name, originals[name])
    delattr(socket, _STATE_ATTR)


def _chain_next_sitecustomize() -> None:
    """Run the sitecustomize we shadow, if any (e.g. one installed by the distribution)."""
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    path = [p for p in sys.path if os.path.abspath(p or os.curdir) != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is None or spec.loader is None or os.path.abspath(spec.origin or "") == os.path.abspath(__file__):
        return
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)


if __name__ == "sitecustomize" and os.environ.get(ENV_ENABLE) == "1":
    install()
    _chain_next_sitecustomize()
