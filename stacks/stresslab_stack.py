"""StresslabStack: composes the stresslab constructs into one deployable stack."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.constructs.control_api import ControlApi
from stacks.constructs.dashboard_site import ADMIN_PAGE, PRESENTATION_PAGE, DashboardSite
from stacks.constructs.fault_templates import FaultIntensities, FaultTemplates, PlatformUnderTest
from stacks.constructs.functions import FunctionFactory
from stacks.constructs.infra_metrics import InfraMetrics
from stacks.constructs.live_updates import LiveUpdates
from stacks.constructs.load_generators import LoadGenerators
from stacks.constructs.metrics_pipeline import MetricsPipeline
from stacks.constructs.metrics_stream import MetricsStream
from stacks.constructs.operators import Operators
from stacks.constructs.orchestration import Orchestration, RunLimits
from stacks.constructs.results_store import ResultsStore
from stacks.constructs.run_table import RunTable
from stacks.constructs.safety import AlertThresholds, Safety
from stacks.context import StresslabContext
from stacks.nag import acknowledge_wildcards
from stacks.packaging import StagedAsset
from stacks.retention import log_retention

PROJECT_TAG = "stresslab"


@dataclass(frozen=True)
class SourcePaths:
    """Files the stack is built from that live outside stacks/."""

    lambda_asset: StagedAsset
    state_machine_definition: Path
    dashboard_site: Path


def apply_project_tags(stack: Stack, env_name: str) -> None:
    Tags.of(stack).add("project", PROJECT_TAG)
    Tags.of(stack).add("env", env_name)


def build_functions(
    stack: Stack, context: StresslabContext, asset: StagedAsset, retention: logs.RetentionDays
) -> FunctionFactory:
    """The stack's one function factory: the Lambda asset, the context's Powertools layer and
    metrics namespace."""
    return FunctionFactory(
        stack,
        "Functions",
        asset=asset,
        powertools_version=context.powertools_version,
        log_retention=retention,
        metrics_namespace=context.metrics_namespace,
    )


class StresslabStack(Stack):
    """The stresslab AWS runtime: orchestration, load generators, metrics, live site, safety."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        context: StresslabContext,
        sources: SourcePaths,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        retention = log_retention(context.log_retention_days)
        self.results = ResultsStore(
            self,
            "ResultsStore",
            results_retention_days=context.results_retention_days,
            access_log_retention_days=context.access_log_retention_days,
        )
        access_logs = self.results.access_log_bucket
        self.metrics = MetricsStream(
            self,
            "MetricsStream",
            mode=context.metrics_stream_mode,
            shard_count=context.shard_count,
            retention_hours=context.metrics_retention_hours,
        )
        self.runs = RunTable(self, "RunTable")
        functions = build_functions(self, context, sources.lambda_asset, retention)
        self.safety = Safety(
            self,
            "Safety",
            env_name=context.env_name,
            metrics_namespace=context.metrics_namespace,
            thresholds=AlertThresholds(
                critical_error_rate_pct=context.critical_error_rate_pct,
                critical_p99_ms=context.critical_p99_ms,
                warning_error_rate_pct=context.warning_error_rate_pct,
                warning_p99_ms=context.warning_p99_ms,
                blast_radius_error_rate_pct=context.fault_stop_error_rate_pct,
                blast_radius_p99_ms=context.fault_stop_p99_ms,
            ),
            budget_usd_per_month=context.budget_usd_per_month,
            alert_email=context.alert_email,
        )
        self.faults = FaultTemplates(
            self,
            "FaultTemplates",
            platform=PlatformUnderTest(
                function_arns=context.platform_function_arns,
                stream_arns=context.target_stream_arns,
                stream_consumer_roles=context.target_stream_consumer_roles,
                table_names=context.platform_table_names,
                subnet_ids=context.platform_subnet_ids,
            ),
            intensities=FaultIntensities(
                error_percentage=context.fault_error_percentage,
                delay_ms=context.fault_delay_ms,
                throttle_percentage=context.fault_throttle_percentage,
                store_capacity_units=context.fault_store_capacity_units,
            ),
            stop_alarms=self.safety.blast_radius_alarms,
            access_log_bucket=access_logs,
            log_retention=retention,
        )
        fault_templates_json = self.to_json_string(self.faults.template_ids)
        self.operators = Operators(self, "Operators")
        self.site = DashboardSite(
            self, "DashboardSite", site_dir=sources.dashboard_site, access_log_bucket=access_logs
        )
        table = self.runs.table
        self.live = LiveUpdates(
            self,
            "LiveUpdates",
            functions=functions,
            table=table,
            operators=self.operators,
            env_name=context.env_name,
            log_retention=retention,
        )
        self.pipeline = MetricsPipeline(
            self,
            "MetricsPipeline",
            functions=functions,
            stream=self.metrics.stream,
            table=table,
            live=self.live,
            metrics_namespace=context.metrics_namespace,
        )
        self.load_generators = LoadGenerators(
            self,
            "LoadGenerators",
            functions=functions,
            stream=self.metrics.stream,
            table=table,
            target_stream_arns=context.target_stream_arns,
            targets=context.targets,
            memory_mb=context.worker_memory_mb,
            reserved_concurrency=context.worker_concurrency,
        )
        self.orchestration = Orchestration(
            self,
            "Orchestration",
            definition=sources.state_machine_definition,
            functions=functions,
            table=table,
            results_bucket=self.results.bucket,
            load_generator=self.load_generators.function,
            limits=RunLimits(
                max_tps=context.max_tps,
                max_duration_s=context.max_duration_s,
                max_workers=context.max_workers,
            ),
            fault_templates_json=fault_templates_json,
            fault_template_arns=self.faults.template_arns,
            log_retention=retention,
        )
        self.control = ControlApi(
            self,
            "ControlApi",
            functions=functions,
            operators=self.operators,
            table=table,
            state_machine=self.orchestration.state_machine,
            results_bucket=self.results.bucket,
            viewer_link_key=self.live.viewer_link_key,
            presentation_url=self.site.page_url(PRESENTATION_PAGE),
            max_tps=context.max_tps,
            max_duration_s=context.max_duration_s,
            max_workers=context.max_workers,
            fault_templates_json=fault_templates_json,
            fault_template_arns=self.faults.template_arns,
            allowed_origin=self.site.url,
            log_retention=retention,
        )
        self.infra = InfraMetrics(
            self,
            "InfraMetrics",
            functions=functions,
            table=table,
            platform_function_arns=context.platform_function_arns,
            stream=self.metrics.stream,
            aggregator=self.pipeline.aggregator,
            extra_metrics=context.watched_metrics,
            config_bucket=self.results.bucket,
        )
        self.site.publish(
            {
                "mode": "aws",
                "ws_url": self.live.url,
                "api_url": self.control.url,
                "region": self.region,
                "user_pool_id": self.operators.user_pool.user_pool_id,
                "user_pool_client_id": self.operators.client.user_pool_client_id,
            }
        )
        self._build_outputs()
        apply_project_tags(self, context.env_name)
        acknowledge_wildcards(self)

    def _build_outputs(self) -> None:
        outputs = {
            "PresentationUrl": self.site.page_url(PRESENTATION_PAGE),
            "AdminUrl": self.site.page_url(ADMIN_PAGE),
            "ApiUrl": self.control.url,
            "WebSocketUrl": self.live.url,
            "StateMachineArn": self.orchestration.state_machine.state_machine_arn,
            "UserPoolId": self.operators.user_pool.user_pool_id,
            "UserPoolClientId": self.operators.client.user_pool_client_id,
            "RunTableName": self.runs.table.table_name,
            "ViewerLinkKeyArn": self.live.viewer_link_key.secret_arn,
            "AlertsTopicArn": self.safety.alerts.topic_arn,
            "ResultsBucketName": self.results.bucket.bucket_name,
            "MetricsStreamName": self.metrics.stream.stream_name,
            "MetricsStreamArn": self.metrics.stream.stream_arn,
        }
        if self.faults.log_group:
            outputs["FisExperimentLogGroup"] = self.faults.log_group.log_group_name
        if self.faults.configuration_location and self.faults.extension_policy:
            outputs["FisConfigurationLocation"] = self.faults.configuration_location
            outputs["FisExtensionPolicyArn"] = self.faults.extension_policy.managed_policy_arn
        for name, value in outputs.items():
            CfnOutput(self, name, value=value)
