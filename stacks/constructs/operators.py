"""Operators: the Cognito user pool whose `operators` group may drive runs."""

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from stresslab.runs import OPERATORS_GROUP


class Operators(Construct):
    """Invite-only user pool with TOTP MFA, a browser app client and the operators group.

    The control API's JWT authoriser and the WebSocket $connect handler accept this pool's tokens;
    membership of the group (the `cognito:groups` claim) is what allows an action.
    """

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.user_pool = self._build_user_pool()
        self.client = self._build_client()
        self.group = cognito.CfnUserPoolGroup(
            self,
            "OperatorsGroup",
            user_pool_id=self.user_pool.user_pool_id,
            group_name=OPERATORS_GROUP,
            description="May start and stop runs, inject faults and export reports",
        )

    def _build_user_pool(self) -> cognito.UserPool:
        return cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=False,
            sign_in_aliases=cognito.SignInAliases(email=True),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_lowercase=True,
                require_uppercase=True,
                require_digits=True,
                require_symbols=True,
                temp_password_validity=Duration.days(3),
            ),
            # Operators can start load that costs money; a password alone is not enough.
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(sms=False, otp=True),
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
            removal_policy=RemovalPolicy.DESTROY,
        )

    def _build_client(self) -> cognito.UserPoolClient:
        # A public client for the dashboard's admin page: SRP sign-in, no secret in the browser.
        return self.user_pool.add_client(
            "DashboardClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            prevent_user_existence_errors=True,
            access_token_validity=Duration.hours(1),
            id_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.hours(12),
        )
