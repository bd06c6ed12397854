"""Compliance requests (issue 17: sending hours, caps, content checks).

Only msgspec and the standard library here: the TUI imports this package.
"""

from __future__ import annotations

from .base import Request
from .campaigns import CampaignFields

__all__ = ["CampaignCheck", "HoursSets"]


class CampaignCheck(Request, tag="campaign_check"):
    """Content checks for campaign fields not saved yet (the wizard's review). Returns
    ``{hours, checks: [{check, severity: blocker|warning|info, message, step, script}], blockers}``;
    an unknown ``hours`` or script is a typed error."""

    fields: CampaignFields


class HoursSets(Request, tag="hours_sets"):
    """The sending-hours rule sets: ``{default, reviewed, sets: [{name, title, opt_out_required}]}``."""
