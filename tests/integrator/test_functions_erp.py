"""erp_integrator as the host calls it, against the local fake ERP."""
from __future__ import annotations

import dataclasses
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from order_integration import runtime
from order_integration.contracts import dump_json
from order_integration.mapping import ErpDefaults, to_erp_sales_order
from order_integration.servicebus import SendFailed
from orderbridge.fake_apis import Fault
from tests.integrator._runtime_support import (
    ERP_KEY,
    T0,
    example,
    harness,  # noqa: F401  (fixture)
    order_message,
    redelivered,
    user_function,
)

erp_integrator = user_function("erp_integrator")
REJECTED = "online-orders-rejected"
DEFAULTS = ErpDefaults(web_customer_number="WEB", shipping_charge_item="SHIPPING")


def load_plain(value):
    """A mapped value (with Decimals) as plain JSON, the way the ERP would store it."""
    return json.loads(dump_json(value))


def only_parked(harness):
    [parked] = harness.parked(REJECTED)
    return parked.message


def test_new_order_is_created_with_all_lines_in_one_request(harness):
    order = example("ecp-order")
    erp_integrator(order_message(order, correlation_id="evt-abc"))
    lookup, create = harness.erp.requests
    assert (lookup.method, lookup.path) == ("GET", "/salesOrders")
    assert lookup.query == {"$filter": "externalDocumentNumber eq 'ord-100045'", "$expand": "salesOrderLines"}
    assert (create.method, create.path) == ("POST", "/salesOrders")
    assert create.raw_body == dump_json(to_erp_sales_order(order, DEFAULTS)).encode()
    for request in (lookup, create):
        assert request.headers["x-api-key"] == ERP_KEY
        assert request.headers["x-correlation-id"] == "evt-abc"
    [stored] = harness.erp.orders_for("ord-100045")
    assert [line["sequence"] for line in stored["salesOrderLines"]] == [
        line["sequence"] for line in create.body["salesOrderLines"]
    ]
    assert harness.bus.messages("online-orders") == [] and harness.parked(REJECTED) == []


def test_redelivery_of_the_same_message_creates_one_erp_order(harness):
    order = example("ecp-order")
    erp_integrator(order_message(order, correlation_id="evt-1"))
    again = order_message(order, correlation_id="evt-1", delivery_count=2)
    erp_integrator(again)
    assert len(harness.erp.orders_for("ord-100045")) == 1
    assert [r.method for r in harness.erp.requests] == ["GET", "POST", "GET"]


def test_create_whose_answer_is_lost_is_found_on_retry_not_created_twice(harness):
    harness.erp.fail_next(Fault(status=200, delay=1.0, applied=True), method="POST")
    erp_integrator(order_message(example("ecp-order")))
    assert len(harness.erp.orders_for("ord-100045")) == 1
    [retry] = harness.bus.take_due("online-orders", T0 + timedelta(hours=1))
    erp_integrator(redelivered(retry))
    assert len(harness.erp.orders_for("ord-100045")) == 1


def test_existing_incomplete_order_is_parked_not_taken_as_success(harness):
    order = example("ecp-order")
    complete = to_erp_sales_order(order, DEFAULTS)
    harness.erp.seed(
        {**load_plain(complete), "salesOrderLines": load_plain(complete["salesOrderLines"][:1])}
    )
    erp_integrator(order_message(order))
    parked = only_parked(harness)
    assert parked.application_properties["reason"] == "ExistingOrderMismatch"
    assert "incomplete" in parked.application_properties["description"]
    assert [r.method for r in harness.erp.requests] == ["GET"]


def test_order_already_duplicated_in_the_erp_is_parked(harness):
    order = example("ecp-order")
    for _ in range(2):
        harness.erp.seed(load_plain(to_erp_sales_order(order, DEFAULTS)))
    erp_integrator(order_message(order))
    assert "exist 2 times" in only_parked(harness).application_properties["description"]


def test_body_that_is_not_json_is_parked_with_the_original_body_and_id(harness):
    message = order_message(example("ecp-order"), message_id="ord-1")
    broken = type(message)(
        body=b"{not json",
        message_id="ord-1",
        correlation_id="evt-9",
        application_properties=dict(message.application_properties),
        user_properties={},
    )
    erp_integrator(broken)
    parked = only_parked(harness)
    assert parked.body == b"{not json"
    assert parked.correlation_id == "evt-9"
    props = parked.application_properties
    assert props["reason"] == "MalformedMessage"
    assert props["originalMessageId"] == "ord-1"
    assert props["parkedBy"] == "erp-integrator"
    assert props["eventType"] == "ECP.Order.Created"
    assert harness.erp.requests == []


def test_schema_violation_is_parked_naming_path_and_rule(harness):
    order = example("ecp-order")
    del order["lines"]
    erp_integrator(order_message(order))
    props = only_parked(harness).application_properties
    assert props["reason"] == "SchemaViolation"
    assert "ecp-order" in props["description"] and "required" in props["description"]
    assert "lines" in props["description"]
    assert harness.erp.requests == []


def test_unknown_data_version_is_parked(harness):
    message = order_message(example("ecp-order"), properties={"eventType": "ECP.Order.Created", "dataVersion": "2.0"})
    erp_integrator(message)
    props = only_parked(harness).application_properties
    assert props["reason"] == "UnsupportedDataVersion"
    assert "'2.0'" in props["description"]


def test_erp_validation_error_is_parked_with_the_erps_message(harness):
    harness.erp.fail_next(
        Fault(status=400, body={"error": {"code": "BadRequest", "message": "Item COF-ETH-250 is blocked."}}),
        method="POST",
    )
    erp_integrator(order_message(example("ecp-order")))
    props = only_parked(harness).application_properties
    assert props["reason"] == "TargetRejected"
    assert "HTTP 400" in props["description"] and "Item COF-ETH-250 is blocked." in props["description"]


@pytest.mark.parametrize("fault", [Fault(status=503), Fault(status=500), Fault(disconnect=True), Fault(delay=1.0)])
def test_transient_failure_schedules_a_retry_and_the_retry_creates_the_order(harness, fault):
    harness.erp.fail_next(fault)
    erp_integrator(order_message(example("ecp-order")))
    assert harness.erp.orders_for("ord-100045") == []
    [retry] = harness.bus.messages("online-orders")
    assert retry.enqueue_at > T0
    assert retry.message.message_id == "ord-100045+retry1"
    assert harness.run_due("online-orders", "erp_integrator", until=T0 + timedelta(hours=1)) == 1
    assert len(harness.erp.orders_for("ord-100045")) == 1
    assert harness.parked(REJECTED) == []


def test_429_retry_after_sets_the_retry_time(harness):
    harness.erp.fail_next(Fault(status=429, retry_after="300"))
    erp_integrator(order_message(example("ecp-order")))
    [retry] = harness.bus.messages("online-orders")
    assert retry.enqueue_at == T0 + timedelta(seconds=300)


@pytest.mark.parametrize("fault", [Fault(status=503), Fault(status=422)])
def test_if_retry_or_park_cannot_be_sent_the_function_raises_so_the_host_abandons(harness, fault):
    harness.erp.fail_next(fault)
    harness.bus.failure = "ServiceBusConnectionError"
    with pytest.raises(SendFailed):
        erp_integrator(order_message(example("ecp-order")))
    assert harness.erp.orders_for("ord-100045") == []


def test_an_unexpected_error_propagates_unsettled_with_a_log_line(harness, caplog):
    # A bug stand-in: the runtime's ERP defaults are missing, so mapping fails with AttributeError.
    broken = dataclasses.replace(runtime.current_runtime(), defaults=None)
    runtime.install_runtime(broken)
    with pytest.raises(AttributeError), caplog.at_level("ERROR", logger="order_integration"):
        erp_integrator(order_message(example("ecp-order"), correlation_id="evt-bug"))
    assert harness.bus.messages("online-orders") == [] and harness.parked(REJECTED) == []
    [line] = [r.getMessage() for r in caplog.records if r.name == "order_integration"]
    assert "unexpected AttributeError" in line and "correlationId=evt-bug" in line


def test_concurrent_invocations_share_one_pooled_client(harness):
    """As the host runs them: maxConcurrentCalls invocations at once on one worker's thread pool."""
    concurrency = 16
    base = example("ecp-order")
    messages = [order_message({**base, "id": f"ord-{300000 + n}"}) for n in range(4 * concurrency)]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(erp_integrator, messages))
    for n in range(4 * concurrency):
        assert len(harness.erp.orders_for(f"ord-{300000 + n}")) == 1
    assert harness.erp.connections_opened <= concurrency
    assert harness.parked(REJECTED) == [] and harness.bus.messages("online-orders") == []
