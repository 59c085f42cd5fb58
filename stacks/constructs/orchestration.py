"""Orchestration: the run_scenario state machine (ASL from file) and the functions it calls."""

import re
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import Arn, ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as _lambda
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.constructs.fault_templates import grant_start_experiments, grant_stop_experiments
from stacks.constructs.functions import FunctionFactory, FunctionSpec
from stacks.constructs.results_store import RESULTS_PREFIX

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")

# Room after the longest scenario for planning, the last wave's stragglers, evaluation, cleanup.
_RUN_OVERHEAD = Duration.hours(1)


def asl_placeholders(definition: Path) -> set[str]:
    """The ${Placeholders} an ASL file holds."""
    return set(_PLACEHOLDER.findall(definition.read_text(encoding="utf-8")))


@dataclass(frozen=True)
class RunLimits:
    """The ceilings the plan function enforces (from context)."""

    max_tps: int
    max_duration_s: int
    max_workers: int


class Orchestration(Construct):
    """Plan, Evaluate and Cleanup functions and the standard state machine that sequences a run.

    The role may invoke those functions and the load generator, run the Distributed Map's child
    executions of this state machine, and start/stop experiments from the fault templates.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        definition: Path,
        functions: FunctionFactory,
        table: dynamodb.ITable,
        results_bucket: s3.IBucket,
        load_generator: _lambda.IFunction,
        limits: RunLimits,
        fault_templates_json: str,
        fault_template_arns: list[str],
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, construct_id)
        self._functions = functions
        self._table = table
        self.plan = self._build_plan(limits, fault_templates_json)
        self.evaluate = self._build_evaluate(results_bucket)
        self.cleanup = self._build_cleanup()
        self.substitutions = {
            "PlanFunctionArn": self.plan.function_arn,
            "LoadGeneratorFunctionArn": load_generator.function_arn,
            "EvaluateFunctionArn": self.evaluate.function_arn,
            "CleanupFunctionArn": self.cleanup.function_arn,
            "RunTableName": table.table_name,
            "StackName": Stack.of(self).stack_name,
        }
        self._check_placeholders(definition)
        self.state_machine = self._build_state_machine(
            definition, Duration.seconds(limits.max_duration_s).plus(_RUN_OVERHEAD), log_retention
        )
        for function in (self.plan, load_generator, self.evaluate, self.cleanup):
            function.grant_invoke(self.state_machine)
        self._grant_distributed_map()
        grant_start_experiments(self, self.state_machine, fault_template_arns)
        # A fault that fails to start or stop is recorded on the run's item (RecordStartFailure)
        table.grant(self.state_machine, "dynamodb:UpdateItem")
        self._build_cleanup_on_stop()

    def _build_cleanup_on_stop(self) -> None:
        """A console stop or a timeout skips the state machine's Catch: cleanup hears of it here."""
        events.Rule(
            self, "CleanupOnStop",
            description="stop a run's experiments and record its status when it ends abnormally",
            event_pattern=events.EventPattern(
                source=["aws.states"],
                detail_type=["Step Functions Execution Status Change"],
                detail={"status": ["ABORTED", "TIMED_OUT", "FAILED"],
                        "stateMachineArn": [self.state_machine.state_machine_arn]},
            ),
            targets=[targets.LambdaFunction(self.cleanup, retry_attempts=4)],
        )

    def _function(self, construct_id: str, spec: FunctionSpec) -> _lambda.Function:
        function = self._functions.build(self, construct_id, spec)
        self._table.grant_read_write_data(function)
        return function

    def _build_plan(self, limits: RunLimits, fault_templates_json: str) -> _lambda.Function:
        return self._function(
            "Plan",
            FunctionSpec(
                handler="lambdas.plan.handler",
                description="plan (validates the input, splits the run into waves and shards)",
                environment={
                    "TABLE_NAME": self._table.table_name,
                    "MAX_TPS": str(limits.max_tps),
                    "MAX_DURATION_S": str(limits.max_duration_s),
                    "MAX_WORKERS": str(limits.max_workers),
                    "FAULT_TEMPLATES": fault_templates_json,
                },
                memory_mb=512,
            ),
        )

    def _build_evaluate(self, results_bucket: s3.IBucket) -> _lambda.Function:
        function = self._function(
            "Evaluate",
            FunctionSpec(
                handler="lambdas.evaluate.handler",
                description="evaluate (criteria, summary.json and reports to S3)",
                environment={
                    "TABLE_NAME": self._table.table_name,
                    "RESULTS_BUCKET": results_bucket.bucket_name,
                },
                memory_mb=2048,
                timeout=Duration.minutes(10),
            ),
        )
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"],
                resources=[results_bucket.arn_for_objects(f"{RESULTS_PREFIX}*")],
            )
        )
        return function

    def _build_cleanup(self) -> _lambda.Function:
        function = self._function(
            "Cleanup",
            FunctionSpec(
                handler="lambdas.cleanup.handler",
                description="cleanup (stops the run's experiments, records the final status)",
                environment={
                    "TABLE_NAME": self._table.table_name,
                },
                timeout=Duration.minutes(2),
            ),
        )
        grant_stop_experiments(self, function)
        return function

    def _check_placeholders(self, definition: Path) -> None:
        if not definition.is_file():
            raise FileNotFoundError(f"stresslab: state machine definition {definition} is missing")
        placeholders = asl_placeholders(definition)
        if placeholders != set(self.substitutions):
            raise ValueError(
                f"stresslab: {definition.name} holds placeholders {sorted(placeholders)} but the "
                f"stack substitutes {sorted(self.substitutions)}"
            )

    def _build_state_machine(
        self, definition: Path, timeout: Duration, log_retention: logs.RetentionDays
    ) -> sfn.StateMachine:
        log_group = logs.LogGroup(
            self, "StateMachineLogs", retention=log_retention, removal_policy=RemovalPolicy.DESTROY
        )
        state_machine = sfn.StateMachine(
            self,
            "RunScenario",
            comment="stresslab run_scenario: plan, waves of load generators, faults, evaluate",
            definition_body=sfn.DefinitionBody.from_file(str(definition)),
            definition_substitutions=self.substitutions,
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=timeout,
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True
            ),
        )
        return state_machine

    def _grant_distributed_map(self) -> None:
        # A separate policy: the state machine must not depend on a policy naming its own ARN.
        # Child executions are named <machine>/<map run label>:<id>, the run itself <machine>:<id>.
        policy = iam.Policy(self, "DistributedMapPolicy")
        self.state_machine.role.attach_inline_policy(policy)
        self.state_machine.grant_start_execution(policy)
        name = Arn.split(
            self.state_machine.state_machine_arn, ArnFormat.COLON_RESOURCE_NAME
        ).resource_name
        stack = Stack.of(self)
        policy.add_statements(
            iam.PolicyStatement(
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[
                    stack.format_arn(
                        service="states",
                        resource="execution",
                        resource_name=f"{name}{separator}*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                    for separator in (":", "/")
                ],
            )
        )
