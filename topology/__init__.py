"""The facts every part of orderbridge reads: the two pipelines and the retry policy.

Standard library only, so it ships in the integrator zip beside `function_app.py` (orderbridge
package) and is imported, unchanged, by the Pulumi program, the integrators and the tooling.
"""
from topology.pipelines import ECP_TO_ERP, ERP_TO_ECP, PIPELINES, PipelineSpec, pipeline_of_function
from topology.policy import (
    DUPLICATE_DETECTION_WINDOW,
    ERP_UNKNOWN_OUTCOME_WAIT,
    RETRY_MAX_SPAN,
    QUEUE_CREATED_AT_SETTING,
    SERVICE_BUS_CONNECTION,
    SERVICE_BUS_NAMESPACE_SETTING,
    MinutesSetting,
    retry_rule_problem,
)

__all__ = [
    "DUPLICATE_DETECTION_WINDOW",
    "ECP_TO_ERP",
    "ERP_TO_ECP",
    "ERP_UNKNOWN_OUTCOME_WAIT",
    "PIPELINES",
    "QUEUE_CREATED_AT_SETTING",
    "RETRY_MAX_SPAN",
    "SERVICE_BUS_CONNECTION",
    "SERVICE_BUS_NAMESPACE_SETTING",
    "MinutesSetting",
    "PipelineSpec",
    "pipeline_of_function",
    "retry_rule_problem",
]
