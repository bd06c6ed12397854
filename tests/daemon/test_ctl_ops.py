"""gatewayctl details an operator trips over: batch requests sized by bytes, exit codes, and a
status table that stays readable when a link is down with a long reason."""

from __future__ import annotations

import socket

import msgspec

from gatewayd import ctl


def _items(n: int, chars: int) -> list[dict]:
    return [{"from": "+14155550100", "to": f"+1415555{i % 10000:04d}", "text": "é" * chars, "key": f"k{i}",
             "priority": "bulk"} for i in range(n)]


def _request_bytes(chunk: list[dict]) -> int:
    return len(msgspec.json.encode({"op": "send_batch", "id": 99999, "messages": chunk})) + 1


def test_batch_chunks_stay_under_the_line_limit_and_keep_every_item_in_order():
    items = _items(5000, 300)                      # the file that failed: ~3.4 MB encoded
    limit = 1_048_576
    chunks = list(ctl.batch_chunks(items, limit))
    assert len(chunks) > 1
    assert all(isinstance(c, list) and _request_bytes(c) <= limit for _, c in chunks)
    flat = [(start + k, it) for start, c in chunks for k, it in enumerate(c)]
    assert [i for i, _ in flat] == list(range(5000)) and [it for _, it in flat] == items


def test_batch_chunks_cap_items_and_report_an_item_too_big_for_any_request():
    small = _items(12_000, 1)
    assert [len(c) for _, c in ctl.batch_chunks(small, 100_000_000)] == [5000, 5000, 2000]
    items = _items(3, 10)
    items[1]["text"] = "x" * 5000
    out = list(ctl.batch_chunks(items, 2000))
    assert [(s, len(c)) for s, c in out if isinstance(c, list)] == [(0, 1), (2, 1)]
    [(index, reason)] = [(s, c) for s, c in out if isinstance(c, str)]
    assert index == 1 and "over the daemon's request limit of 2000 bytes" in reason


def test_permission_denied_on_the_socket_exits_1_with_the_reason(monkeypatch, tmp_path, capsys):
    def refuse(self, address):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert ctl.main(["--socket", str(tmp_path / "gw.sock"), "status"]) == 1
    err = capsys.readouterr().err
    assert "permission denied on" in err and "not running" not in err


def test_status_wraps_a_long_down_reason():
    reason = ("cannot open /dev/serial/by-id/usb-Quectel_Wireless_Solutions_Co._Ltd._EC25_LTE_modem-if02-port0: "
              "No such file or directory")
    lines = ctl.table_lines([["modem-a", "modem", "down", reason, "0/1", 0], ["sim", "sim", "up", "", "0/50", 12]],
                            ["NAME", "KIND", "STATE", "REASON", "WINDOW", "SENT/MIN"], wrap={3: ctl.REASON_WIDTH})
    assert max(len(line) for line in lines) <= 100
    assert "".join(line[lines[0].index("REASON"):].split("  ")[0] for line in lines[1:-1]).replace(" ", "") \
        == reason.replace(" ", "")
    assert lines[-1].split() == ["sim", "sim", "up", "0/50", "12"]
    assert all(line == line.rstrip() for line in lines)
