"""UPLOAD_GENOME's parse in a helper process (issue 17): the same circuit, CIRCUITS entry and
refusals as the parse in process; a helper that dies is replaced, and the upload it was parsing is
parsed in process instead."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.procfs import stat_fields

from spikeforge.ipc.protocol import Err, ProtocolError
from spikeforge.ipc.testing import probe_circuit
from spikeforge.ipc.upload_parse import UploadParser, parse_upload, parsed_or_raise
from spikeforge.model.genome import dumps


@pytest.fixture
def parser() -> Iterator[UploadParser]:
    p = UploadParser()
    yield p
    p.close()


def test_the_helper_parses_as_the_process_does(parser: UploadParser) -> None:
    text = dumps(probe_circuit("helped"))
    circuit, info = parser.parse(text)
    here, here_info = parsed_or_raise(parse_upload(text))
    assert dumps(circuit) == dumps(here) and info == here_info
    assert parser.stats() == {"helper_starts": 1, "helper_warmed": False, "parsed_in_helper": 1, "parsed_in_process": 0}


def test_the_helper_refuses_as_the_process_does(parser: UploadParser) -> None:
    doc = json.loads(dumps(probe_circuit("bad")))
    doc["circuit"]["populations"][0]["size"] = -3
    many = json.loads(dumps(probe_circuit("many")))
    many["circuit"]["populations"] = [dict(many["circuit"]["populations"][0], name=f"p{i}") for i in range(70000)]
    many["circuit"]["projections"] = many["circuit"]["organs"] = []
    for text, code in ((json.dumps(doc), Err.GENOME), ("{not json", Err.GENOME), (json.dumps(many), Err.LIMIT)):
        with pytest.raises(ProtocolError) as helper:
            parser.parse(text)
        with pytest.raises(ProtocolError) as here:
            parsed_or_raise(parse_upload(text))
        assert helper.value.code == here.value.code == code
        assert helper.value.message == here.value.message and "UPLOAD_GENOME" in helper.value.message
    assert parser.stats()["parsed_in_process"] == 0


def test_a_helper_that_dies_is_replaced_and_nothing_is_lost(parser: UploadParser) -> None:
    text = dumps(probe_circuit("again"))
    parser.parse(text)
    pool = parser._pool
    assert pool is not None
    for pid in list(pool._processes):  # the helper dies between two uploads
        os.kill(pid, signal.SIGKILL)
    circuit, _ = parser.parse(text)  # this one falls back to the process, the next starts a helper
    assert circuit.name == "again" and parser.stats()["parsed_in_process"] == 1
    assert parser.parse(text)[0].name == "again"
    assert parser.stats()["helper_starts"] == 2


def test_a_closed_parser_parses_in_process() -> None:
    p = UploadParser()
    p.close()
    assert p.parse(dumps(probe_circuit("late")))[0].name == "late"
    assert p.stats() == {"helper_starts": 0, "helper_warmed": False, "parsed_in_helper": 0, "parsed_in_process": 1}


def test_a_warmed_helper_is_the_one_that_parses(parser: UploadParser) -> None:
    assert parser.warm()
    assert parser.parse(dumps(probe_circuit("after")))[0].name == "after"
    assert parser.stats() == {"helper_starts": 1, "helper_warmed": True, "parsed_in_helper": 1, "parsed_in_process": 0}


def test_serve_starts_its_parse_helper_before_any_upload(tmp_path: Path) -> None:
    # its start is ~1 s of CPU: with the first upload it stretched other clients' exchanges (issue 17)
    from spikeforge.ipc.client import Client
    from spikeforge.ipc.testing import running_server

    with running_server(tmp_path) as srv, Client.connect(srv.host, srv.port, token_file=srv.token_path) as c:
        deadline = time.monotonic() + 60.0
        while not (c.stats()["server"]["upload_parse"] or {}).get("helper_warmed") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert c.stats()["server"]["upload_parse"] == {"helper_starts": 1, "helper_warmed": True,
                                                       "parsed_in_helper": 0, "parsed_in_process": 0}
        c.upload_genome(dumps(probe_circuit("first")))
        assert c.stats()["server"]["upload_parse"]["parsed_in_helper"] == 1


def test_the_helper_yields_the_cpu_to_the_server(parser: UploadParser) -> None:
    # on two cores beside a flooder and a player, the scheduler should make the parse wait, not
    # another client's exchange (issue 17)
    from spikeforge.ipc.upload_parse import HELPER_NICENESS

    assert parser.warm()
    pool = parser._helper()
    assert pool is not None
    here = os.nice(0)
    assert pool.submit(os.nice, 0).result(timeout=30) == min(19, here + HELPER_NICENESS)


def test_a_parser_closed_while_it_warms_up_says_nothing_and_parses_in_process(caplog: pytest.LogCaptureFixture) -> None:
    import threading

    p = UploadParser()
    t = threading.Thread(target=p.warm)
    t.start()
    p.close()  # a server stopping right after it started
    t.join(timeout=60)
    assert not t.is_alive()
    assert not [r for r in caplog.records if "did not start" in r.getMessage()]
    assert p.parse(dumps(probe_circuit("late")))[0].name == "late"


def test_a_helper_that_cannot_start_for_lack_of_descriptors_means_parsing_in_process(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # under a connection flood at the fd limit, creating the pool's pipes fails with EMFILE: the
    # warm-up thread must not die with a traceback, and uploads still parse (issue 17)
    from spikeforge.ipc import upload_parse

    def no_fds(*args: object, **kwargs: object) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(upload_parse, "ProcessPoolExecutor", no_fds)
    p = UploadParser()
    assert p.warm() is False
    assert p.parse(dumps(probe_circuit("anyway")))[0].name == "anyway"
    assert p.stats()["parsed_in_process"] == 1
    p.close()


def _children_of(pid: int) -> dict[int, str]:
    """The processes whose parent is ``pid``, by pid, with their command lines (``/proc``)."""
    out = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat_fields(stat)[1])
            if ppid == pid:
                out[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):  # it ended while we looked
            continue
    return out


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        return stat_fields(Path(f"/proc/{pid}/stat"))[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_killed_server_leaves_no_helper_behind(tmp_path: Path) -> None:
    # an engine stops its server with SIGKILL (Godot's OS.kill, Unity's Process.Kill): no shutdown
    # runs, and the helper (with the resource tracker it keeps open) was left waiting forever, one
    # orphaned interpreter per play session (three were found after a CI run)
    from spikeforge.ipc.client import Client
    from spikeforge.ipc.testing import running_server

    with running_server(tmp_path) as srv:
        with Client.connect(srv.host, srv.port, token_file=srv.token_path) as c:
            deadline = time.monotonic() + 60.0
            while not (c.stats()["server"]["upload_parse"] or {}).get("helper_warmed"):
                assert time.monotonic() < deadline, "the helper did not start"
                time.sleep(0.1)
        kids = _children_of(srv.proc.pid)
        assert any("multiprocessing" in cmd and "resource_tracker" not in cmd for cmd in kids.values()), kids
        srv.proc.kill()
        srv.proc.wait(timeout=30)
        deadline = time.monotonic() + 20.0
        while any(_running(pid) for pid in kids) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = [cmd for pid, cmd in kids.items() if _running(pid)]
        for pid in kids:  # (on a failure, not for the rest of the run)
            if _running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        assert not left, f"left running after the server was killed: {left}"
