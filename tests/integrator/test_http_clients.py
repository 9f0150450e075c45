"""The target client against a real local HTTP server: every status class, timeouts, Retry-After."""
from __future__ import annotations

import socket
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from order_integration.errors import OutcomeUnknown, TargetRejected, TargetUnavailable
from order_integration.http_clients import HttpTimeouts, TargetApi, build_client, parse_retry_after
from orderbridge.fake_apis import FakeErp, Fault

API_KEY = "erp-test-key"
FAST_TIMEOUTS = HttpTimeouts(connect=1.0, read=0.3, pool=1.0)


@pytest.fixture()
def erp():
    with FakeErp(api_key=API_KEY) as server:
        yield server


@pytest.fixture()
def api(erp):
    client = build_client(FAST_TIMEOUTS)
    yield TargetApi(name="ERP", base_url=erp.base_url + "/", api_key=API_KEY, client=client)
    client.clear()


def lookup(api: TargetApi):
    return api.call(
        "GET",
        "/salesOrders",
        params={"$filter": "externalDocumentNumber eq 'ord-1'"},
        correlation_id="corr-42",
    )


def test_success_returns_parsed_json_and_sends_key_and_correlation_headers(api, erp):
    assert lookup(api) == {"value": []}
    [request] = erp.requests
    assert request.path == "/salesOrders"
    assert request.query == {"$filter": "externalDocumentNumber eq 'ord-1'"}
    assert request.headers["x-api-key"] == API_KEY
    assert request.headers["x-correlation-id"] == "corr-42"


def test_post_sends_the_given_json_bytes(api, erp):
    body = b'{"externalDocumentNumber":"ord-1","customerNumber":"WEB","salesOrderLines":[{"sequence":10000}]}'
    created = api.call("POST", "/salesOrders", content=body, correlation_id="c")
    assert created["externalDocumentNumber"] == "ORD-1"  # a Code field: the ERP stores it upper-cased
    assert erp.requests[0].headers["content-type"] == "application/json"
    assert len(erp.orders_for("ord-1")) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429, 401, 403])
def test_retryable_statuses_raise_target_unavailable(api, erp, status):
    erp.fail_next(status)
    with pytest.raises(TargetUnavailable, match=f"ERP answered HTTP {status} on GET /salesOrders"):
        lookup(api)


@pytest.mark.parametrize("status", [400, 404, 409, 422])
def test_other_4xx_raise_target_rejected_with_the_targets_message(api, erp, status):
    erp.fail_next(Fault(status=status, body={"error": {"code": "BadRequest", "message": "Item XYZ does not exist"}}))
    with pytest.raises(TargetRejected) as caught:
        lookup(api)
    assert caught.value.status_code == status
    assert caught.value.reason == "TargetRejected"
    assert "Item XYZ does not exist" in str(caught.value)


def test_retry_after_seconds_travels_on_the_error(api, erp):
    erp.fail_next(Fault(status=429, retry_after="120"))
    with pytest.raises(TargetUnavailable) as caught:
        lookup(api)
    assert caught.value.retry_after == 120.0


def test_retry_after_http_date_becomes_seconds(api, erp):
    erp.fail_next(Fault(status=503, retry_after="Fri, 27 Nov 2026 17:00:00 GMT"))
    with pytest.raises(TargetUnavailable) as caught:
        lookup(api)
    assert caught.value.retry_after is not None and caught.value.retry_after >= 0


def test_read_timeout_is_transient(api, erp):
    erp.fail_next(Fault(status=200, delay=1.0))
    with pytest.raises(TargetUnavailable, match="timed out on GET /salesOrders"):
        lookup(api)


def test_dropped_connection_is_transient(api, erp):
    erp.fail_next(Fault(disconnect=True))
    with pytest.raises(TargetUnavailable, match="unreachable on GET /salesOrders"):
        lookup(api)


def test_refused_connection_is_transient(erp):
    base_url = erp.base_url
    erp.stop()
    client = build_client(FAST_TIMEOUTS)
    api = TargetApi(name="ERP", base_url=base_url, api_key=API_KEY, client=client)
    with pytest.raises(TargetUnavailable, match="ERP unreachable"):
        lookup(api)
    client.clear()


def test_2xx_that_is_not_json_is_transient(api, erp):
    erp.fail_next(Fault(status=200, body=b"<html>maintenance</html>"))
    with pytest.raises(TargetUnavailable, match="body that is not JSON"):
        lookup(api)


def test_connections_are_pooled_across_calls(api, erp):
    for _ in range(5):
        lookup(api)
    assert len(erp.requests) == 5
    assert erp.connections_opened == 1


def test_parse_retry_after_forms():
    now = datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc)
    assert parse_retry_after("30") == 30.0
    assert parse_retry_after("Fri, 27 Nov 2026 16:01:00 GMT", now) == 60.0
    assert parse_retry_after("Fri, 27 Nov 2026 15:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def create(api: TargetApi, wait: float | None = 900.0):
    body = b'{"externalDocumentNumber":"ord-1","customerNumber":"WEB","salesOrderLines":[{"sequence":10000}]}'
    return api.call("POST", "/salesOrders", content=body, correlation_id="c", unknown_outcome_retry_after=wait)


@pytest.mark.parametrize("fault", [Fault(status=201, delay=1.0, applied=True), Fault(disconnect=True, applied=True)])
def test_a_create_sent_without_an_answer_has_an_unknown_outcome_and_waits_for_the_erp(api, erp, fault):
    erp.fail_next(fault, method="POST")
    with pytest.raises(OutcomeUnknown) as caught:
        create(api)
    assert caught.value.retry_after == 900.0
    assert "may still carry it out" in str(caught.value)


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_timeout_on_a_create_has_an_unknown_outcome(api, erp, status):
    erp.fail_next(Fault(status=status, retry_after="30"), method="POST")
    with pytest.raises(OutcomeUnknown) as caught:
        create(api)
    assert caught.value.retry_after == 900.0


def test_a_create_refused_or_answered_503_is_an_ordinary_transient_failure(api, erp):
    erp.fail_next(503, method="POST")
    with pytest.raises(TargetUnavailable) as answered:
        create(api)
    base_url = erp.base_url
    erp.stop()
    client = build_client(FAST_TIMEOUTS)  # a fresh pool: the connection is refused, nothing was sent
    with pytest.raises(TargetUnavailable) as refused:
        create(TargetApi(name="ERP", base_url=base_url, api_key=API_KEY, client=client))
    client.clear()
    for caught in (answered, refused):
        assert not isinstance(caught.value, OutcomeUnknown)
    assert "unreachable" in str(refused.value)


def test_a_read_timeout_on_a_look_up_is_not_an_unknown_outcome(api, erp):
    erp.fail_next(Fault(status=200, delay=1.0))
    with pytest.raises(TargetUnavailable) as caught:
        lookup(api)
    assert not isinstance(caught.value, OutcomeUnknown)


def test_amounts_in_answers_are_exact_decimals(api, erp):
    erp.fail_next(Fault(status=200, body=b'{"value": [{"unitPrice": 12.90, "quantity": 2}]}'))
    [line] = lookup(api)["value"]
    assert line["unitPrice"] == Decimal("12.90") and str(line["unitPrice"]) == "12.90"
    assert line["quantity"] == 2 and isinstance(line["quantity"], int)


def test_the_odata_query_goes_out_percent_encoded_with_spaces_as_percent_20(api, erp):
    api.call("GET", "/salesOrders", params={"$filter": "externalDocumentNumber eq 'ord 1'"}, correlation_id="c")
    [request] = erp.requests
    assert request.target == "/salesOrders?$filter=externalDocumentNumber%20eq%20'ord%201'"


def test_every_request_names_the_client_and_asks_for_json(api, erp):
    lookup(api)
    [request] = erp.requests
    assert request.headers["user-agent"] == "orderbridge-integrator"
    assert request.headers["accept"] == "application/json"


def test_a_redirect_is_not_followed_so_the_api_key_stays_with_the_target(api, erp):
    erp.fail_next(Fault(status=302, headers={"Location": erp.base_url + "/elsewhere"}, body={"moved": True}))
    with pytest.raises(TargetRejected) as caught:
        lookup(api)
    assert caught.value.status_code == 302
    assert len(erp.requests) == 1


def test_a_create_that_waited_in_vain_for_a_pooled_connection_was_never_sent(erp):
    """With every connection busy, the request waits `pool` seconds and is then an ordinary
    transient failure: it never left, so it is no unknown outcome."""
    client = build_client(HttpTimeouts(connect=1.0, read=1.0, pool=0.05), max_connections=1)
    api = TargetApi(name="ERP", base_url=erp.base_url, api_key=API_KEY, client=client, pool_timeout=0.05)
    erp.fail_next(Fault(status=200, delay=0.5, body={"value": []}))
    busy = threading.Thread(target=lookup, args=(api,))
    busy.start()
    time.sleep(0.1)
    with pytest.raises(TargetUnavailable) as caught:
        create(api)
    busy.join()
    client.clear()
    assert not isinstance(caught.value, OutcomeUnknown)
    assert "EmptyPoolError" in str(caught.value)
    assert [r.method for r in erp.requests] == ["GET"]


def test_pooled_connections_send_tcp_keepalives(api, erp):
    """Azure drops a flow idle for 4 minutes silently; keepalives after 60 s keep pooled ones usable."""
    lookup(api)
    pool = api._client.connection_from_url(erp.base_url)
    connection = pool._get_conn()
    try:
        assert connection.sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) == 1
        if hasattr(socket, "TCP_KEEPIDLE"):
            assert connection.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 60
    finally:
        pool._put_conn(connection)


def test_a_correlation_id_that_is_no_valid_header_value_travels_percent_encoded(api, erp):
    api.call("GET", "/salesOrders", params={"$filter": "externalDocumentNumber eq 'x'"}, correlation_id="evt-1\r\nX-Evil: €")
    [request] = erp.requests
    assert request.headers["x-correlation-id"] == "evt-1%0D%0AX-Evil: %E2%82%AC"
    assert "x-evil" not in request.headers
