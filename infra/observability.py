"""Log Analytics, workspace-based Application Insights, the alert action group, and helpers every
other component uses to send diagnostics and declare metric alerts."""
from __future__ import annotations

from dataclasses import dataclass

import pulumi
from pulumi_azure_native import applicationinsights, monitor, operationalinsights

from infra.config import ALERT_WINDOWS
from infra.context import Deployment
from infra.naming import Names


# Metric alerts are evaluated every PT1M, PT5M, PT15M, PT30M or PT1H, never less often than their window
# (https://learn.microsoft.com/azure/azure-monitor/alerts/alerts-metric-create-templates); Azure answers
# 400 "Evaluation frequency must be greater than or equal to five minutes since the period is greater
# than four hours" to PT1M with a longer window (https://github.com/DFE-Digital/publish-teacher-training/pull/4368).
_LONG_WINDOWS = ("PT6H", "PT12H", "P1D")  # longer than four hours


def evaluation_frequency(window: str) -> str:
    """How often to evaluate an alert over `window`: every minute, or every five beyond four hours."""
    if window not in ALERT_WINDOWS:
        raise ValueError(f"metric alert window {window} is not one of {', '.join(ALERT_WINDOWS)}")
    return "PT5M" if window in _LONG_WINDOWS else "PT1M"


@dataclass(frozen=True)
class MetricAlertRule:
    """A static-threshold metric alert on one resource (optionally one entity, via a dimension)."""

    description: str
    scope: pulumi.Input[str]
    metric_namespace: str
    metric_name: str
    operator: str
    threshold: float
    aggregation: str
    window: str = "PT5M"
    severity: int = 2
    dimension: tuple[str, str] | None = None

    @property
    def frequency(self) -> str:
        return evaluation_frequency(self.window)


@dataclass(frozen=True)
class ObservabilityArgs:
    deployment: Deployment
    names: Names
    retention_days: int
    alert_email: str


class Observability(pulumi.ComponentResource):
    """Where logs, metrics and alerts of the whole stack go."""

    def __init__(self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("orderbridge:monitoring:Observability", name, None, opts)
        self._deployment = args.deployment
        child = pulumi.ResourceOptions(parent=self)
        self.workspace = operationalinsights.Workspace(
            f"{name}-workspace",
            workspace_name=args.names.log_workspace,
            resource_group_name=args.deployment.resource_group_name,
            location=args.deployment.location,
            sku=operationalinsights.WorkspaceSkuArgs(name="PerGB2018"),
            retention_in_days=args.retention_days,
            tags=dict(args.deployment.tags),
            opts=child,
        )
        self.app_insights = applicationinsights.Component(
            f"{name}-appinsights",
            resource_name_=args.names.app_insights,
            resource_group_name=args.deployment.resource_group_name,
            location=args.deployment.location,
            kind="web",
            application_type="web",
            # Workspace-based: telemetry lands in the same Log Analytics workspace as the diagnostics.
            workspace_resource_id=self.workspace.id,
            ingestion_mode="LogAnalytics",
            tags=dict(args.deployment.tags),
            opts=child,
        )
        self.action_group = monitor.ActionGroup(
            f"{name}-action-group",
            action_group_name=args.names.action_group,
            group_short_name=args.names.action_group_short,
            resource_group_name=args.deployment.resource_group_name,
            location="global",
            enabled=True,
            email_receivers=[
                monitor.MicrosoftCommonEmailReceiverArgs(
                    name="operations", email_address=args.alert_email, use_common_alert_schema=True
                )
            ],
            tags=dict(args.deployment.tags),
            opts=child,
        )
        self.register_outputs({"workspace_id": self.workspace.id, "action_group_id": self.action_group.id})

    def send_diagnostics(self, name: str, resource_id: pulumi.Input[str], parent: pulumi.Resource) -> None:
        """Send all logs and metrics of `resource_id` to the workspace."""
        monitor.DiagnosticSetting(
            name,
            name="to-log-analytics",
            resource_uri=resource_id,
            workspace_id=self.workspace.id,
            # `allLogs` covers every category a resource type has (WorkflowRuntime, OperationalLogs,
            # DeliveryFailures, ...) without naming them per type
            # (https://learn.microsoft.com/azure/azure-monitor/essentials/diagnostic-settings#category-groups).
            logs=[monitor.DiagnosticsLogSettingsArgs(category_group="allLogs", enabled=True)],
            metrics=[monitor.DiagnosticsMetricSettingsArgs(category="AllMetrics", enabled=True)],
            opts=pulumi.ResourceOptions(parent=parent),
        )

    def alert(self, name: str, rule: MetricAlertRule, parent: pulumi.Resource) -> monitor.MetricAlert:
        """A metric alert that mails the operations action group."""
        dimensions = (
            [monitor.MetricDimensionArgs(name=rule.dimension[0], operator="Include", values=[rule.dimension[1]])]
            if rule.dimension
            else None
        )
        return monitor.MetricAlert(
            name,
            rule_name=name,
            resource_group_name=self._deployment.resource_group_name,
            location="global",
            description=rule.description,
            severity=rule.severity,
            enabled=True,
            scopes=[rule.scope],
            evaluation_frequency=rule.frequency,
            window_size=rule.window,
            auto_mitigate=True,
            criteria=monitor.MetricAlertSingleResourceMultipleMetricCriteriaArgs(
                odata_type="Microsoft.Azure.Monitor.SingleResourceMultipleMetricCriteria",
                all_of=[
                    monitor.MetricCriteriaArgs(
                        criterion_type="StaticThresholdCriterion",
                        name=rule.metric_name,
                        metric_name=rule.metric_name,
                        metric_namespace=rule.metric_namespace,
                        operator=rule.operator,
                        threshold=rule.threshold,
                        time_aggregation=rule.aggregation,
                        dimensions=dimensions,
                    )
                ],
            ),
            actions=[monitor.MetricAlertActionArgs(action_group_id=self.action_group.id)],
            tags=dict(self._deployment.tags),
            opts=pulumi.ResourceOptions(parent=parent),
        )
