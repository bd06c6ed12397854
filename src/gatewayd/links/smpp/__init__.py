"""The ``smpp`` link kind: codec (PDUs), receipt (DLR text, ids), message (fields), session (one
connection on Trio), link (supervision, submit, inbound). See link.py for the behaviour."""
