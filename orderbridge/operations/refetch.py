"""Re-fetch orders parked on the ECP -> ERP pipeline: fetch each order from the ECP again and queue
it under a new MessageId, instead of replaying the body that was parked.

A replay would send the same bad body again, and re-publishing the event does nothing while the
queue's duplicate detection remembers the order id. The re-fetched message is named
`{orderId}+refetch{n}` and carries `originalMessageId`, so the ERP integrator never takes it for a
first delivery and looks the order up before creating it. integrator_func/README.md ("Re-fetching an
order parked as malformed") says when to use it and what it relies on.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from infra.package import REPO_ROOT
from infra.workflow_definitions import workflow_path
from orderbridge.operations._bus import HeldMessages, ParkedMessage, QueueMessage, ServiceBusAccess, redact
from orderbridge.operations._errors import OperationError, ServiceBusUnavailable
from topology import ECP_TO_ERP, PIPELINES, PipelineSpec

# The ERP integrator's property names (integrator_func/order_integration/messages.py, redelivery.py):
# a message with `originalMessageId` is never a provably first delivery, so it is looked up.
ORIGINAL_MESSAGE_ID = "originalMessageId"
REFETCH_COUNT = "refetchCount"
# The integrator writes this into a park whose ERP create may still commit (redelivery.py).
_NOT_BEFORE = re.compile(r"do not replay before (\d{4}-\d{2}-\d{2} \d{2}:\d{2}) UTC")
# Any header of the workflow's send action other than these is a custom property copied from the event.
_BROKER_HEADERS = frozenset({"BrokerProperties", "Content-Type"})
_EVENT_FIELD = re.compile(r"""^"@\{items\('For_each_event'\)\?\['(\w+)'\]\}"$""")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
ECP_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class PipelineSource:
    """How a pipeline's workflow fetches and queues its resource, as far as the re-fetch repeats it."""

    pipeline: PipelineSpec
    send_action: str  # the workflow action whose headers name the queued message's properties
    event_contract: str  # schemas/ contract of the event's `data` (its id rule)
    resource_contract: str  # schemas/ contract of the fetched body
    id_field: str  # the field of the event's data that names the resource

    def resource_path(self, resource_id: str) -> str:
        """`/orders/{id}` as the workflow's `Get_order_from_ECP` builds it (encodeUriComponent leaves
        the ids the contract admits, [A-Za-z0-9._-], unchanged, as `quote` does)."""
        return "/orders/" + quote(resource_id, safe="")


SOURCES = {
    ECP_TO_ERP.key: PipelineSource(
        pipeline=ECP_TO_ERP,
        send_action="Send_order_to_queue",
        event_contract="ecp-order-created-event",
        resource_contract="ecp-order",
        id_field="orderId",
    ),
}


def source_for(pipeline_key: str) -> PipelineSource:
    """The re-fetch recipe of the pipeline `pipeline_key` (a topology key)."""
    if pipeline_key in SOURCES:
        return SOURCES[pipeline_key]
    known = [p.key for p in PIPELINES]
    if pipeline_key in known:
        raise OperationError(
            f"re-fetch covers the {', '.join(SOURCES)} pipeline only; a parked {pipeline_key} message is "
            "replayed once its cause is fixed (integrator_func/README.md, 'Replaying a parked message')"
        )
    raise OperationError(f"unknown pipeline {pipeline_key!r}; the pipelines are {', '.join(known)}")


class Verdict(Enum):
    """What happened to one parked message."""

    QUEUED = "queued"
    WOULD_QUEUE = "would queue"
    LEFT_PARKED = "left parked"


@dataclass(frozen=True)
class Outcome:
    """One parked message's result: its verdict, the MessageId queued (if any) and why."""

    parked_message_id: str
    order_id: str | None
    verdict: Verdict
    detail: str
    queued_as: str | None = None


@dataclass(frozen=True)
class RefetchReport:
    """Every selected parked message's outcome, plus notes that concern no single message."""

    outcomes: tuple[Outcome, ...]
    notes: tuple[str, ...] = ()

    @property
    def left_parked(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.verdict is Verdict.LEFT_PARKED]


@dataclass(frozen=True)
class EcpOrders:
    """The ECP's order API, called the way the workflow's fetch action calls it."""

    base_url: str
    api_key: str = field(repr=False)
    client: httpx.Client = field(repr=False, default_factory=lambda: httpx.Client(timeout=ECP_TIMEOUT_SECONDS))

    def get(self, path: str) -> httpx.Response:
        """GET `path` with the workflow's headers (Accept, X-Api-Key); httpx errors propagate."""
        return self.client.get(
            self.base_url + path, headers={"Accept": "application/json", "X-Api-Key": self.api_key}
        )


def checked_base_url(url: str) -> str:
    """`url` without its trailing slash, if it is an absolute https URL (http only to this machine)."""
    parts = urlsplit(url)
    local = parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS
    if not (parts.scheme == "https" or local) or not parts.netloc or parts.query or parts.fragment:
        raise OperationError(
            f"the ECP base URL must be an https URL without query or fragment (http only for 127.0.0.1 or "
            f"localhost: the API key travels in a header), got {url!r}; it is the stack's ecpBaseUrl"
        )
    return url.rstrip("/")


@dataclass(frozen=True)
class _Claim:
    """A parked message and the order it stands for, or why it cannot be re-fetched."""

    parked: ParkedMessage
    order_id: str | None
    correlation_id: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None

    @property
    def refetch_count(self) -> int:
        value = self.parked.application_properties.get(REFETCH_COUNT)
        return int(value) if isinstance(value, int | str) and str(value).isdigit() else 0


@dataclass(frozen=True)
class _Plan:
    """The message to queue for one order and the parked messages it replaces."""

    message: QueueMessage
    claims: tuple[_Claim, ...]


def refetch(
    source: PipelineSource,
    bus: ServiceBusAccess,
    ecp: EcpOrders,
    *,
    order_id: str | None = None,
    reasons: Iterable[str] = (),
    dry_run: bool = False,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
) -> RefetchReport:
    """Re-fetch the parked orders of `source`'s pipeline (all, or `order_id`'s, or those parked for `reasons`).

    An order is queued only if the ECP now answers with a body that passes the workflow's checks and
    the contract; then its parked messages are completed. Every other parked message stays parked.
    """
    pipeline = source.pipeline
    claims = [_claim(m, source) for m in bus.peek(pipeline.parking_queue_name)]
    selected = [c for c in claims if _selected(c, order_id, set(reasons))]
    if order_id is not None and not selected:
        raise OperationError(
            f"no message for order {order_id!r} is parked in {pipeline.parking_queue_name!r}"
            + (f" with reason {', '.join(sorted(reasons))}" if reasons else "")
        )
    outcomes: list[Outcome] = []
    plans: list[_Plan] = []
    for group in _by_order(selected):
        left, plan = _prepare(group, claims, source, ecp, now())
        outcomes.extend(left)
        if plan is not None and dry_run:
            outcomes.extend(_queued(c, plan, Verdict.WOULD_QUEUE, "the ECP now answers a valid order") for c in plan.claims)
        elif plan is not None:
            plans.append(plan)
    if not plans:
        return RefetchReport(tuple(outcomes))
    wanted = {c.parked.sequence_number for plan in plans for c in plan.claims}
    with bus.hold(pipeline.parking_queue_name, wanted) as held:
        for plan in plans:
            outcomes.extend(_deliver(plan, bus, held, pipeline.queue_name))
    return RefetchReport(tuple(outcomes), tuple(held.notes))


def _prepare(
    group: list[_Claim], claims: list[_Claim], source: PipelineSource, ecp: EcpOrders, now: datetime
) -> tuple[list[Outcome], _Plan | None]:
    """The outcomes of the group's claims that stay parked, and the message for the rest, if any."""
    left = [_left_parked(c, c.problem) for c in group if c.problem]
    ready = tuple(c for c in group if not c.problem)
    if not ready:
        return left, None
    same_order = [c for c in claims if c.order_id == ready[0].order_id]
    wait = _wait_until(same_order, now)
    if wait is not None:
        return left + [_left_parked(c, _wait_text(wait)) for c in ready], None
    plan, problem = _plan(source, ecp, ready, max(c.refetch_count for c in same_order) + 1)
    if plan is None:
        return left + [_left_parked(c, problem or "") for c in ready], None
    return left, plan


def _claim(parked: ParkedMessage, source: PipelineSource) -> _Claim:
    """Which order `parked` stands for: the integrator parks the queued message, the workflow the event."""
    pipeline = source.pipeline
    parked_by = parked.application_properties.get("parkedBy")
    if parked_by == pipeline.parked_by:
        return _claim_of_queued_message(parked, source)
    if parked_by == pipeline.workflow_name:
        return _claim_of_event(parked, source)
    return _Claim(
        parked, None, problem=f"parked by {parked_by!r}, neither {pipeline.workflow_name!r} nor "
        f"{pipeline.parked_by!r}: not a message this command can re-fetch; see its reason and description",
    )


def _claim_of_queued_message(parked: ParkedMessage, source: PipelineSource) -> _Claim:
    """A message the integrator parked: its `originalMessageId` is the order id the workflow gave it."""
    order_id = parked.application_properties.get(ORIGINAL_MESSAGE_ID)
    problem = _id_problem(order_id, source)
    if problem:
        return _Claim(parked, None, problem=f"its {ORIGINAL_MESSAGE_ID} {problem}")
    properties = {k: parked.application_properties[k] for k in sent_properties(source) if k in parked.application_properties}
    return _Claim(parked, order_id, parked.correlation_id, properties)


def _claim_of_event(parked: ParkedMessage, source: PipelineSource) -> _Claim:
    """An event the workflow parked: it names the order, and gives the properties the workflow sends."""
    try:
        event = json.loads(parked.body)
    except ValueError:
        event = None
    if not isinstance(event, dict) or event.get("eventType") != source.pipeline.event_type:
        return _Claim(parked, None, problem=f"the parked body is not an {source.pipeline.event_type} event")
    data = event.get("data")
    order_id = data.get(source.id_field) if isinstance(data, dict) else None
    problem = _id_problem(order_id, source)
    if problem:
        return _Claim(parked, None, problem=f"the event's data.{source.id_field} {problem}")
    # The workflow interpolates each field ("@{...}"): null becomes an empty string.
    properties = {name: "" if event.get(f) is None else str(event.get(f)) for name, f in sent_properties(source).items()}
    return _Claim(parked, order_id, str(event.get("id")), properties)


def _id_problem(value: Any, source: PipelineSource) -> str | None:
    """Why `value` is not an id the event contract admits (it becomes a URL path segment and a MessageId)."""
    rule = _schema(source.event_contract)["properties"][source.id_field]
    if not isinstance(value, str):
        return "is missing"
    if not (rule["minLength"] <= len(value) <= rule["maxLength"] and re.fullmatch(rule["pattern"], value)):
        return f"is not an id schemas/{source.event_contract}.schema.json admits"
    return None


def _selected(claim: _Claim, order_id: str | None, reasons: set[str]) -> bool:
    if reasons and claim.parked.application_properties.get("reason") not in reasons:
        return False
    # Business Central upper-cases the id (Code[35]): an operator may have copied either form.
    return order_id is None or (claim.order_id or "").upper() == order_id.upper()


def _by_order(claims: list[_Claim]) -> list[list[_Claim]]:
    """Claims grouped by order id, so one order is queued once however often it is parked; the
    unidentified ones each in their own group."""
    groups: dict[Any, list[_Claim]] = {}
    for claim in claims:
        groups.setdefault(claim.order_id or id(claim), []).append(claim)
    return list(groups.values())


def _wait_until(claims: Iterable[_Claim], now: datetime) -> datetime | None:
    """The latest time before which the integrator said not to replay one of `claims` (an ERP create
    of the order may still commit), if it is still ahead."""
    times = [_not_before(c) for c in claims]
    latest = max((t for t in times if t is not None), default=None)
    return latest if latest is not None and now < latest else None


def _not_before(claim: _Claim) -> datetime | None:
    match = _NOT_BEFORE.search(str(claim.parked.application_properties.get("description", "")))
    if match is None:
        return None
    # Written to the minute, rounded down: the next minute is the earliest safe one.
    written = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
    return written + timedelta(minutes=1)


def _wait_text(until: datetime) -> str:
    return (
        f"the ERP may still commit an earlier create of this order: re-fetch after {until:%Y-%m-%d %H:%M} UTC, "
        "when the integrator's look-up will find it"
    )


def _plan(source: PipelineSource, ecp: EcpOrders, claims: tuple[_Claim, ...], number: int) -> tuple[_Plan | None, str | None]:
    """The message for the claims' order if the ECP answers a valid order now, else why not."""
    order_id = claims[0].order_id or ""
    try:
        response = ecp.get(source.resource_path(order_id))
    except httpx.HTTPError as exc:
        return None, f"the ECP did not answer: {type(exc).__name__}: {redact(str(exc), [ecp.api_key])[:200]}"
    problem = _body_problem(response, order_id, source.resource_contract)
    if problem:
        return None, f"the ECP still answers something other than the order: {problem}"
    first = claims[0]
    message = QueueMessage(
        body=response.content,
        message_id=f"{order_id}+refetch{number}",
        correlation_id=first.correlation_id,
        application_properties={**first.properties, ORIGINAL_MESSAGE_ID: order_id, REFETCH_COUNT: number},
    )
    return _Plan(message, claims), None


def _body_problem(response: httpx.Response, order_id: str, contract: str) -> str | None:
    """The workflow's body verdict (a JSON object whose id is the order id), then the contract."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}" + (f" (the ECP has no order {order_id})" if response.status_code == 404 else "")
    content_type = response.headers.get("Content-Type", "")
    if not content_type.lower().startswith("application/json"):
        return f"Content-Type {content_type[:60]!r}, not application/json"
    try:
        order = json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return "a body that is not JSON"
    if not isinstance(order, dict):
        return f"a JSON {type(order).__name__}, not an object"
    if order.get("id") != order_id:
        return f"an object whose id is not {order_id!r}"
    violations = contract_violations(contract, order)
    return f"it violates schemas/{contract}.schema.json: {'; '.join(violations[:5])}" if violations else None


def contract_violations(contract: str, instance: Any) -> list[str]:
    """Where `instance` breaks `contract`, by JSON path and rule, never quoting a value (personal data)."""
    return [f"{_pointer(e.instance_path)} {_rule(e)}" for e in _validator(contract).iter_errors(instance)]


def _rule(error: Any) -> str:
    keyword = str(error.schema_path[-1]) if error.schema_path else "schema"
    # `required` names the missing key, never a value; every other keyword is named, not explained.
    return error.message if keyword == "required" else f"fails {keyword!r}"


def _pointer(path: Iterable[int | str]) -> str:
    return "/" + "/".join(str(p) for p in path)


@cache
def _schema(contract: str) -> dict[str, Any]:
    return json.loads((REPO_ROOT / "schemas" / f"{contract}.schema.json").read_text(encoding="utf-8"), parse_float=Decimal)


@cache
def _validator(contract: str) -> Any:
    # jsonschema-rs with formats, as the integrator validates (order_integration/contracts.py): a body
    # queued here is one the integrator accepts as this contract.
    import jsonschema_rs

    return jsonschema_rs.Draft202012Validator(_schema(contract), validate_formats=True)


@cache
def sent_properties(source: PipelineSource) -> dict[str, str]:
    """The custom properties the workflow's send action sets, by name, each with the event field it copies."""
    path = workflow_path(source.pipeline.workflow_name)
    action = _find_action(json.loads(path.read_text(encoding="utf-8"))["actions"], source.send_action)
    if action is None:
        raise OperationError(f"{path} has no action {source.send_action!r}; update orderbridge/operations/refetch.py")
    properties: dict[str, str] = {}
    for name, value in action["inputs"]["headers"].items():
        if name in _BROKER_HEADERS:
            continue
        match = _EVENT_FIELD.match(str(value))
        if match is None:
            raise OperationError(
                f"{path}: {source.send_action} sets the property {name} from {value!r}, not from one event "
                "field; teach orderbridge/operations/refetch.py how to set it"
            )
        properties[name] = match.group(1)
    return properties


def _find_action(actions: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for action_name, action in actions.items():
        if action_name == name:
            return action
        found = _find_action(action.get("actions", {}), name)
        if found is not None:
            return found
    return None


def _deliver(plan: _Plan, bus: ServiceBusAccess, held: HeldMessages, queue: str) -> list[Outcome]:
    """Send the plan's message, then complete its parked messages; whatever fails stays parked."""
    if not any(c.parked.sequence_number in held.held for c in plan.claims):
        return [_left_parked(c, _NOT_LOCKED) for c in plan.claims]
    try:
        bus.send(queue, plan.message)
    except ServiceBusUnavailable as exc:
        return [_left_parked(c, f"the re-fetched order could not be queued: {exc}") for c in plan.claims]
    return [_complete(c, plan, held) for c in plan.claims]


_NOT_LOCKED = "it could not be locked (another receiver holds it, or it was removed since it was peeked); run again"


def _complete(claim: _Claim, plan: _Plan, held: HeldMessages) -> Outcome:
    queued = f"queued as {plan.message.message_id}"
    if claim.parked.sequence_number not in held.held:
        return _left_parked(claim, f"{queued}, but {_NOT_LOCKED}: the next run's send of the same MessageId is dropped by duplicate detection")
    try:
        held.complete(claim.parked.sequence_number)
    except ServiceBusUnavailable as exc:
        return _left_parked(
            claim, f"{queued}, but it could not be removed from the parking queue ({exc}); run again: the same "
            "MessageId is sent, which duplicate detection drops, and the parked message is removed",
        )
    return _queued(claim, plan, Verdict.QUEUED, "the ECP answered a valid order; the parked message is removed")


def _queued(claim: _Claim, plan: _Plan, verdict: Verdict, detail: str) -> Outcome:
    return Outcome(claim.parked.message_id, claim.order_id, verdict, detail, plan.message.message_id)


def _left_parked(claim: _Claim, detail: str) -> Outcome:
    return Outcome(claim.parked.message_id, claim.order_id, Verdict.LEFT_PARKED, detail)
