"""A real Dovecot IMAP server on loopback for tests, started from a config of its own."""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOVECOT = Path("/usr/sbin/dovecot")
USER = "bounces"
PASSWORD = "secret"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

_LIST_LINE = re.compile(rb'\((?P<flags>[^)]*)\) (?P<delim>NIL|"(?:[^"\\]|\\.)*") (?P<name>.*)')
_FETCH_LINE = re.compile(rb"(?P<seq>\d+) \(.*FLAGS \((?P<flags>[^)]*)\)")


def _quote(name: str) -> str:
    """A mailbox name as an IMAP quoted string (imaplib sends names as they are)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(raw: bytes) -> str:
    """The mailbox name in one LIST answer, quoted or atom."""
    text = raw.decode()
    if text.startswith('"') and text.endswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def _check(result: tuple[str, list[Any]]) -> list[Any]:
    """The data of an imaplib answer, or an error when the server did not say OK."""
    typ, data = result
    if typ != "OK":
        raise imaplib.IMAP4.error(f"IMAP answered {typ}: {data!r}")
    return data


def _names(conn: imaplib.IMAP4) -> list[str]:
    """The folder names LIST gives on an open connection."""
    names = []
    for item in _check(conn.list()):
        if isinstance(item, tuple):  # a name sent as a literal: {n}\r\n<name>
            names.append(item[1].decode())
        elif match := _LIST_LINE.match(item):
            names.append(_unquote(match["name"]))
    return names


@dataclass
class ImapServer:
    """A running Dovecot: where it listens, its one user, and where that user's mail lives."""

    host: str
    port: int
    user: str
    password: str
    maildir: Path
    log: Path

    @contextlib.contextmanager
    def connect(self) -> Iterator[imaplib.IMAP4]:
        """A logged-in imaplib connection, logged out afterwards."""
        conn = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            conn.login(self.user, self.password)
            yield conn
        finally:
            with contextlib.suppress(Exception):
                conn.logout()

    def folders(self) -> list[str]:
        """The names of every folder the user has (INBOX included), as the server lists them."""
        with self.connect() as conn:
            return _names(conn)

    def append(self, folder: str, data: bytes) -> None:
        """Stores one message in `folder` by IMAP APPEND, creating the folder if missing."""
        with self.connect() as conn:
            if folder.upper() != "INBOX" and folder not in _names(conn):
                _check(conn.create(_quote(folder)))
            _check(conn.append(_quote(folder), None, None, data))

    def count(self, folder: str) -> int:
        """How many messages `folder` holds."""
        with self.connect() as conn:
            return int(_check(conn.select(_quote(folder), readonly=True))[0])

    def flags(self, folder: str) -> list[set[str]]:
        """The flags of each message in `folder`, in sequence order (without the per-session
        `\\Recent`)."""
        with self.connect() as conn:
            total = int(_check(conn.select(_quote(folder), readonly=True))[0])
            if not total:
                return []
            found: dict[int, set[str]] = {}
            for item in _check(conn.fetch(f"1:{total}", "(FLAGS)")):
                line = item[0] if isinstance(item, tuple) else item
                match = _FETCH_LINE.match(line)
                if match:
                    flags = {f.decode() for f in match["flags"].split()} - {"\\Recent"}
                    found[int(match["seq"])] = flags
            return [found.get(seq, set()) for seq in range(1, total + 1)]


def _free_port() -> int:
    """A loopback TCP port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, or a note that there is none."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no {path.name})"


def _config(tmp: Path, run: Path, port: int, uid: int, gid: int) -> str:
    """A dovecot.conf (Dovecot 2.3 names) that reads nothing outside `tmp` and `run`."""
    # when run as root, Dovecot drops to these users for logins and internal services;
    # Debian's package creates both. Run unprivileged, everything runs as the caller.
    if os.geteuid() == 0:
        login_user, internal_user, auth_user = "dovenull", "dovecot", "root"
    else:
        login_user = internal_user = auth_user = pwd.getpwuid(os.geteuid()).pw_name
    return f"""\
base_dir = {run / "base"}
state_dir = {tmp / "state"}
log_path = {tmp / "dovecot.log"}
info_log_path = {tmp / "dovecot.log"}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {internal_user}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {tmp / "passwd"}
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={run / "home"}
}}
# the passwd-file sits in `tmp`, often below directories only root may enter
service auth {{
  user = {auth_user}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
"""


def _greets(port: int) -> bool:
    """Whether the port answers with an IMAP `* OK` greeting."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.settimeout(1)
            return sock.recv(256).startswith(b"* OK")
    except OSError:
        return False


def _signal_group(proc: subprocess.Popen[bytes], sig: int) -> None:
    """Sends `sig` to Dovecot's process group (the master and every process it started)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Ends Dovecot and its children together (a TERM to the master alone lingers a second
    while it reaps them), killing the group if it does not go."""
    _signal_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait(timeout=STOP_TIMEOUT)


def _mail_owner() -> tuple[int, int]:
    """The uid and gid the mail is kept as: Dovecot refuses root, so root's tests use
    `nobody`/`nogroup`; anyone else keeps it as themselves."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid()
    return pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid


@contextlib.contextmanager
def start_dovecot(tmp: Path) -> Iterator[ImapServer]:
    """Runs `dovecot -F` with a config, passwd-file and log in `tmp` (user `bounces`, password
    `secret`) on a free loopback port, and stops it on exit.

    The sockets and the maildir live in a short private directory under /tmp, removed on exit:
    socket paths must stay under 108 bytes, and the mail user (`nobody` when run as root) must
    be able to reach the maildir, which it cannot below pytest's root-only directories."""
    if not DOVECOT.exists():
        raise RuntimeError(
            f"{DOVECOT} is missing: the IMAP tests need Dovecot (apt-get install dovecot-imapd)"
        )
    tmp = Path(tmp).resolve()
    (tmp / "state").mkdir(parents=True, exist_ok=True)
    (tmp / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    uid, gid = _mail_owner()
    run = Path(tempfile.mkdtemp(prefix="dc-", dir="/tmp"))
    run.chmod(0o755)  # Dovecot wants base_dir world-readable; its login processes look in
    (run / "home").mkdir(mode=0o700)
    os.chown(run / "home", uid, gid)
    conf, log, out = tmp / "dovecot.conf", tmp / "dovecot.log", tmp / "dovecot.out"
    proc: subprocess.Popen[bytes] | None = None
    try:
        for attempt in range(3):
            port = _free_port()
            conf.write_text(_config(tmp, run, port, uid, gid))
            log.write_bytes(b"")
            with out.open("wb") as sink:
                proc = subprocess.Popen(
                    [str(DOVECOT), "-F", "-c", str(conf)],
                    stdin=subprocess.DEVNULL,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, ended as one
                )
            deadline = time.monotonic() + START_TIMEOUT
            while not (up := _greets(port)) and proc.poll() is None:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if up:
                break
            exited = proc.poll()
            _stop(proc)
            said = f"{_tail(out)}\n{_tail(log)}"
            if "Address already in use" in said and attempt < 2:
                continue  # another process took the port between picking and binding it
            why = (
                f"exited with status {exited}"
                if exited is not None
                else f"gave no IMAP greeting on port {port} within {START_TIMEOUT:g} s"
            )
            raise RuntimeError(
                f"dovecot {why}\n--- {out} ---\n{_tail(out)}\n--- {log} ---\n{_tail(log)}"
            )
        yield ImapServer("127.0.0.1", port, USER, PASSWORD, run / "home" / "Maildir", log)
    finally:
        if proc is not None:
            _stop(proc)
        shutil.rmtree(run, ignore_errors=True)
