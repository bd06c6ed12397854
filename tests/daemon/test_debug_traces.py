"""log_level = "debug" shows the protocol conversation (SMPP PDUs, AT commands and answers)
without message texts, numbers or the SIM PIN."""

from __future__ import annotations

import logging

import pytest
import trio

from gatewayd.links.modem.driver import Driver
from gatewayd.links.smpp import codec, trace
from test_modem_driver import MemoryPort

pytestmark = pytest.mark.trio


async def test_at_commands_and_answers_are_traced_and_the_pin_is_masked(nursery, caplog):
    caplog.set_level(logging.DEBUG, logger="gatewayd.links.modem.driver")
    port = MemoryPort()
    driver = Driver(port)  # type: ignore[arg-type]
    await nursery.start(driver.reader)
    port.script += [b"\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n", b"\r\nOK\r\n", b"\r\n+CPIN: READY\r\n\r\nOK\r\n",
                    b"\r\n+CSQ: 17,99\r\n\r\nOK\r\n"]
    await driver.unlock("4321", timeout=5)
    await driver.signal(timeout=5)
    port.to_host(b"\r\n+CMTI: \"SM\",3\r\n")
    with trio.fail_after(5):
        await driver.urcs.receive()
    text = caplog.text
    assert "/dev/mem0: -> AT+CPIN?" in text and "/dev/mem0: -> AT+CPIN=<secret>" in text
    assert "/dev/mem0: -> AT+CSQ" in text and "/dev/mem0: <- 1 line(s), OK" in text
    assert "<- URC +CMTI" in text
    assert "4321" not in text


async def test_smpp_pdus_are_summarised_by_header_only():
    pdu = codec.encode("submit_sm", 7, source_addr="+14155550100", destination_addr="+14155550123",
                       short_message=b"secret text")
    resp = codec.resp_with_id("submit_sm", 7, status=0x58)
    assert trace.describe(pdu) == f"submit_sm seq=7 len={len(pdu)}"
    assert trace.describe(resp).startswith("submit_sm_resp seq=7") and "ESME_RTHROTTLED" in trace.describe(resp)
    assert [trace.describe(p) for p in trace.split(pdu + resp)] == [trace.describe(pdu), trace.describe(resp)]
    assert "4155550123" not in trace.describe(pdu) and "secret" not in trace.describe(pdu)
