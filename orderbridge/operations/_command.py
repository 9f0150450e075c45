"""`orderbridge refetch`: the click command over `orderbridge.operations.refetch`."""
from __future__ import annotations

import os
import sys

import click

from orderbridge.operations._bus import AzureServiceBus
from orderbridge.operations._errors import MessagesStayParked, OperationError
from orderbridge.operations.refetch import EcpOrders, RefetchReport, Verdict, checked_base_url, refetch, source_for
from topology import ECP_TO_ERP, PIPELINES

CONNECTION_STRING_ENV = "ORDERBRIDGE_SERVICE_BUS_CONNECTION_STRING"
ECP_API_KEY_ENV = "ECP_API_KEY"


def open_service_bus(namespace: str | None, connection_string: str | None) -> AzureServiceBus:
    """Service Bus by namespace (Entra ID) or by connection string (the local stack); exactly one."""
    if (namespace is None) == (connection_string is None):
        raise OperationError(
            "give exactly one of --namespace (Azure: `pulumi stack output serviceBusNamespaceFqdn`) and "
            f"--connection-string / ${CONNECTION_STRING_ENV} (the local stack)"
        )
    if connection_string is not None:
        return AzureServiceBus.from_connection_string(connection_string)
    assert namespace is not None
    if "." not in namespace or "/" in namespace:
        raise OperationError(
            f"--namespace takes the namespace's host name, e.g. sb-orderbridge-dev.servicebus.windows.net, got {namespace!r}"
        )
    return AzureServiceBus.for_namespace(namespace)


def _ecp_api_key() -> str:
    """From $ECP_API_KEY, or typed without echo: a key on the command line would land in shell history."""
    key = os.environ.get(ECP_API_KEY_ENV, "")
    if not key and sys.stdin.isatty():
        key = click.prompt("ECP API key", hide_input=True, err=True)
    if not key:
        raise OperationError(
            f"set ${ECP_API_KEY_ENV} to the ECP API key (in Azure: the Key Vault secret ecp-api-key), "
            "or run in a terminal to type it"
        )
    if any(c in key for c in "\r\n"):
        raise OperationError(f"${ECP_API_KEY_ENV} contains a line break; it cannot be a header value")
    return key


@click.command("refetch")
@click.option("--pipeline", "pipeline_key", type=click.Choice([p.key for p in PIPELINES]), default=ECP_TO_ERP.key,
              show_default=True, help="The pipeline whose parking queue is read (names from topology/).")
@click.option("--order-id", default=None, help="Re-fetch only this order (any letter case) [default: every parked order].")
@click.option("--reason", "reasons", multiple=True, help="Only messages parked with this reason; repeatable.")
@click.option("--namespace", default=None, help="Service Bus host name in Azure (Entra ID via DefaultAzureCredential).")
@click.option("--connection-string", default=None, envvar=CONNECTION_STRING_ENV, show_envvar=True,
              help="Service Bus connection string, for the local stack (prefer the environment variable).")
@click.option("--ecp-base-url", required=True, envvar="ECP_BASE_URL", show_envvar=True,
              help="The ECP API's base URL (the stack's ecpBaseUrl). The key is read from $ECP_API_KEY.")
@click.option("--dry-run", is_flag=True, help="Fetch and check only: lock, send and remove nothing.")
@click.pass_context
def refetch_command(ctx: click.Context, pipeline_key: str, order_id: str | None, reasons: tuple[str, ...],
                    namespace: str | None, connection_string: str | None, ecp_base_url: str, dry_run: bool) -> None:
    """Fetch parked orders from the ECP again and queue the ones it now answers correctly.

    Each order is queued as {orderId}+refetch{n}, which the ERP integrator looks up before creating;
    its parked messages are removed only after that send. Everything else stays parked, with the reason.
    """
    if ctx.get_parameter_source("connection_string") is click.core.ParameterSource.COMMANDLINE:
        click.secho(f"WARNING: a connection string on the command line stays in the shell history and the process "
                    f"list; set ${CONNECTION_STRING_ENV} instead", fg="yellow", err=True)
    source = source_for(pipeline_key)
    base_url = checked_base_url(ecp_base_url)
    ecp = EcpOrders(base_url, _ecp_api_key())
    bus = open_service_bus(namespace, connection_string)
    try:
        report = refetch(source, bus, ecp, order_id=order_id, reasons=reasons, dry_run=dry_run)
    finally:
        bus.close()
        ecp.client.close()
    _print(report, source.pipeline.parking_queue_name)


def _print(report: RefetchReport, parking_queue: str) -> None:
    """One line per parked message; MessagesStayParked (exit 1) if any stays parked."""
    if not report.outcomes:
        click.echo(f"no parked message to re-fetch in {parking_queue}")
    for outcome in report.outcomes:
        target = f" -> {outcome.queued_as}" if outcome.queued_as and outcome.verdict is not Verdict.LEFT_PARKED else ""
        click.echo(f"{outcome.verdict.value:<12} {outcome.parked_message_id} (order {outcome.order_id or '?'}){target}: "
                   f"{outcome.detail}")
    for note in report.notes:
        click.echo(f"note: {note}")
    left = report.left_parked
    if left:
        raise MessagesStayParked(
            f"{len(left)} of {len(report.outcomes)} parked messages stay parked in {parking_queue}; the lines above say why"
        )

