"""The wire schema's own rules."""

import msgspec

from gatewayd import protocol as P


def test_no_request_shadows_the_envelope_id():
    """``id`` belongs to the envelope (echoed in the reply so clients can match replies);
    a request that redefined it for a domain id would break that."""
    for req in P._all_requests():
        field = next(f for f in msgspec.structs.fields(req) if f.name == "id")
        assert field.default is None and field.type == (int | str | None), req.__name__


def test_every_op_decodes_and_unknown_fields_are_ignored():
    assert len(P.ops()) == len(set(P.ops()))
    req = P.decode_request(b'{"op": "campaign_show", "id": 7, "campaign_id": 3, "new_field": 1}')
    assert (req.id, req.campaign_id) == (7, 3)
