"""The campaign detail says which carrier budget holds the campaign (issue 13 item 5)."""

from __future__ import annotations

from gatewaytui.screens.campaign_detail import general_text
from gatewaytui.views import Campaign


def test_general_tab_shows_the_budget_and_why_the_campaign_waits():
    c = Campaign(id=1, name="Spring", status="sending", budget="promo",
                 waiting="waiting for budget promo: 3600/minute used, refills in 12 s")
    text = str(general_text(c))
    assert "Budget  promo" in text
    assert "Waiting for budget promo: 3600/minute used, refills in 12 s" in text


def test_nothing_extra_without_a_budget():
    text = str(general_text(Campaign(id=1, name="Spring", status="sending")))
    assert "Budget" not in text and "aiting" not in text
