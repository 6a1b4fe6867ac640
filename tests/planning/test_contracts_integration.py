from datetime import date

import psycopg
import pytest

from core.clock import ManualClock, to_datetime
from diagnostics import repository as diag_repo
from planning import repository as repo
from planning import service
from quietfix.seed import seed
from tests.dispatch.test_dispatch_integration import open_work_order

pytestmark = pytest.mark.integration


def test_seed_gives_every_customer_a_contract_and_every_fourth_asset_a_warranty(conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=8, technicians=2, users=False)
    contracts = repo.all_contracts(conn)
    customers = {d.customer_id for d in devices}
    assert {k.customer_id for k in contracts if k.device_id is None} == customers
    assert {k.device_id for k in contracts if k.device_id} == {devices[3].device_id, devices[7].device_id}


def test_diagnose_context_takes_the_sla_tier_from_the_covering_contract(conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=3, technicians=1, users=False)
    d = devices[0]
    customer_tier = conn.execute("SELECT tier FROM customers WHERE id = %s", (d.customer_id,)).fetchone()[0]
    assert diag_repo.device_context(conn, d.device_id).tier == customer_tier
    repo.insert_contract(conn, code="UP-1", customer_id=d.customer_id, device_id=d.device_id, name="critical asset",
                         sla_tier="bronze" if customer_tier == "key" else "key", starts_on=date(2024, 1, 1))
    upgraded = diag_repo.device_context(conn, d.device_id).tier
    assert upgraded != customer_tier and diag_repo.devices(conn)[d.device_id].tier == upgraded
    conn.execute("DELETE FROM contracts WHERE customer_id = %s", (d.customer_id,))
    assert diag_repo.device_context(conn, d.device_id).tier == customer_tier  # no contract: the customer's tier


def test_every_work_order_shows_its_covering_contract_and_billing(conn: psycopg.Connection) -> None:
    devices = seed(conn, devices=4, technicians=1, users=False)
    at = to_datetime(ManualClock().now())  # Thursday 2026-01-01 00:00 UTC: outside office hours
    plain = open_work_order(conn, devices[0].device_id, ["mechanical"], at)
    warranty = open_work_order(conn, devices[3].device_id, ["mechanical"], at)
    v = service.work_order_contract(conn, plain)
    assert v["contract"]["code"] == f"SC-{devices[0].customer_id:05d}"
    assert v["entitlement"]["sla_tier"] == v["contract"]["sla_tier"]
    w = service.work_order_contract(conn, warranty)
    assert w["contract"]["code"] == f"WR-{devices[3].device_id}" and w["entitlement"]["warranty"]
    assert not w["entitlement"]["labour_billable"]
    assert {x["work_order_id"] for x in service.open_work_order_contracts(conn)} == {plain, warranty}
    assert service.work_order_contract(conn, 999_999) is None
