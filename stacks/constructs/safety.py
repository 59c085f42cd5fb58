"""Safety: the design brief's alerts as CloudWatch alarms and a monthly budget."""

from dataclasses import dataclass

from aws_cdk import Duration, Stack
from aws_cdk import aws_budgets as budgets
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

# What the aggregator publishes once per merged second (docs/deploy.md, "Live metrics").
ERROR_RATE_METRIC = "ErrorRate"
LATENCY_P99_METRIC = "LatencyP99"
AGGREGATOR_SERVICE = "aggregator"

# The design brief's budget alerts: cost exceeds the budget by 20% (warning) and by 50% (critical).
_BUDGET_ACTUAL_THRESHOLDS_PCT = (120, 150)


@dataclass(frozen=True)
class AlertThresholds:
    """The design brief's alerting strategy, from context."""

    critical_error_rate_pct: float
    critical_p99_ms: int
    warning_error_rate_pct: float
    warning_p99_ms: int
    # FIS's stop conditions: above what the injected faults cause (docs/faults.md).
    blast_radius_error_rate_pct: float
    blast_radius_p99_ms: int


# A blast-radius alarm fires only when the live metrics stay past it this many minutes.
BLAST_RADIUS_MINUTES = 3


class Safety(Construct):
    """Alarms on the live error rate and P99, and an AWS Budget. (The kill switch is a stop
    flag in the run table: docs/aws-runtime.md.)

    The blast-radius alarms are the stop conditions of every FIS experiment template: the
    critical ones fire on the faults themselves (1% errors against 50% injected) and ended each
    experiment within minutes. All alarms and the budget notify one SNS topic, which mails
    `alert_email` when it is set.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        env_name: str,
        metrics_namespace: str,
        thresholds: AlertThresholds,
        budget_usd_per_month: float,
        alert_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._namespace = metrics_namespace
        self.alerts = self._build_alerts_topic(alert_email)
        self.critical_alarms = self._build_alarm_pair(
            "Critical", "critical", thresholds.critical_error_rate_pct, thresholds.critical_p99_ms
        )
        self.warning_alarms = self._build_alarm_pair(
            "Warning", "warning", thresholds.warning_error_rate_pct, thresholds.warning_p99_ms
        )
        self.blast_radius_alarms = self._build_alarm_pair(
            "BlastRadius", "blast radius", thresholds.blast_radius_error_rate_pct,
            thresholds.blast_radius_p99_ms,
            minutes=BLAST_RADIUS_MINUTES,
            tail=f" for {BLAST_RADIUS_MINUTES} minutes (stops FIS experiments)",
        )
        self.budget = self._build_budget(env_name, budget_usd_per_month)

    def _build_alerts_topic(self, alert_email: str | None) -> sns.Topic:
        topic = sns.Topic(self, "Alerts", display_name="stresslab alerts", enforce_ssl=True)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowBudgetNotifications",
                actions=["sns:Publish"],
                principals=[iam.ServicePrincipal("budgets.amazonaws.com")],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": Stack.of(self).account}},
            )
        )
        if alert_email:
            topic.add_subscription(subscriptions.EmailSubscription(alert_email))
        return topic

    def _build_alarm_pair(
        self, level_id: str, level: str, error_rate_pct: float, p99_ms: float,
        minutes: int = 1, tail: str = "",
    ) -> list[cloudwatch.Alarm]:
        """One level's alarms: on the error rate, then on the P99 latency."""
        return [
            self._build_alarm(
                f"{level_id}ErrorRate", ERROR_RATE_METRIC, error_rate_pct,
                f"{level}: error rate above {error_rate_pct}%{tail}", minutes=minutes,
            ),
            self._build_alarm(
                f"{level_id}LatencyP99", LATENCY_P99_METRIC, p99_ms,
                f"{level}: P99 latency above {p99_ms} ms{tail}", minutes=minutes,
            ),
        ]

    def _build_alarm(
        self, construct_id: str, metric_name: str, threshold: float, description: str,
        minutes: int = 1,
    ) -> cloudwatch.Alarm:
        metric = cloudwatch.Metric(
            namespace=self._namespace,
            metric_name=metric_name,
            dimensions_map={"service": AGGREGATOR_SERVICE},
            statistic=cloudwatch.Stats.AVERAGE,
            period=Duration.minutes(1),
        )
        alarm = metric.create_alarm(
            self,
            construct_id,
            alarm_description=f"stresslab {description} (live metrics of the running scenario)",
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=minutes,
            datapoints_to_alarm=minutes,
            # No run, no datapoints: that is not a breach.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alerts))
        return alarm

    def _build_budget(self, env_name: str, usd_per_month: float) -> budgets.CfnBudget:
        notifications = [
            self._budget_notification("ACTUAL", threshold)
            for threshold in _BUDGET_ACTUAL_THRESHOLDS_PCT
        ]
        notifications.append(self._budget_notification("FORECASTED", 100))
        return budgets.CfnBudget(
            self,
            "Budget",
            budget=budgets.CfnBudget.BudgetDataProperty(
                budget_name=f"stresslab-{env_name}-{Stack.of(self).region}",
                budget_type="COST",
                time_unit="MONTHLY",
                budget_limit=budgets.CfnBudget.SpendProperty(
                    amount=usd_per_month, unit="USD"
                ),
            ),
            notifications_with_subscribers=notifications,
        )

    def _budget_notification(
        self, notification_type: str, threshold_pct: float
    ) -> budgets.CfnBudget.NotificationWithSubscribersProperty:
        return budgets.CfnBudget.NotificationWithSubscribersProperty(
            notification=budgets.CfnBudget.NotificationProperty(
                notification_type=notification_type,
                comparison_operator="GREATER_THAN",
                threshold=threshold_pct,
                threshold_type="PERCENTAGE",
            ),
            subscribers=[
                budgets.CfnBudget.SubscriberProperty(
                    subscription_type="SNS", address=self.alerts.topic_arn
                )
            ],
        )
