"""Log retention: the context's number of days as the CloudWatch Logs setting CDK expects."""

from aws_cdk import aws_logs as logs

from stacks.context import LOG_RETENTION_NAMES


def log_retention(days: int) -> logs.RetentionDays:
    return logs.RetentionDays[LOG_RETENTION_NAMES[days]]
