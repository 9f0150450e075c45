"""The fake ERP and ECP as the local stack will use them: endpoints, key check, faults, own process."""
from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from orderbridge.fake_apis import CustomerCard, FakeEcp, FakeErp, Fault

KEY = {"X-Api-Key": "k"}
SALES_ORDER = {
    "externalDocumentNumber": "ord-1",
    "customerNumber": "WEB",
    "salesOrderLines": [{"sequence": 10000, "lineType": "Item", "lineObjectNumber": "A", "quantity": 1}],
}


def test_erp_deep_insert_lookup_and_state():
    with FakeErp(api_key="k") as erp, httpx.Client(base_url=erp.base_url, headers=KEY) as client:
        created = client.post("/salesOrders", json=SALES_ORDER)
        assert created.status_code == 201
        assert created.json()["salesOrderLines"][0]["documentId"] == created.json()["id"]
        found = client.get(
            "/salesOrders", params={"$filter": "externalDocumentNumber eq 'ORD-1'", "$expand": "salesOrderLines"}
        ).json()["value"]
        assert [o["id"] for o in found] == [created.json()["id"]]
        header_only = client.get("/salesOrders", params={"$filter": "externalDocumentNumber eq 'ORD-1'"})
        assert "salesOrderLines" not in header_only.json()["value"][0]
        assert client.get(f"/salesOrders/{created.json()['id']}/state").status_code == 404
        erp.set_state(created.json()["id"], {"status": "Shipped"})
        assert client.get(f"/salesOrders/{created.json()['id']}/state").json() == {"status": "Shipped"}


def test_erp_adds_an_items_extended_text_as_comment_lines_between_it_and_the_next_line():
    order = copy.deepcopy(SALES_ORDER)
    order["salesOrderLines"].append({"sequence": 20000, "lineType": "Item", "lineObjectNumber": "B", "quantity": 1})
    with FakeErp(api_key="k", extended_texts={"A": ["one", "two"]}) as erp, httpx.Client(
        base_url=erp.base_url, headers=KEY
    ) as client:
        lines = client.post("/salesOrders", json=order).json()["salesOrderLines"]
        assert [(l["sequence"], l["lineType"], l["lineObjectNumber"], l["description"], l["quantity"]) for l in lines] == [
            (10000, "Item", "A", "", 1),
            (13333, "Comment", "", "one", 0),
            (16666, "Comment", "", "two", 0),
            (20000, "Item", "B", "", 1),
        ]
        assert erp.requests[0].body == order  # the request as sent, without the added lines


def test_erp_refuses_a_deep_insert_without_lines_and_uses_the_given_validator():
    with FakeErp(api_key="k", validate=lambda body: "currencyCode is required") as erp, httpx.Client(
        base_url=erp.base_url, headers=KEY
    ) as client:
        no_lines = client.post("/salesOrders", json={**SALES_ORDER, "salesOrderLines": []})
        assert no_lines.status_code == 400 and "salesOrderLines" in no_lines.json()["error"]["message"]
        invalid = client.post("/salesOrders", json=SALES_ORDER)
        assert invalid.json() == {"error": {"code": "BadRequest", "message": "currencyCode is required"}}
        assert erp.sales_orders == []


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda o: o.update(customerName="Jana"), "'customerName' is read-only on type 'Microsoft.NAV.salesOrder'"),
        (lambda o: o.update(pricesIncludeTax=True), "'pricesIncludeTax' is read-only"),
        (lambda o: o["salesOrderLines"][0].update(description3="x"), "'description3' does not exist on type"),
        (lambda o: o["salesOrderLines"][0].update(amountIncludingTax=1), "'amountIncludingTax' is read-only"),
        (lambda o: o.update(externalDocumentNumber="X" * 36), "The length of the string is 36, but it must be less"),
        (lambda o: o.update(customerNumber="NOPE"), "The sell-to customer cannot be found."),
    ],
)
def test_erp_refuses_properties_a_client_cannot_write_and_unknown_customers(change, named):
    body = copy.deepcopy(SALES_ORDER)
    change(body)
    with FakeErp(api_key="k") as erp, httpx.Client(base_url=erp.base_url, headers=KEY) as client:
        refused = client.post("/salesOrders", json=body)
        assert refused.status_code == 400
        assert named in refused.json()["error"]["message"]
        assert erp.sales_orders == []


def test_erp_answers_every_property_with_bc_blanks_and_the_customer_card():
    body = copy.deepcopy(SALES_ORDER)
    body["salesOrderLines"].append({"sequence": 20000, "lineType": "Comment", "description": "note"})
    customers = {"WEB": CustomerCard(name="Webshop", prices_include_tax=False)}
    with FakeErp(api_key="k", customers=customers) as erp, httpx.Client(base_url=erp.base_url, headers=KEY) as client:
        created = client.post("/salesOrders", json=body).json()
    assert created["customerName"] == "Webshop" and created["pricesIncludeTax"] is False
    assert created["postingDate"] == "0001-01-01" and created["totalAmountIncludingTax"] == 0
    comment = created["salesOrderLines"][1]
    assert comment["quantity"] == 0 and comment["lineObjectNumber"] == "" and comment["unitPrice"] == 0
    assert comment["itemId"] == "00000000-0000-0000-0000-000000000000"
    assert set(created["salesOrderLines"][0]) == set(comment)


def _lookup(client: httpx.Client, collection: str, number: str) -> list[dict]:
    lines = {"/salesOrders": "salesOrderLines", "/salesInvoices": "salesInvoiceLines"}[collection]
    answer = client.get(collection, params={"$filter": f"externalDocumentNumber eq '{number}'", "$expand": lines})
    assert answer.status_code == 200, answer.text
    return answer.json()["value"]


def test_erp_stores_code_fields_upper_case_and_filters_on_the_stored_form_like_business_central():
    body = copy.deepcopy(SALES_ORDER)
    body.update(externalDocumentNumber=" ord-1 ", shipToPostCode="sw1a 1aa", customerNumber="web")
    body["salesOrderLines"][0].update(lineObjectNumber="mug-blk", description2="second line", invoiceQuantity=1)
    with FakeErp(api_key="k") as erp, httpx.Client(base_url=erp.base_url, headers=KEY) as client:
        created = client.post("/salesOrders", json=body).json()
        assert (created["externalDocumentNumber"], created["shipToPostCode"], created["customerNumber"]) == (
            "ORD-1", "SW1A 1AA", "WEB",
        )
        assert created["status"] == "Draft"
        line = created["salesOrderLines"][0]
        assert (line["lineObjectNumber"], line["description2"], line["invoiceQuantity"]) == ("MUG-BLK", "second line", 1)
        assert [o["id"] for o in _lookup(client, "/salesOrders", "ORD-1")] == [created["id"]]
        assert _lookup(client, "/salesOrders", "ord-1") == []  # `eq` compares with the stored value
        assert erp.requests[0].body == body  # the request as sent


def test_erp_accepts_an_order_without_external_document_number_and_a_second_one_with_the_same():
    without = {k: v for k, v in SALES_ORDER.items() if k != "externalDocumentNumber"}
    with FakeErp(api_key="k") as erp, httpx.Client(base_url=erp.base_url, headers=KEY) as client:
        assert client.post("/salesOrders", json=without).json()["externalDocumentNumber"] == ""
        assert [client.post("/salesOrders", json=SALES_ORDER).status_code for _ in range(2)] == [201, 201]
        assert erp.duplicates() == {"ORD-1": 2}
        assert len(erp.orders_for("ord-1")) == 2


def test_erp_deletes_a_fully_invoiced_order_which_lives_on_as_posted_invoices():
    order = copy.deepcopy(SALES_ORDER)
    order["salesOrderLines"] = [
        {"sequence": 10000, "lineType": "Comment", "description": "Web order 1"},
        {"sequence": 20000, "lineType": "Item", "lineObjectNumber": "A", "quantity": 3},
    ]
    with FakeErp(api_key="k") as erp, httpx.Client(base_url=erp.base_url, headers=KEY) as client:
        created = client.post("/salesOrders", json=order).json()
        first = erp.post(created["id"], {20000: 1})
        [still_open] = _lookup(client, "/salesOrders", "ORD-1")
        assert still_open["salesOrderLines"][1]["invoicedQuantity"] == 1
        second = erp.post(created["id"])
        assert _lookup(client, "/salesOrders", "ORD-1") == []
        invoices = _lookup(client, "/salesInvoices", "ORD-1")
        assert [i["number"] for i in invoices] == [first["number"], second["number"]]
        assert {(i["orderNumber"], i["externalDocumentNumber"], i["status"]) for i in invoices} == {
            (created["number"], "ORD-1", "Open")
        }
        assert [[(l["lineType"], l.get("quantity")) for l in i["salesInvoiceLines"]] for i in invoices] == [
            [("Comment", 0), ("Item", 1)], [("Comment", 0), ("Item", 2)]
        ]
        assert _lookup(client, "/salesInvoices", "ord-1") == []
        assert erp.duplicates() == {}
        with pytest.raises(KeyError, match="no open sales order"):
            erp.post(created["id"])


def test_wrong_key_is_401_and_every_request_is_recorded():
    with FakeEcp(api_key="k") as ecp, httpx.Client(base_url=ecp.base_url) as client:
        assert client.get("/orders/x", headers={"X-Api-Key": "wrong"}).status_code == 401
        assert [(r.method, r.path, r.headers["x-api-key"]) for r in ecp.requests] == [("GET", "/orders/x", "wrong")]


def test_ecp_patch_merges_the_update():
    with FakeEcp(api_key="k") as ecp, httpx.Client(base_url=ecp.base_url, headers=KEY) as client:
        ecp.put_order({"id": "ord-1", "status": "pending", "total": "9.90"})
        assert client.patch("/orders/ord-1", json={"status": "shipped", "erpChangeVersion": 2}).status_code == 200
        assert ecp.order("ord-1") == {"id": "ord-1", "status": "shipped", "total": "9.90", "erpChangeVersion": 2}
        assert client.patch("/orders/ord-2", json={}).status_code == 404


def test_fault_sequences_and_conditions():
    outage = {"on": True}
    with FakeEcp(api_key="k") as ecp, httpx.Client(base_url=ecp.base_url, headers=KEY) as client:
        ecp.put_order({"id": "o"})
        ecp.fail_next(500, Fault(status=429, retry_after="7"), method="GET")
        assert client.patch("/orders/o", json={}).status_code == 200  # not a GET: not consumed
        first, second = client.get("/orders/o"), client.get("/orders/o")
        assert (first.status_code, second.status_code, second.headers["retry-after"]) == (500, 429, "7")
        ecp.fail_while(lambda: outage["on"], Fault(status=503))
        assert client.get("/orders/o").status_code == 503
        outage["on"] = False
        assert client.get("/orders/o").status_code == 200


def test_runs_in_its_own_process_with_latency_on_one_method():
    repo = Path(__file__).parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "orderbridge.fake_apis", "erp", "--api-key", "k", "--latency", "0.2",
         "--latency-method", "POST"],
        cwd=repo, stdout=subprocess.PIPE, text=True,
    )
    try:
        line = process.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        with httpx.Client(base_url=line.removeprefix("listening on "), headers=KEY) as client:
            lookup = client.get("/salesOrders", params={"$filter": "externalDocumentNumber eq 'x'"})
            created = client.post("/salesOrders", json=SALES_ORDER)
        assert lookup.json() == {"value": []} and lookup.elapsed.total_seconds() < 0.2
        assert created.status_code == 201 and created.elapsed.total_seconds() >= 0.2
    finally:
        process.terminate()
        assert process.wait(timeout=5) is not None


@pytest.mark.parametrize("server", [FakeErp, FakeEcp])
def test_base_url_before_start_explains_what_to_do(server):
    with pytest.raises(RuntimeError, match="call start"):
        server(api_key="k").base_url
