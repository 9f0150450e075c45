"""erp_integrator as the host calls it, against the local fake ERP."""
from __future__ import annotations

import dataclasses
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import pytest

from order_integration import runtime
from order_integration.contracts import dump_json
from order_integration.mapping import ErpDefaults, to_erp_sales_order
from order_integration.servicebus import OutboundMessage, SendFailed
from orderbridge.fake_apis import Fault
from tests.integrator._runtime_support import (
    ERP_KEY,
    T0,
    example,
    order_message,
    redelivered,
    user_function,
)

erp_integrator = user_function("erp_integrator")
REJECTED = "online-orders-rejected"
DEFAULTS = ErpDefaults(web_customer_number="WEB", shipping_charge_item="SHIPPING", prices_include_tax=True)


def load_plain(value):
    """A mapped value (with Decimals) as plain JSON, the way the ERP would store it."""
    return json.loads(dump_json(value))


def only_parked(harness):
    [parked] = harness.parked(REJECTED)
    return parked.message


def repeat_of(order: dict, **kwargs) -> object:
    """A later message for an order the ERP may already hold: queued two hours after the order was
    placed (a re-published event, say), so it is looked up."""
    placed = datetime.fromisoformat(order["createdAt"])
    return order_message(order, enqueued_time_utc=placed + timedelta(hours=2), **kwargs)


def test_new_order_is_created_with_all_lines_in_one_request(harness):
    """A first delivery inside the duplicate-detection window: Service Bus proves it is the only one."""
    order = example("ecp-order")
    erp_integrator(order_message(order, correlation_id="evt-abc"))
    [create] = harness.erp.requests
    assert (create.method, create.path) == ("POST", "/salesOrders")
    assert create.raw_body == dump_json(to_erp_sales_order(order, DEFAULTS)).encode()
    assert create.headers["x-api-key"] == ERP_KEY
    assert create.headers["x-correlation-id"] == "evt-abc"
    [stored] = harness.erp.orders_for("ord-100045")
    assert [line["sequence"] for line in stored["salesOrderLines"]] == [
        line["sequence"] for line in create.body["salesOrderLines"]
    ]
    assert harness.bus.messages("online-orders") == [] and harness.parked(REJECTED) == []


def test_an_order_that_may_have_been_delivered_before_is_looked_up_then_created(harness):
    """Open orders first, then posted invoices: posting deletes the order as it writes the invoice.
    The filter carries the id as Business Central stores a Code field, upper-cased."""
    erp_integrator(repeat_of(example("ecp-order"), correlation_id="evt-abc"))
    orders, invoices, create = harness.erp.requests
    assert (orders.method, orders.path) == ("GET", "/salesOrders")
    assert orders.query == {"$filter": "externalDocumentNumber eq 'ORD-100045'", "$expand": "salesOrderLines"}
    assert (invoices.method, invoices.path) == ("GET", "/salesInvoices")
    assert invoices.query == {"$filter": "externalDocumentNumber eq 'ORD-100045'", "$expand": "salesInvoiceLines"}
    for lookup in (orders, invoices):
        assert lookup.headers["x-api-key"] == ERP_KEY and lookup.headers["x-correlation-id"] == "evt-abc"
    assert create.method == "POST"
    assert len(harness.erp.orders_for("ord-100045")) == 1


def test_redelivery_of_the_same_message_creates_one_erp_order(harness):
    order = example("ecp-order")
    erp_integrator(order_message(order, correlation_id="evt-1"))
    erp_integrator(order_message(order, correlation_id="evt-1", delivery_count=2))  # the completion was lost
    harness.run_due("online-orders", "erp_integrator", until=T0 + timedelta(hours=1))
    assert len(harness.erp.orders_for("ord-100045")) == 1
    assert [r.method for r in harness.erp.requests] == ["POST", "GET"]
    assert harness.bus.messages("online-orders") == [] and harness.parked(REJECTED) == []


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
    erp_integrator(repeat_of(order))
    parked = only_parked(harness)
    assert parked.application_properties["reason"] == "ExistingOrderMismatch"
    assert "incomplete" in parked.application_properties["description"]
    assert [r.method for r in harness.erp.requests] == ["GET"]


def test_order_already_duplicated_in_the_erp_is_parked(harness):
    order = example("ecp-order")
    for _ in range(2):
        harness.erp.seed(load_plain(to_erp_sales_order(order, DEFAULTS)))
    erp_integrator(repeat_of(order))
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


def test_a_repeat_message_for_an_order_as_business_central_answers_it_is_success(harness):
    """BC answers every line property (a Comment line has quantity 0); only goods lines are compared."""
    order = example("ecp-order")
    harness.erp.seed(load_plain(to_erp_sales_order(order, DEFAULTS)))
    [stored] = harness.erp.orders_for("ord-100045")
    comments = [line for line in stored["salesOrderLines"] if line["lineType"] == "Comment"]
    assert comments and all(line["quantity"] == 0 and line["lineObjectNumber"] == "" for line in comments)

    erp_integrator(repeat_of(order))

    assert harness.parked(REJECTED) == []
    assert [r.method for r in harness.erp.requests] == ["GET"]
    assert len(harness.erp.orders_for("ord-100045")) == 1


def test_an_existing_order_missing_an_item_quantity_is_still_incomplete(harness):
    order = example("ecp-order")
    sales_order = load_plain(to_erp_sales_order(order, DEFAULTS))
    [item] = [line for line in sales_order["salesOrderLines"] if line.get("lineObjectNumber") == "MUG-BLK"]
    del item["quantity"]  # BC answers 0 for it
    harness.erp.seed(sales_order)
    erp_integrator(repeat_of(order))
    assert only_parked(harness).application_properties["reason"] == "ExistingOrderMismatch"


def test_the_created_order_sets_only_properties_a_client_may_write_and_takes_the_customer_card(harness):
    erp_integrator(order_message(example("ecp-order")))
    create = next(r for r in harness.erp.requests if r.method == "POST")
    assert not {"customerName", "pricesIncludeTax"} & create.body.keys()
    assert harness.parked(REJECTED) == []
    [stored] = harness.erp.orders_for("ord-100045")
    assert stored["customerName"] == "Web shop customers" and stored["pricesIncludeTax"] is True
    assert stored["salesOrderLines"][1]["description"] == "Sold to: Jana Novák"


def test_an_erp_collection_404_is_a_wrong_base_url_and_is_retried_not_parked(harness):
    harness.erp.fail_next(Fault(status=404, body={"error": {"code": "BadRequest_NotFound", "message": "no"}}))
    erp_integrator(order_message(example("ecp-order")))
    assert harness.parked(REJECTED) == []
    [retry] = harness.bus.messages("online-orders")
    assert "ERP_BASE_URL" in retry.message.application_properties["lastError"]


class SlowFirstCreate:
    """The ERP working on the first POST until released: its client gave up long before it commits."""

    def __init__(self, harness) -> None:
        self.release = threading.Event()
        self._posts = 0
        self._harness = harness
        harness.erp.latency = self._latency

    def _latency(self, request) -> float:
        if request.method == "POST":
            self._posts += 1
            if self._posts == 1:
                self.release.wait(timeout=10)
        return 0.0

    def finish(self, order_id: str) -> None:
        """Let the first POST commit and wait until the ERP holds its order."""
        self.release.set()
        deadline = time.monotonic() + 5
        while not self._harness.erp.orders_for(order_id) and time.monotonic() < deadline:
            time.sleep(0.01)


def test_a_create_that_times_out_is_not_retried_before_the_erp_can_have_finished_it(harness):
    """The review's case: Business Central may work on a request for up to 10 minutes after our
    client gave up; a retry that looks the order up before then finds nothing and creates it again."""
    bc_may_still_commit_until = T0 + timedelta(minutes=10)
    slow = SlowFirstCreate(harness)
    erp_integrator(order_message(example("ecp-order")))  # read timeout (0.5 s here) on the POST

    [retry] = harness.bus.messages("online-orders")
    assert retry.enqueue_at >= T0 + timedelta(minutes=15)
    assert "may still carry it out" in retry.message.application_properties["lastError"]
    # Events in virtual-time order: the ERP commits by the 10-minute mark, retries run when due.
    if retry.enqueue_at >= bc_may_still_commit_until:
        slow.finish("ord-100045")
    harness.run_due("online-orders", "erp_integrator", until=T0 + timedelta(hours=2))
    slow.finish("ord-100045")

    assert len(harness.erp.orders_for("ord-100045")) == 1
    assert harness.parked(REJECTED) == []


def test_a_redelivery_soon_after_a_crash_waits_for_the_erp_before_it_looks_up(harness):
    """A worker sent the create and crashed; Service Bus redelivers the message once its lock
    expires, while the ERP may still be working on that create, so a look-up now could miss it."""
    order = example("ecp-order")
    enqueued = T0 - timedelta(minutes=1)
    erp_integrator(order_message(order, delivery_count=2, enqueued_time_utc=enqueued))

    assert harness.erp.requests == []
    [retry] = harness.bus.messages("online-orders")
    assert retry.enqueue_at >= T0 + timedelta(minutes=15)
    assert "an earlier delivery may have sent a create" in retry.message.application_properties["lastError"]
    harness.erp.seed(load_plain(to_erp_sales_order(order, DEFAULTS)))  # the crashed worker's create commits
    harness.run_due("online-orders", "erp_integrator", until=T0 + timedelta(hours=1))

    assert [r.method for r in harness.erp.requests] == ["GET"]
    assert len(harness.erp.orders_for("ord-100045")) == 1
    assert harness.parked(REJECTED) == [] and harness.bus.messages("online-orders") == []


def test_a_retry_of_a_message_the_queue_already_holds_is_not_dropped_by_duplicate_detection(harness):
    message = order_message(example("ecp-order"))
    harness.bus.send("online-orders", OutboundMessage(body=message.get_body(), message_id=message.message_id))
    harness.erp.fail_next(503)
    erp_integrator(message)
    assert [s.message.message_id for s in harness.bus.messages("online-orders")] == ["ord-100045", "ord-100045+retry1"]
    assert harness.bus.dropped == []


def test_a_second_park_of_the_same_message_is_dropped_by_duplicate_detection(harness):
    order = example("ecp-order")
    del order["lines"]
    erp_integrator(order_message(order, correlation_id="evt-1"))
    erp_integrator(order_message(order, correlation_id="evt-1", delivery_count=2))  # completion was lost
    assert only_parked(harness).message_id == "ord-100045+parked"
    assert [s.message.message_id for s in harness.bus.dropped] == ["ord-100045+parked"]


def test_an_order_business_central_extended_with_item_text_lines_is_already_there(harness):
    """BC adds an item's extended text as Comment lines; a repeat message must not see a different order."""
    harness.erp.extended_texts = {"MUG-BLK": ["Spülmaschinenfest", "Nicht mikrowellengeeignet"]}
    order = example("ecp-order")
    erp_integrator(order_message(order))
    [stored] = harness.erp.orders_for("ord-100045")
    added = [line for line in stored["salesOrderLines"] if line["description"] == "Spülmaschinenfest"]
    assert [line["lineType"] for line in added] == ["Comment"]

    erp_integrator(repeat_of(order))

    assert harness.parked(REJECTED) == []
    assert [r.method for r in harness.erp.requests] == ["POST", "GET"]
    assert len(harness.erp.orders_for("ord-100045")) == 1


def test_an_existing_order_answered_in_lower_case_is_already_there(harness):
    """Code fields compare case-insensitively, item numbers and the externalDocumentNumber alike,
    whatever case an ERP (or something in front of it) answers them in."""
    order = example("ecp-order")
    harness.erp.seed(load_plain(to_erp_sales_order(order, DEFAULTS)))
    [stored] = harness.erp.orders_for("ord-100045")
    answered = {**stored, "externalDocumentNumber": "ord-100045"}
    answered["salesOrderLines"] = [
        {**line, "lineObjectNumber": line["lineObjectNumber"].lower()} for line in stored["salesOrderLines"]
    ]
    assert any(line["lineObjectNumber"] == "mug-blk" for line in answered["salesOrderLines"])
    harness.erp.fail_next(Fault(status=200, body={"value": [answered]}), method="GET")

    erp_integrator(repeat_of(order))

    assert harness.parked(REJECTED) == []
    assert [r.method for r in harness.erp.requests] == ["GET"]
