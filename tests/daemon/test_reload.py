"""SIGHUP applies the whole new file or none of it, naming each key that needs a restart."""

from __future__ import annotations

import msgspec
import pytest

from gatewayd.errors import ConfigError
from support import SIM_CONFIG, AsyncClient, make_config, query, running, states, wait_until

pytestmark = pytest.mark.trio
NEW = "+14155550199"
EXTRA_NUMBER = f"""
[[numbers]]
address = "{NEW}"
links = ["sim"]
rate = 1000
burst = 1000
"""


async def test_a_number_added_on_reload_sends_at_once(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        refused = await c.request("send", **{"from": NEW, "to": "+14155550123", "text": "before"})
        assert refused["error"]["code"] == "unknown_number"
        gw.reload(make_config(tmp_path, text=SIM_CONFIG + EXTRA_NUMBER))
        m = await c.call("send", **{"from": NEW, "to": "+14155550123", "text": "after"})
        await wait_until(gw, lambda: states(gw).get("delivered") == 1)
        assert query(gw, "SELECT sender, state FROM messages WHERE id = ?", (m["id"],)) == [(NEW, "delivered")]
        st = await c.call("status")
        assert NEW in [n["address"] for n in st["numbers"]]


async def test_a_changed_window_refuses_the_whole_reload_and_names_the_key(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        before = gw.cfg
        changed = SIM_CONFIG.replace("window = 20", "window = 5").replace("rate = 1000", "rate = 3")
        with pytest.raises(ConfigError) as err:
            gw.reload(make_config(tmp_path, text=changed))
        assert "links[0].window" in str(err.value) and "restart" in str(err.value)
        assert gw.cfg is before                                  # nothing applied, not even the rate
        assert gw.dispatcher.lanes["+14155550100"].bucket.rate == 1000


async def test_every_key_that_needs_a_restart_is_named(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        text = SIM_CONFIG.replace("seed = 1", "seed = 2") + """
[[links]]
name = "sim2"
kind = "sim"

[metrics]
interval_s = 5.0
"""
        cfg = make_config(tmp_path, text=text)
        cfg = msgspec.structs.replace(cfg, control=msgspec.structs.replace(cfg.control, socket_mode=0o640))
        with pytest.raises(ConfigError) as err:
            gw.reload(cfg)
        for key in ("links[0].seed", "links[1] (new link 'sim2')", "metrics.interval_s", "control.socket_mode"):
            assert key in str(err.value)


async def test_live_keys_apply_and_a_disable_by_gatewayctl_survives_the_reload(tmp_path):
    async with running(make_config(tmp_path)) as gw:
        c = await AsyncClient.connect(gw.socket_path)
        await c.call("set_enabled", kind="link", name="sim", enabled=False)
        gw.reload(make_config(tmp_path, text=SIM_CONFIG.replace("rate = 1000", "rate = 7")
                              + "\n[control]\nmax_connections = 3\n"))
        assert gw.dispatcher.lanes["+14155550100"].bucket.rate == 7
        assert gw.cfg.control.max_connections == 3
        assert gw.links["sim"].enabled is False
