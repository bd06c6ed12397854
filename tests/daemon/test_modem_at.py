"""The AT response parser: results, URCs anywhere, prompt, echo and noise (sans-I/O)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from gatewayd.links.modem.at import AtParser, Final, Garbage, Info, Prompt, Urc, classify, split_args


def feed_all(parser: AtParser, *chunks: bytes) -> list:
    events: list = []
    for chunk in chunks:
        events += parser.feed(chunk)
    return events


def test_ok_and_information_lines_for_the_running_command():
    p = AtParser()
    p.expect = "+CSQ"
    assert p.feed(b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n") == [Info("+CSQ: 20,99"), Final(ok=True, kind="OK")]


def test_cms_error_carries_meaning_and_transience():
    p = AtParser()
    [ev] = p.feed(b"\r\n+CMS ERROR: 330\r\n")
    assert (ev.ok, ev.label, ev.text, ev.transient) == (False, "CMS 330", "SMSC address unknown", True)
    assert classify("CMS", "331").transient and classify("CMS", "332").transient
    assert classify("CMS", "38").text == "network out of order" and classify("CMS", "38").transient
    assert classify("CMS", "500").text == "unknown error"
    assert not classify("CMS", "1").transient          # unassigned number: permanent
    assert not classify("CMS", "304").transient        # invalid PDU: resending will not help


def test_cme_errors_including_verbose_form():
    p = AtParser()
    assert p.feed(b"+CME ERROR: 16\r\n")[0].text == "incorrect password"
    assert not classify("CME", "16").transient
    assert classify("CME", "10").text == "SIM not inserted"
    assert classify("CME", "11").text == "SIM PIN required"
    assert classify("CME", "12").text == "SIM PUK required"
    verbose = p.feed(b"+CME ERROR: SIM PIN required\r\n")[0]
    assert (verbose.code, verbose.label) == (11, "CME 11")
    assert p.feed(b"+CME ERROR: weird thing\r\n")[0].text == "weird thing"


def test_prompt_without_line_ending():
    p = AtParser()
    assert p.feed(b"\r\n> ") == [Prompt()]
    assert p.feed(b"\r\n>") == [Prompt()]


def test_urc_in_the_middle_of_a_response_surfaces_as_urc():
    p = AtParser()
    p.expect = "+CMGL"
    events = p.feed(b'\r\n+CMGL: 1,0,,23\r\n+CMTI: "SM",4\r\n0791AB\r\n\r\nOK\r\n')
    assert events == [Info("+CMGL: 1,0,,23"), Urc("+CMTI", '"SM",4'), Info("0791AB"), Final(ok=True, kind="OK")]


def test_two_line_urcs_carry_their_pdu_even_split_across_reads():
    p = AtParser()
    events = feed_all(p, b"\r\n+CDS: 2", b"5\r\n0006", b"01AB\r\n", b"\r\nRING\r\n")
    assert events == [Urc("+CDS", "25", pdu="000601AB"), Urc("RING")]
    assert p.feed(b"+CMT: ,23\r\n07914477\r\nOK\r\n") == [Urc("+CMT", ",23", pdu="07914477"),
                                                          Final(ok=True, kind="OK")]


def test_creg_is_a_urc_unless_the_command_asked_for_it():
    p = AtParser()
    assert p.feed(b"+CREG: 2\r\n") == [Urc("+CREG", "2")]
    p.expect = "+CREG"
    assert p.feed(b"+CREG: 1,1\r\n") == [Info("+CREG: 1,1")]


def test_echo_and_noise_are_tolerated():
    p = AtParser()
    p.echo = "AT+CSQ"
    p.expect = "+CSQ"
    events = p.feed(b"AT+CSQ\r\r\n\xff\xfe\x80\r\n+CSQ: 5,99\r\nOK\r\n")
    assert [type(e) for e in events] == [Garbage, Info, Final]
    # an old echo from before ATE0 is dropped too
    assert AtParser().feed(b"ATE0\r\r\nOK\r\n") == [Final(ok=True, kind="OK")]


def test_runaway_line_is_reported_as_garbage_not_buffered_forever():
    p = AtParser()
    events = p.feed(b"x" * 5000)
    assert len(events) == 1 and isinstance(events[0], Garbage)
    assert p.feed(b"\r\nOK\r\n") == [Final(ok=True, kind="OK")]


def test_split_args_keeps_quoted_commas():
    assert split_args('"SM",3') == ["SM", "3"]
    assert split_args('0,0,"Op, Inc",2') == ["0", "0", "Op, Inc", "2"]


URC_LINES = [b'+CMTI: "SM",7', b"RING", b"+CREG: 0", b'+CDSI: "SR",2']


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=64), max_size=12))
def test_fuzz_never_raises(chunks):
    p = AtParser()
    for chunk in chunks:
        for ev in p.feed(chunk):
            assert isinstance(ev, (Final, Info, Prompt, Urc, Garbage))


@settings(max_examples=300, deadline=None)
@given(
    noise=st.binary(max_size=40).filter(lambda b: b"\r" not in b and b"\n" not in b),
    urc=st.sampled_from(URC_LINES),
    at=st.integers(min_value=0, max_value=3),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6),
)
def test_fuzz_urc_mid_response_still_surfaces(noise, urc, at, cuts):
    lines = [b"+CMGL: 1,0,,23", b"0791AB", b"+CMGL: 2,0,,23", b"0791CD"]
    lines.insert(at, urc)
    stream = noise + b"\r\n" + b"\r\n".join(lines) + b"\r\nOK\r\n"
    p = AtParser()
    p.expect = "+CMGL"
    events = []
    prev = 0
    for cut in sorted(c % (len(stream) + 1) for c in cuts) + [len(stream)]:
        events += p.feed(stream[prev:cut])
        prev = cut
    name = urc.split(b":")[0].decode()
    assert [e for e in events if isinstance(e, Urc)][-1].name == name
    assert [e.text for e in events if isinstance(e, Info)][-4:] == [line.decode() for line in lines if line != urc]
    assert events[-1] == Final(ok=True, kind="OK")
