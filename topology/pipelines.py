"""The two pipelines, declared once as data: every name the parts of one direction share.

Both directions have the same shape (topic -> Logic App -> queue -> Function -> target), so they are
two values of one `PipelineSpec`. Pulumi builds them, the workflows receive their queue names as
parameters, the Functions app binds its triggers to them through app settings (`%NAME%`), and the
tooling reads them from here.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PipelineSpec:
    """One direction of the integration, by its contract names."""

    key: str  # Pulumi logical-name prefix and stack-output key, e.g. "ecp-to-erp"
    source: str  # the system that publishes the events and serves the workflow's fetch
    target: str  # the system the integrator function writes to
    topic_name: str
    event_type: str
    workflow_name: str
    queue_name: str
    parking_queue_name: str
    # The event-data field whose value is the queue message's SessionId; None: the queue has no sessions.
    session_key: str | None
    function_name: str  # the integrator function that consumes `queue_name`
    parked_by: str  # the `parkedBy` property the integrator sets on the messages it parks

    @property
    def requires_session(self) -> bool:
        """Whether `queue_name` is a session queue (fixed when the queue is created)."""
        return self.session_key is not None

    @property
    def settings_prefix(self) -> str:
        """Prefix of the app settings about this pipeline's queue, e.g. `ONLINE_ORDERS`."""
        return self.queue_name.upper().replace("-", "_")

    @property
    def queue_setting(self) -> str:
        """The app setting that names the queue the function's trigger is bound to."""
        return f"{self.settings_prefix}_QUEUE"

    @property
    def parking_queue_setting(self) -> str:
        """The app setting that names the queue the integrator parks this pipeline's messages in."""
        return f"{self.settings_prefix}_PARKING_QUEUE"

    @property
    def queue_binding(self) -> str:
        """The trigger's queue name as a binding expression, resolved from the app setting by the host
        (https://learn.microsoft.com/azure/azure-functions/functions-bindings-expressions-patterns#binding-expressions---app-settings)."""
        return f"%{self.queue_setting}%"


ECP_TO_ERP = PipelineSpec(
    key="ecp-to-erp",
    source="ecp",
    target="erp",
    topic_name="ecp-order-events",
    event_type="ECP.Order.Created",
    workflow_name="order-events-processor",
    queue_name="online-orders",
    parking_queue_name="online-orders-rejected",
    session_key=None,
    function_name="erp_integrator",
    parked_by="erp-integrator",
)

ERP_TO_ECP = PipelineSpec(
    key="erp-to-ecp",
    source="erp",
    target="ecp",
    topic_name="erp-order-events",
    event_type="ERP.SalesOrder.Updated",
    workflow_name="erp-events-processor",
    queue_name="order-updates",
    parking_queue_name="order-updates-rejected",
    # Per-order ordering: the updates of one ECP order are one session, handled in sequence.
    session_key="ecpOrderId",
    function_name="ecp_integrator",
    parked_by="ecp-integrator",
)

PIPELINES = (ECP_TO_ERP, ERP_TO_ECP)


def pipeline_of_function(function_name: str) -> PipelineSpec:
    """The pipeline whose queue the integrator function `function_name` consumes."""
    for pipeline in PIPELINES:
        if pipeline.function_name == function_name:
            return pipeline
    raise KeyError(f"no pipeline is consumed by function {function_name!r}")
