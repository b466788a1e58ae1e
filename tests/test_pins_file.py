"""known_hosts-style pins files: parsing, enforcement, trust on first use, atomic writes."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys
import threading
import time

import pytest
import trustme

import securl
from _certs import self_signed
from _open_url import OpenURL
from _pins import V6Server, named, pin_of, recording_server, wait_for
from _servers import LocalServer, server_context
from securl.tls.pins import format_host, open_pins_file, parse_host, parse_pins

PIN_A = "sha256/" + "A" * 43 + "="
PIN_B = "sha256/" + "B" * 43 + "="


def url(server: object, host: str = "localhost") -> str:
    return f"https://{host}:{server.port}/"  # type: ignore[attr-defined]


def write(path: pathlib.Path, text: str) -> str:
    path.write_text(text)
    return str(path)


# --- format ---------------------------------------------------------------------------

def test_parse_comments_blank_lines_ports_and_several_pins_per_host() -> None:
    text = (
        "# devices in the lab\n"
        "\n"
        "device.lab  " + PIN_A + "   # the switch\n"
        "device.lab:443 " + PIN_B + "\n"
        "10.0.0.5:8443 " + PIN_A + " " + PIN_B + "\n"
        "[fd00::5]:8443 " + PIN_A + "\n"
        "fd00::6 " + PIN_B + "\n"
        "Upper.Example. " + PIN_A + "\n"
    )
    table = parse_pins(text, "pins.txt")
    assert table["device.lab", 443].pins == (PIN_A, PIN_B)
    assert table["device.lab", 443].lines == (3, 4)
    assert table["10.0.0.5", 8443].pins == (PIN_A, PIN_B)
    assert table["fd00::5", 8443].pins == (PIN_A,)
    assert table["fd00::6", 443].pins == (PIN_B,)
    assert table["upper.example", 443].pins == (PIN_A,)
    assert len(table) == 5


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("device.lab", "no pin"),
        ("device.lab sha1/abc", "not a pin"),
        ("device.lab sha256/abc", "not a pin"),
        ("device.lab:0 " + PIN_A, "bad port"),
        ("device.lab:99999 " + PIN_A, "bad port"),
        ("device.lab: " + PIN_A, "empty port"),
        ("[fd00::5:8443 " + PIN_A, "bracketed"),
        ("dev/ice " + PIN_A, "bad host"),
        ("[not-ip]:443 " + PIN_A, ""),
    ],
)
def test_malformed_line_fails_closed_naming_file_and_line(line: str, problem: str) -> None:
    text = f"# ok\nfine.lab {PIN_A}\n{line}\n"
    with pytest.raises(securl.ConfigurationError) as info:
        parse_pins(text, "/etc/pins.txt")
    assert "/etc/pins.txt:3" in str(info.value)
    assert problem in str(info.value)
    assert "host[:port] sha256/" in str(info.value)


@pytest.mark.parametrize(("host", "port"), [("device.lab", 443), ("device.lab", 8443),
                                            ("10.0.0.5", 443), ("fd00::5", 8443),
                                            ("fd00::5", 443)])
def test_format_host_round_trips_through_parse_host(host: str, port: int) -> None:
    assert parse_host(format_host(host, port)) == (host, port)


def test_session_with_missing_pins_file_fails_closed(tmp_path: pathlib.Path) -> None:
    with pytest.raises(securl.ConfigurationError, match="does not exist"):
        securl.Session(pins_file=tmp_path / "nope.txt")


def test_session_with_malformed_pins_file_fails_at_construction(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "pins.txt", f"ok.lab {PIN_A}\nbroken\n")
    with pytest.raises(securl.ConfigurationError, match=r"pins.txt:2"):
        securl.Session(pins_file=path)


def test_trust_on_first_use_needs_a_pins_file() -> None:
    with pytest.raises(securl.ConfigurationError, match="pins_file"):
        securl.Session(trust_on_first_use=True)


# --- enforcement ----------------------------------------------------------------------

def test_listed_host_with_matching_pin_passes_and_other_key_fails_without_request_bytes(
        ca: trustme.CA, ca_file: str, tmp_path: pathlib.Path) -> None:
    served = ca.issue_cert("localhost")
    with recording_server(served) as (server, rec):
        good = write(tmp_path / "good.txt", f"localhost:{server.port} {pin_of(served)}\n")
        with securl.Session(ca_certs=ca_file, pins_file=good) as s:
            assert s.get(url(server)).content == b"ok"
    other = pin_of(ca.issue_cert("localhost"))
    with recording_server(served) as (server, rec):
        bad = write(tmp_path / "bad.txt", f"# devices\nlocalhost:{server.port} {other}\n")
        with securl.Session(ca_certs=ca_file, pins_file=bad) as s:
            with pytest.raises(securl.PinMismatchError) as info:
                s.get(url(server))
        assert wait_for(lambda: len(rec.received) == 1) and rec.all_bytes == b""
    message = str(info.value)
    assert other in message and pin_of(served) in message  # old and new
    assert f"{bad}:2" in message
    assert f"securl pin https://localhost:{server.port}/ --add {bad}" in message
    assert f"localhost:{server.port} {pin_of(served)}" in message  # the line to write


def test_unlisted_host_is_only_chain_verified(ca_file: str, https_server: LocalServer,
                                              tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "pins.txt", f"elsewhere.lab {PIN_A}\n")
    with securl.Session(ca_certs=ca_file, pins_file=path) as s:
        assert s.get(https_server.url()).status == 200
    with securl.Session(pins_file=path) as s:  # twin: no CA, no pin -> chain still required
        with pytest.raises(securl.TLSVerificationError):
            s.get(https_server.url())


def test_file_pins_are_checked_on_top_of_chain_validation(other_ca: trustme.CA, ca_file: str,
                                                          tmp_path: pathlib.Path) -> None:
    served = other_ca.issue_cert("localhost")
    with recording_server(served) as (server, _):
        path = write(tmp_path / "pins.txt", f"localhost:{server.port} {pin_of(served)}\n")
        with securl.Session(ca_certs=ca_file, pins_file=path) as s:
            with pytest.raises(securl.TLSVerificationError) as info:
                s.get(url(server))
    assert info.value.reason_code == "untrusted-issuer"


def test_key_rotation_with_two_pins_listed(ca: trustme.CA, ca_file: str,
                                           tmp_path: pathlib.Path) -> None:
    old, new, stranger = (ca.issue_cert("localhost") for _ in range(3))
    path = tmp_path / "pins.txt"
    for cert, ok in ((old, True), (new, True), (stranger, False)):
        with recording_server(cert) as (server, _):
            path.write_text(f"localhost:{server.port} {pin_of(old)}\n"
                            f"localhost:{server.port} {pin_of(new)}  # rotation\n")
            with securl.Session(ca_certs=ca_file, pins_file=path) as s:
                if ok:
                    assert s.get(url(server)).status == 200
                else:
                    with pytest.raises(securl.PinMismatchError) as info:
                        s.get(url(server))
                    assert pin_of(old) in str(info.value) and pin_of(new) in str(info.value)


def test_pinned_without_pins_takes_them_from_the_pins_file(tmp_path: pathlib.Path) -> None:
    device, impostor = self_signed("localhost"), self_signed("localhost")
    for cert, ok in ((device, True), (impostor, False)):
        with recording_server(cert) as (server, rec):
            path = write(tmp_path / "pins.txt", f"localhost:{server.port} {pin_of(device)}\n")
            with securl.Session(pins_file=path) as s:
                token = securl.pinned(reason="lab device")
                if ok:
                    assert s.get(url(server), tls=token).status == 200
                else:
                    with pytest.raises(securl.PinMismatchError):
                        s.get(url(server), tls=token)
                    assert wait_for(lambda: len(rec.received) == 1)
                    assert rec.all_bytes == b""


def test_pinned_without_pins_for_an_unlisted_host_is_refused(tmp_path: pathlib.Path) -> None:
    path = write(tmp_path / "pins.txt", f"other.lab {PIN_A}\n")
    with securl.Session(pins_file=path) as s, pytest.raises(securl.ConfigurationError,
                                                            match="no pin is recorded"):
        s.get("https://localhost:1/", tls=securl.pinned(reason="device"))


def test_edit_to_pins_file_applies_to_next_request_without_reusing_pooled_connection(
        ca_file: str, https_server: LocalServer, tmp_path: pathlib.Path) -> None:
    """A connection pooled before the host had a pin must not carry a later request."""
    path = tmp_path / "pins.txt"
    path.write_text("# empty for now\n")
    with securl.Session(ca_certs=ca_file, pins_file=path) as s:
        assert s.get(https_server.url()).status == 200
        assert s.get(https_server.url()).status == 200
        assert https_server.accepts == 1  # kept alive and reused
        path.write_text(f"localhost:{https_server.port} {PIN_A}\n")  # operator pins another key
        with pytest.raises(securl.PinMismatchError):
            s.get(https_server.url())
    assert len(https_server.seen) == 2
    assert https_server.accepts == 2


def test_malformed_edit_fails_the_next_request_closed(ca_file: str, https_server: LocalServer,
                                                      tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pins.txt"
    path.write_text("")
    with securl.Session(ca_certs=ca_file, pins_file=path) as s:
        assert s.get(https_server.url()).status == 200
        path.write_text("localhost sha256/oops\n")
        with pytest.raises(securl.ConfigurationError, match=r"pins.txt:1"):
            s.get(https_server.url())


# --- trust on first use ---------------------------------------------------------------

def test_tofu_records_first_contact_then_enforces_it(ca: trustme.CA, ca_file: str,
                                                     tmp_path: pathlib.Path,
                                                     events: list) -> None:
    path = tmp_path / "known_pins"
    first, swapped = ca.issue_cert("localhost"), ca.issue_cert("localhost")
    with LocalServer(server_context(first)) as server:
        with securl.Session(ca_certs=ca_file, pins_file=path, trust_on_first_use=True) as s:
            assert s.get(server.url()).status == 200
        text = path.read_text()
        assert f"localhost:{server.port} {pin_of(first)}" in text
        (recorded,) = named(events, "securl.pin_recorded")
        assert recorded.fields["pin"] == pin_of(first) and recorded.fields["chain_verified"]
        with securl.Session(ca_certs=ca_file, pins_file=path, trust_on_first_use=True) as s:
            assert s.get(server.url()).status == 200  # same key: passes
        assert path.read_text() == text  # nothing new written
        port = server.port
    # Same port, same CA (chain-valid!), another key: refused.
    with recording_server(swapped) as (server2, rec):
        path.write_text(text.replace(f":{port} ", f":{server2.port} "))
        with securl.Session(ca_certs=ca_file, pins_file=path, trust_on_first_use=True) as s:
            with pytest.raises(securl.PinMismatchError) as info:
                s.get(url(server2))
        assert wait_for(lambda: len(rec.received) == 1) and rec.all_bytes == b""
    message = str(info.value)
    assert pin_of(first) in message and pin_of(swapped) in message
    assert "recorded:" in message and "server:" in message


def test_tofu_for_self_signed_devices_with_pinned(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "devices.pins"
    device, swapped = self_signed("localhost"), self_signed("localhost")
    token = securl.pinned(reason="lab devices, SSH-style")
    with LocalServer(server_context(device)) as server:
        with securl.Session(pins_file=path, trust_on_first_use=True) as s:
            assert s.get(server.url(), tls=token).status == 200
            assert s.get(server.url(), tls=token).status == 200
        assert path.read_text().count(pin_of(device)) == 1
        port = server.port
    with recording_server(swapped) as (server2, rec):
        path.write_text(path.read_text().replace(f":{port} ", f":{server2.port} "))
        with securl.Session(pins_file=path, trust_on_first_use=True) as s:
            with pytest.raises(securl.PinMismatchError) as info:
                s.get(url(server2), tls=token)
        assert wait_for(lambda: len(rec.received) == 1) and rec.all_bytes == b""
    assert pin_of(device) in str(info.value) and pin_of(swapped) in str(info.value)


def test_tofu_does_not_record_self_signed_keys_without_pinned(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pins"
    with LocalServer(server_context(self_signed("localhost"))) as server, securl.Session(
            pins_file=path, trust_on_first_use=True) as s:
        with pytest.raises(securl.TLSVerificationError):
            s.get(server.url())
    assert not path.exists() or path.read_text() == ""


def test_tofu_never_records_for_unverified_calls(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pins"
    with LocalServer(server_context(self_signed("localhost"))) as server, securl.Session(
            pins_file=path, trust_on_first_use=True) as s:
        with pytest.warns(securl.InsecureRequestWarning):
            assert s.get(server.url(), tls=securl.unverified(reason="test")).status == 200
    assert not path.exists()


def test_tofu_first_contact_of_pinned_call_is_refused_when_policy_forbids_unverified(
        tmp_path: pathlib.Path, set_policy: object, ca_file: str, https_server: LocalServer
) -> None:
    set_policy("allow_unverified = false\n")  # type: ignore[operator]
    path = tmp_path / "pins"
    with LocalServer(server_context(self_signed("localhost"))) as server, securl.Session(
            pins_file=path, trust_on_first_use=True) as s:
        with pytest.raises(securl.PolicyError, match="no pin yet"):
            s.get(server.url(), tls=securl.pinned(reason="device"))
        assert server.accepts == 0
    # twin: TOFU after a *verified* handshake is not an opt-out, so policy allows it
    with securl.Session(ca_certs=ca_file, pins_file=path, trust_on_first_use=True) as s:
        assert s.get(https_server.url()).status == 200
    assert f"localhost:{https_server.port} " in path.read_text()


def test_tofu_racing_first_contacts_with_different_keys_record_one_and_refuse_the_other(
        ca: trustme.CA, ca_file: str, tmp_path: pathlib.Path) -> None:
    """Concurrent first contacts: exactly one key is recorded, and every connection that saw
    the other key is refused, whichever thread wins the race."""
    path = tmp_path / "pins"
    key_a, key_b = ca.issue_cert("localhost"), ca.issue_cert("localhost")
    results: list[object] = []
    barrier = threading.Barrier(6, timeout=10)

    with recording_server(key_a, key_b) as (server, rec):
        def worker() -> None:
            try:
                with securl.Session(ca_certs=ca_file, pins_file=path,
                                    trust_on_first_use=True) as s:
                    barrier.wait()
                    results.append(s.get(url(server), timeout=10).status)
            except BaseException as exc:  # collected and asserted below
                results.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert wait_for(lambda: len(rec.received) == 6)
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert len(lines) == 1
    winner = pin_of(key_a) if pin_of(key_a) in lines[0] else pin_of(key_b)
    assert winner in lines[0]
    ok = [r for r in results if r == 200]
    refused = [r for r in results if isinstance(r, securl.PinMismatchError)]
    assert len(ok) == 3 and len(refused) == 3, results
    assert sum(1 for data in rec.received if data) == 3  # refused ones sent no bytes


def test_tofu_write_failure_refuses_the_connection(ca_file: str, https_server: LocalServer,
                                                   tmp_path: pathlib.Path) -> None:
    """If the pin cannot be recorded, the first contact is refused (fail closed)."""
    path = tmp_path / "pins"
    path.symlink_to(tmp_path / "no-such-dir" / "pins")  # reads as empty, cannot be written
    with securl.Session(ca_certs=ca_file, pins_file=path, trust_on_first_use=True) as s:
        with pytest.raises(securl.ConfigurationError, match="cannot write"):
            s.get(https_server.url())
    assert https_server.seen == []


# --- writing --------------------------------------------------------------------------

def test_atomic_write_keeps_mode_comments_and_leaves_no_temp_files(
        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pins.txt"
    path.write_text(f"# my devices\nold.lab {PIN_A}")  # no trailing newline
    path.chmod(0o640)
    pins_file = open_pins_file(path)
    assert pins_file.add("new.lab", 8443, PIN_B) is None
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    lines = path.read_text().splitlines()
    assert lines[:2] == ["# my devices", f"old.lab {PIN_A}"]
    assert lines[2].startswith(f"new.lab:8443 {PIN_B}")
    # No temporary file is left; the (empty) lock file that serialises writers stays.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pins.txt", "pins.txt.lock"]
    assert pins_file.add("new.lab", 8443, PIN_B) is not None  # already there: no change
    assert len(path.read_text().splitlines()) == 3


def test_write_replaces_the_file_rather_than_rewriting_it_in_place(
        tmp_path: pathlib.Path) -> None:
    """A reader holding the old file keeps a complete old version (rename, not truncate)."""
    path = tmp_path / "pins.txt"
    path.write_text(f"old.lab {PIN_A}\n")
    with open(path) as reader:
        open_pins_file(path).add("new.lab", 443, PIN_B)
        assert reader.read() == f"old.lab {PIN_A}\n"
    assert "new.lab" in path.read_text()


_WRITER = """
import sys, time
from securl.tls.pins import open_pins_file
path, tag, count, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
pins_file = open_pins_file(path)
while time.time() < start:
    time.sleep(0.001)
if count == 0:  # first contact with one host, each process with its own key
    existing = pins_file.record_first_use("dev.lab", 443, sys.argv[5])
    print("recorded" if existing is None else "existing " + " ".join(existing.pins))
for i in range(count):
    pins_file.add(f"host-{tag}-{i}.lab", 443, sys.argv[5])
"""


def _run_writers(path: pathlib.Path, pins: list[str], count: int) -> list[str]:
    """Start one real process per pin, all writing ``path`` from the same instant."""
    src = str(pathlib.Path(securl.__file__).parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [src, *filter(None, [os.environ.get("PYTHONPATH")])])}
    start = time.time() + 1.5  # every child imported and waiting by then
    procs = [subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path), str(n), str(count), str(start), pin],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for n, pin in enumerate(pins)]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outputs.append(out.strip())
    return outputs


def test_processes_writing_one_pins_file_at_once_lose_no_line(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pins"
    _run_writers(path, [PIN_A] * 6, count=25)
    hosts = {line.split()[0] for line in path.read_text().splitlines() if line.strip()}
    assert hosts == {f"host-{n}-{i}.lab" for n in range(6) for i in range(25)}
    assert open_pins_file(path).lookup("host-5-24.lab", 443) is not None  # still parses


def test_processes_racing_a_first_contact_record_exactly_one_key(
        tmp_path: pathlib.Path) -> None:
    path = tmp_path / "pins"
    pins = [PIN_A, PIN_B, PIN_A, PIN_B, PIN_A, PIN_B]
    outputs = _run_writers(path, pins, count=0)
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    assert len(lines) == 1 and outputs.count("recorded") == 1, outputs
    winner = lines[0].split()[1]
    assert all(out == f"existing {winner}" for out in outputs if out != "recorded")


def test_write_waits_for_another_holder_of_the_lock_then_fails_closed(
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import fcntl

    from securl.tls import pins as _pinning

    path = tmp_path / "pins"
    monkeypatch.setattr(_pinning, "LOCK_TIMEOUT", 0.3)
    with open(f"{path}.lock", "w") as holder:  # another open file: its flock conflicts
        fcntl.flock(holder.fileno(), fcntl.LOCK_EX)
        start = time.monotonic()
        with pytest.raises(securl.ConfigurationError, match=r"held the lock .*fail closed"):
            open_pins_file(path).add("dev.lab", 443, PIN_A)
        assert 0.3 <= time.monotonic() - start < 5
    assert not path.exists()
    assert open_pins_file(path).add("dev.lab", 443, PIN_A) is None  # released: it writes


# --- admin policy pins_file -----------------------------------------------------------

def test_policy_pins_file_is_enforced_for_every_session(open_url: OpenURL, ca: trustme.CA,
                                                         tmp_path: pathlib.Path,
                                                         set_policy: object) -> None:
    """Rule: the admin policy's ``pins_file`` binds every front-end (Session and the urlopen
    drop-in). A chain-valid server whose key is not the pin listed for its host:port fails
    with PinMismatchError (reason_code "pin-mismatch") before any HTTP byte is sent; with the
    right pin listed the request goes through."""
    served = ca.issue_cert("localhost")
    admin = tmp_path / "admin.pins"
    with recording_server(served) as (server, rec):  # twin: the admin's pin matches
        write(admin, f"localhost:{server.port} {pin_of(served)}\n")
        set_policy(f'pins_file = "{admin}"\n')  # type: ignore[operator]
        assert open_url(url(server)) == b"ok"
        assert wait_for(lambda: len(rec.received) == 1)
        assert rec.all_bytes.startswith(b"GET / HTTP/1.1\r\n")
    with recording_server(served) as (server, rec):
        write(admin, f"localhost:{server.port} {PIN_A}\n")
        with pytest.raises(securl.PinMismatchError) as info:
            open_url(url(server))
        assert wait_for(lambda: len(rec.received) == 1) and rec.all_bytes == b""
        assert rec.handshakes == 1  # it got as far as the key, and no further
    assert info.value.reason_code == "pin-mismatch"
    assert "admin policy pins file" in str(info.value)
    assert "administrator" in str(info.value)


def test_policy_pins_are_required_in_addition_to_session_pins(
        ca: trustme.CA, ca_file: str, tmp_path: pathlib.Path, set_policy: object) -> None:
    served = ca.issue_cert("localhost")
    with recording_server(served) as (server, _):
        admin = write(tmp_path / "admin.pins", f"localhost:{server.port} {PIN_A}\n")
        mine = write(tmp_path / "mine.pins", f"localhost:{server.port} {pin_of(served)}\n")
        set_policy(f'pins_file = "{admin}"\n')  # type: ignore[operator]
        with securl.Session(ca_certs=ca_file, pins_file=mine) as s:
            with pytest.raises(securl.PinMismatchError, match="admin"):
                s.get(url(server))


def test_tofu_never_writes_to_the_policy_pins_file(ca_file: str, https_server: LocalServer,
                                                   tmp_path: pathlib.Path,
                                                   set_policy: object) -> None:
    admin = write(tmp_path / "admin.pins", f"elsewhere.lab {PIN_A}\n")
    set_policy(f'pins_file = "{admin}"\n')  # type: ignore[operator]
    mine = tmp_path / "mine.pins"
    with securl.Session(ca_certs=ca_file, pins_file=mine, trust_on_first_use=True) as s:
        assert s.get(https_server.url()).status == 200
    assert pathlib.Path(admin).read_text() == f"elsewhere.lab {PIN_A}\n"
    assert f"localhost:{https_server.port}" in mine.read_text()


def test_missing_policy_pins_file_fails_https_requests_closed(https_server: LocalServer,
                                                              ca_file: str,
                                                              tmp_path: pathlib.Path,
                                                              set_policy: object) -> None:
    set_policy(f'pins_file = "{tmp_path / "gone.pins"}"\n')  # type: ignore[operator]
    with securl.Session(ca_certs=ca_file) as s:
        with pytest.raises(securl.ConfigurationError, match="admin policy pins file"):
            s.get(https_server.url())
    assert https_server.accepts == 0


def test_ipv6_host_entries_in_brackets_are_enforced(tmp_path: pathlib.Path) -> None:
    device = self_signed("localhost")  # SAN has 127.0.0.1, not ::1
    with V6Server(server_context(device)) as server:
        path = write(tmp_path / "pins", f"[::1]:{server.port} {PIN_A}\n")
        with securl.Session(pins_file=path) as s:
            with pytest.raises(securl.PinMismatchError) as info:
                s.get(f"https://[::1]:{server.port}/",
                      tls=securl.pinned(reason="v6", check_hostname=False))
        assert server.seen == []
        assert f"[::1]:{server.port} {pin_of(device)}" in str(info.value)
        write(tmp_path / "pins", f"[::1]:{server.port} {pin_of(device)}\n")
        with securl.Session(pins_file=path) as s:
            assert s.get(f"https://[::1]:{server.port}/",
                         tls=securl.pinned(reason="v6", check_hostname=False)).status == 200


def test_pins_file_path_expands_the_home_directory(tmp_path: pathlib.Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "pins").write_text(f"x.lab {PIN_A}\n")
    assert open_pins_file("~/pins").lookup("x.lab", 443).pins == (PIN_A,)  # type: ignore[union-attr]


@pytest.mark.parametrize("call", ["securl.get", "urlopen"])
def test_admin_pins_file_binds_securl_get_and_urlopen_alike(
        call: str, ca: trustme.CA, ca_file: str, tmp_path: pathlib.Path, set_policy: object,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Rule: the module function ``securl.get`` and the drop-in ``urlopen`` make the same trust
    decision (``securl.tls.decision``): a wrong admin pin for the host is a PinMismatchError
    (reason_code "pin-mismatch"), and the server receives no HTTP byte. (The drop-in used to
    ignore the admin pins file and return 200.)"""
    import securl.urllib.request as request

    monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # both trust the test CA, as an admin would
    served = ca.issue_cert("localhost")
    with recording_server(served) as (server, rec):
        admin = write(tmp_path / "admin.pins", f"localhost:{server.port} {PIN_A}\n")
        set_policy(f'pins_file = "{admin}"\n')  # type: ignore[operator]
        try:
            with pytest.raises(securl.PinMismatchError) as info:
                if call == "securl.get":
                    securl.get(url(server), timeout=5)
                else:
                    request.urlopen(url(server), timeout=5)
        finally:
            request.urlcleanup()
        assert wait_for(lambda: len(rec.received) == 1) and rec.all_bytes == b""
        assert rec.handshakes == 1
    assert info.value.reason_code == "pin-mismatch"
