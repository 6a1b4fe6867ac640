"""The asset page and its timeline show customer, team, covering contract and product together; so does the portal."""

import pytest

from tests.api.test_views_integration import login, world  # noqa: F401 - fixture

pytestmark = pytest.mark.integration


def test_asset_timeline_has_customer_team_contract_and_product(world) -> None:  # noqa: F811
    client, w = world
    d0, d3 = w["devices"][0], w["devices"][3]
    staff = login(client, "dispatcher")
    body = client.get(f"/api/assets/{d0.device_id}/timeline", headers=staff).json()
    a = body["asset"]
    assert a["equipment_type"] and a["customer_id"] == d0.customer_id and a["customer_name"]
    k = a["contract"]
    assert k["code"] == f"SC-{d0.customer_id:05d}" and k["sla_tier"] == a["customer_tier"]
    assert k["coverage"] and k["device_id"] is None and k["under_warranty"] is False
    assert [(t["id"], t["active"]) for t in a["team"]] == [(w["tech1"], True)]  # assigned to its open job
    assert isinstance(body["events"], list)
    warranty = client.get(f"/api/assets/{d3.device_id}", headers=staff).json()["contract"]
    assert warranty["code"] == f"WR-{d3.device_id}" and warranty["device_id"] == d3.device_id
    assert warranty["under_warranty"] is True and warranty["warranty_until"]
    # No contract: null (time and materials).
    w["conn"].execute("DELETE FROM contracts WHERE customer_id = %s", (d0.customer_id,))
    w["conn"].commit()
    assert client.get(f"/api/assets/{d0.device_id}", headers=staff).json()["contract"] is None
    # Scoped like every asset route: another customer's asset is 404.
    other = next(d for d in w["devices"] if d.customer_id != d0.customer_id)
    assert client.get(f"/api/assets/{other.device_id}/timeline", headers=login(client, "customer001")).status_code \
        == 404


def test_portal_cards_carry_the_covering_contract(world) -> None:  # noqa: F811
    client, w = world
    assets = client.get("/api/portal/assets", headers=login(client, "customer001")).json()
    cid = w["devices"][0].customer_id
    assert assets and all(a["contract"]["code"] in (f"SC-{cid:05d}", f"WR-{a['id']}") for a in assets)
