"""The two pipelines, described once as data: the names the engineers agreed on in the contracts.

Both directions have the same shape (topic -> Logic App -> queue -> Function), so they are two
values of one `PipelineSpec`, turned into resources by one `Pipeline` component.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PipelineSpec:
    """One direction of the integration, by its contract names."""

    key: str  # short logical name used for Pulumi resource names, e.g. "ecp-to-erp"
    source: str  # the system publishing events and serving the Logic App's fetch ("ecp" or "erp")
    topic_name: str
    event_type: str
    workflow_name: str
    queue_name: str
    parking_queue_name: str
    requires_session: bool
    function_name: str  # the integrator function consuming `queue_name`


ECP_TO_ERP = PipelineSpec(
    key="ecp-to-erp",
    source="ecp",
    topic_name="ecp-order-events",
    event_type="ECP.Order.Created",
    workflow_name="order-events-processor",
    queue_name="online-orders",
    parking_queue_name="online-orders-rejected",
    requires_session=False,
    function_name="erp_integrator",
)

ERP_TO_ECP = PipelineSpec(
    key="erp-to-ecp",
    source="erp",
    topic_name="erp-order-events",
    event_type="ERP.SalesOrder.Updated",
    workflow_name="erp-events-processor",
    queue_name="order-updates",
    parking_queue_name="order-updates-rejected",
    # Per-order ordering: SessionId = ECP order id, so updates of one order are handled in sequence.
    requires_session=True,
    function_name="ecp_integrator",
)

PIPELINES = (ECP_TO_ERP, ERP_TO_ECP)
