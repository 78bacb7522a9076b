"""The story of trailscope's sample organization, as CloudTrail records.

The organization turns on centralized root access, registers an IAM delegated administrator and
runs sts:AssumeRoot sessions from both doors; among them are planted cases, one for each finding
trailscope's checks can raise, and near misses that must raise nothing. Nothing here is random:
identifiers are hashes of a counter, so the story, and `PLANTED`, are constants. Background
noise around the story comes from `trailscope.synthetic.generate`. Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

Record = dict[str, Any]

ORG_ID = "o-tr41lsc0pe"
MANAGEMENT = "400000000001"
SECURITY = "400000000002"  # the IAM delegated administrator
PROD = "400000000011"
STAGING = "400000000012"
DEV = "400000000013"
DATA = "400000000014"
SANDBOX = "400000000015"
LEGACY = "400000000016"
CONTRACTOR = "400000000017"
TEMP = "400000000018"
ACQUIRED = "400000000019"
EXT_MANAGEMENT = "500000000001"
EXT_MEMBER = "500000000002"

START = datetime(2026, 10, 5, tzinfo=UTC)
DAYS = 5
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
BACKGROUND_ACCOUNTS = (MANAGEMENT, SECURITY, PROD, STAGING, DEV, DATA, SANDBOX)
CHECKS = (
    "duration",
    "task_scope",
    "authorization",
    "orphan",
    "root_outside_assumeroot",
    "org_changes",
    "org_state",  # an organization change org_state_changes shows, and no finding
    "none",
)
TASK_POLICIES = (
    "IAMAuditRootUserCredentials",
    "IAMCreateRootUserPassword",
    "IAMDeleteRootUserCredentials",
    "S3UnlockBucketPolicy",
    "SQSUnlockQueuePolicy",
)


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    role: str


ACCOUNTS: tuple[Account, ...] = (
    Account(MANAGEMENT, "acme-management", "Organizations management account; calls AssumeRoot"),
    Account(
        SECURITY,
        "acme-security",
        "IAM delegated administrator (deregistered 2026-10-08 "
        "10:00-15:00); calls AssumeRoot; also has an account trail from 2026-10-09",
    ),
    Account(PROD, "acme-prod", "member"),
    Account(STAGING, "acme-staging", "member"),
    Account(DEV, "acme-dev", "member; its root access key is used on 2026-10-05"),
    Account(DATA, "acme-data", "member"),
    Account(
        SANDBOX,
        "acme-sandbox",
        "member; root credentials deleted 2026-10-06, root used again 2026-10-08; closed "
        "2026-10-09 by acme-security",
    ),
    Account(LEGACY, "acme-legacy", "member until removed 2026-10-08 (no logs of its own)"),
    Account(CONTRACTOR, "acme-contractor", "member until it leaves 2026-10-09"),
    Account(TEMP, "acme-tmp", "created 2026-10-06, closed 2026-10-09"),
    Account(ACQUIRED, "acquired-co", "invited 2026-10-07, accepts the handshake"),
    Account(
        EXT_MANAGEMENT,
        "other-org-management",
        "outside the organization: only its own "
        "account trail is present (AWSLogs/<account>/ without the o- level)",
    ),
    Account(EXT_MEMBER, "other-org-member", "outside the organization, account trail only"),
)


@dataclass(frozen=True)
class PlantedCase:
    """One planted situation. `event_ids[0]` is the event a finding should point at."""

    case_id: str
    check: str  # one of CHECKS; "none" for a near miss
    severity: str  # critical, high, medium, low, info; "none" for a near miss
    account: str
    event_ids: tuple[str, ...]
    description: str


@dataclass(frozen=True)
class StoryEvent:
    record: Record
    account: str  # the account whose logs carry it (recipientAccountId)
    region: str
    delivered: datetime  # when it reaches the bucket: picks the 5-minute file
    trails: tuple[str, ...]  # "org" (AWSLogs/o-.../), "account" (AWSLogs/<account>/) or both


@dataclass(frozen=True)
class Caller:
    account: str
    role: str
    session: str
    ip: str
    user_agent: str
    sso: bool = True


CLI = (
    "aws-cli/2.27.41 md/awscrt#0.26.1 ua/2.1 os/linux#6.8.0-1024-aws md/arch#x86_64 "
    "lang/python#3.13.4 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
    "md/prompt#off md/command#"
)
BOTO = "Boto3/1.40.12 md/Botocore#1.40.12 ua/2.1 os/macos#24.6.0 md/arch#arm64 lang/python#3.12.11"
BROWSER = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.5 Safari/605.1.15"
)
ALICE = Caller(
    MANAGEMENT,
    "AWSReservedSSO_RootAccessAdmin_5d2c8e1f0a7b3c49",
    "alice@acme.example",
    "198.51.100.24",
    CLI + "sts.assume-root",
)
ORG_ADMIN = Caller(
    MANAGEMENT,
    "AWSReservedSSO_OrgAdministrator_0f3b9d27c4e18a56",
    "alice@acme.example",
    "198.51.100.24",
    BROWSER,
)
BOB = Caller(
    SECURITY,
    "AWSReservedSSO_RootAccessOperator_9e41b07c2d6f8a13",
    "bob@acme.example",
    "198.51.100.87",
    BOTO,
)
CAROL = Caller(DEV, "DevOpsAdmin", "carol", "203.0.113.45", CLI + "sts.assume-root", sso=False)
DAVE = Caller(DATA, "DataPlatformAdmin", "dave", "203.0.113.52", BROWSER, sso=False)
ERIN = Caller(EXT_MANAGEMENT, "OrgAdmin", "erin", "192.0.2.77", CLI + "sts.assume-root", sso=False)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def human(t: datetime, narrow: bool = False) -> str:
    """AWS's human date, "Oct 25, 2024, 9:07:11 PM"; newer records put U+202F before AM/PM."""
    hour = t.hour % 12 or 12
    space = "\u202f" if narrow else " "
    return (
        f"{_MONTHS[t.month - 1]} {t.day}, {t.year}, {hour}:{t.minute:02d}:{t.second:02d}"
        f"{space}{'PM' if t.hour >= 12 else 'AM'}"
    )


def at(day: int, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(2026, 10, day, hh, mm, ss, tzinfo=UTC)


class _Story:
    def __init__(self) -> None:
        self.events: list[StoryEvent] = []
        self.cases: list[PlantedCase] = []
        self._n = 0
        self._open: list[tuple[str, list[str]]] = []

    # deterministic identifiers -----------------------------------------------------------------
    def _digest(self, tag: str) -> bytes:
        self._n += 1
        return hashlib.sha256(f"trailscope-story/{tag}/{self._n}".encode()).digest()

    def uuid(self) -> str:
        h = self._digest("uuid").hex()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"

    def key(self, prefix: str = "ASIA") -> str:
        return prefix + base64.b32encode(self._digest("key")).decode()[:16]

    def token(self) -> str:
        raw = b"".join(self._digest("token") for _ in range(10))
        return "IQoJb3JpZ2luX2VjE" + base64.b64encode(raw).decode()

    # planted cases -----------------------------------------------------------------------------
    @contextmanager
    def case(
        self, case_id: str, check: str, severity: str, account: str, description: str
    ) -> Iterator[None]:
        ids: list[str] = []
        self._open.append((case_id, ids))
        try:
            yield
        finally:
            self._open.pop()
        self.add_case(case_id, check, severity, account, ids, description)

    def add_case(
        self,
        case_id: str,
        check: str,
        severity: str,
        account: str,
        ids: list[str],
        description: str,
    ) -> None:
        assert check in CHECKS and ids, case_id
        self.cases.append(PlantedCase(case_id, check, severity, account, tuple(ids), description))

    # records -----------------------------------------------------------------------------------
    def emit(
        self,
        *,
        account: str,
        region: str,
        time: datetime,
        source: str,
        name: str,
        identity: Record,
        ip: str,
        ua: str,
        ro: bool,
        req: Any = None,
        resp: Any = None,
        err: tuple[str, str] | None = None,
        extra: Record | None = None,
        resources: list[Record] | None = None,
        etype: str = "AwsApiCall",
        version: str = "1.11",
        request_id: bool = True,
        tls_host: str | None = None,
        console: bool = False,
        details: Record | None = None,
        delay: int = 0,
        trails: tuple[str, ...] = ("org",),
    ) -> Record:
        if self._open:
            ua = f"{ua} trailscope-case/{self._open[-1][0]}"
        rec: Record = {
            "eventVersion": version,
            "userIdentity": identity,
            "eventTime": iso(time),
            "eventSource": source,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": ip,
            "userAgent": ua,
        }
        if err is not None:
            rec["errorCode"], rec["errorMessage"] = err
            resp = None
        rec["requestParameters"] = req
        rec["responseElements"] = resp
        if extra is not None:
            rec["additionalEventData"] = extra
        if request_id:
            rec["requestID"] = self.uuid()
        rec["eventID"] = self.uuid()
        rec["readOnly"] = ro
        if resources is not None:
            rec["resources"] = resources
        rec["eventType"] = etype
        rec["managementEvent"] = True
        rec["recipientAccountId"] = account
        if details is not None:
            rec["serviceEventDetails"] = details
        rec["eventCategory"] = "Management"
        if tls_host is not None:
            rec["tlsDetails"] = {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": tls_host,
            }
        if console:
            rec["sessionCredentialFromConsole"] = "true"
        for _case, ids in self._open:
            ids.append(rec["eventID"])
        delivered = time + timedelta(seconds=delay)
        self.events.append(StoryEvent(rec, account, region, delivered, trails))
        return rec

    # identities --------------------------------------------------------------------------------
    def role_identity(
        self, c: Caller, created: datetime, assumed_root_flag: bool = False
    ) -> Record:
        role_id = "AROA" + base64.b32encode(hashlib.sha256(c.role.encode()).digest()).decode()[:17]
        path = "aws-reserved/sso.amazonaws.com/" if c.sso else ""
        ctx: Record = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": role_id,
                "arn": f"arn:aws:iam::{c.account}:role/{path}{c.role}",
                "accountId": c.account,
                "userName": c.role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": iso(created), "mfaAuthenticated": "false"},
        }
        if assumed_root_flag:  # as in AWS's published AssumeRoot example
            ctx["assumedRoot"] = "true"
        return {
            "type": "AssumedRole",
            "principalId": f"{role_id}:{c.session}",
            "arn": f"arn:aws:sts::{c.account}:assumed-role/{c.role}/{c.session}",
            "accountId": c.account,
            "accessKeyId": self.key(),
            "sessionContext": ctx,
        }

    @staticmethod
    def root_identity(
        account: str,
        key: str = "",
        created: datetime | None = None,
        assumed_root: bool = False,
        mfa: bool = False,
    ) -> Record:
        ident: Record = {
            "type": "Root",
            "principalId": account,
            "arn": f"arn:aws:iam::{account}:root",
            "accountId": account,
            "accessKeyId": key,
        }
        if created is not None:
            ctx: Record = {
                "attributes": {
                    "creationDate": iso(created),
                    "mfaAuthenticated": "true" if mfa else "false",
                }
            }
            if assumed_root:
                ctx["assumedRoot"] = "true"
            ident["sessionContext"] = ctx
        return ident

    def call(
        self,
        c: Caller,
        time: datetime,
        source: str,
        name: str,
        *,
        req: Any = None,
        resp: Any = None,
        err: tuple[str, str] | None = None,
        ro: bool = False,
        region: str = "us-east-1",
        delay: int = 0,
        trails: tuple[str, ...] = ("org",),
        etype: str = "AwsApiCall",
    ) -> Record:
        """A call by a person's role session in their own account."""
        host = f"{source.split('.')[0]}.{region}.amazonaws.com"
        if source == "iam.amazonaws.com":
            host = "iam.amazonaws.com"
        return self.emit(
            account=c.account,
            region=region,
            time=time,
            source=source,
            name=name,
            identity=self.role_identity(c, time - timedelta(minutes=23)),
            ip=c.ip,
            ua=c.user_agent,
            ro=ro,
            req=req,
            resp=resp,
            err=err,
            tls_host=host,
            delay=delay,
            trails=trails,
            etype=etype,
        )

    # sts:AssumeRoot and the session it opens ------------------------------------------------------
    def assume_root(
        self,
        c: Caller,
        time: datetime,
        target: str,
        policy: str,
        *,
        region: str = "us-east-1",
        duration: int | None = None,
        err: tuple[str, str] | None = None,
        target_arn: bool = False,
        flag: bool = False,
        narrow: bool = False,
        delay: int = 0,
        console: bool = False,
    ) -> str:
        """Logs an AssumeRoot call; returns the issued access key ("" if the call failed)."""
        req: Record = {
            "targetPrincipal": f"arn:aws:iam::{target}:root" if target_arn else target,
            "taskPolicyArn": {
                "arn": policy if ":" in policy else f"arn:aws:iam::aws:policy/root-task/{policy}"
            },
        }
        if duration is not None:
            req["durationSeconds"] = duration
        key = "" if err else self.key()
        resp = None
        if not err:
            expires = time + timedelta(seconds=duration or 900)
            resp = {
                "credentials": {
                    "accessKeyId": key,
                    "sessionToken": self.token(),
                    "expiration": human(expires, narrow),
                }
            }
        trails = ("org", "account") if c.account == SECURITY and time >= at(9, 0, 0) else ("org",)
        if c.account in (EXT_MANAGEMENT, EXT_MEMBER):
            trails = ("account",)
        self.emit(
            account=c.account,
            region=region,
            time=time,
            source="sts.amazonaws.com",
            name="AssumeRoot",
            identity=self.role_identity(c, time - timedelta(minutes=17), flag),
            ip=c.ip,
            ua="AWS Internal" if console else c.user_agent,
            ro=True,
            req=req,
            resp=resp,
            err=err,
            version="1.08",
            tls_host=f"sts.{region}.amazonaws.com",
            console=console,
            delay=delay,
            trails=trails,
        )
        return key

    def session(
        self,
        target: str,
        key: str,
        issued: datetime,
        calls: list[tuple[int, str, str]],
        *,
        ip: str,
        ua: str,
        region: str = "us-east-1",
        errors: dict[int, tuple[str, str]] | None = None,
        trails: tuple[str, ...] = ("org",),
    ) -> list[Record]:
        """Calls made with an AssumeRoot key in the target account: (seconds after issue, action,
        resource). IAM is global and logs in us-east-1; S3 and SQS log in `region`."""
        out = []
        for i, (offset, action, resource) in enumerate(calls):
            ident = self.root_identity(target, key, issued, assumed_root=True)
            out.append(
                self.action(
                    target,
                    issued + timedelta(seconds=offset),
                    action,
                    resource,
                    ident,
                    ip=ip,
                    ua=ua,
                    region=region,
                    trails=trails,
                    err=(errors or {}).get(i),
                )
            )
        return out

    def action(
        self,
        account: str,
        time: datetime,
        action: str,
        resource: str,
        identity: Record,
        *,
        ip: str,
        ua: str,
        region: str = "us-east-1",
        trails: tuple[str, ...] = ("org",),
        err: tuple[str, str] | None = None,
        console: bool = False,
    ) -> Record:
        service, name = action.split(":")
        req: Any = None
        resp: Any = None
        extra: Record | None = None
        resources: list[Record] | None = None
        ro = name.startswith(("Get", "List", "Describe"))
        if service in ("iam", "sts") and name != "GetCallerIdentity":
            region, host = "us-east-1", f"{service}.amazonaws.com"
        else:
            host = f"{service}.{region}.amazonaws.com"
        if name in ("DeleteAccessKey", "GetAccessKeyLastUsed"):
            req = {"accessKeyId": resource}
        elif name in ("DeactivateMFADevice", "DeleteVirtualMFADevice"):
            req = {"serialNumber": f"arn:aws:iam::{account}:mfa/root-account-mfa-device"}
        elif name == "DeleteSigningCertificate":
            req = {"certificateId": resource}
        elif name == "CreateLoginProfile":
            req = {"passwordResetRequired": False}
            resp = {"loginProfile": {"createDate": human(time), "passwordResetRequired": False}}
        elif name == "CreateAccessKey":
            resp = {
                "accessKey": {
                    "accessKeyId": resource,
                    "status": "Active",
                    "createDate": human(time),
                }
            }
        elif service == "s3" and resource:
            host = f"{resource}.s3.{region}.amazonaws.com"
            req = {"bucketName": resource, "Host": host, "policy": ""}
            if name == "PutBucketPolicy":
                req["bucketPolicy"] = {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                            "Action": "s3:*",
                            "Resource": [f"arn:aws:s3:::{resource}", f"arn:aws:s3:::{resource}/*"],
                        }
                    ],
                }
            extra = {
                "SignatureVersion": "SigV4",
                "CipherSuite": "TLS_AES_128_GCM_SHA256",
                "bytesTransferredIn": 0,
                "AuthenticationMethod": "AuthHeader",
                "x-amz-id-2": base64.b64encode(self._digest("amzid") * 2).decode()[:76],
                "bytesTransferredOut": 0 if name.startswith(("Put", "Delete")) else 412,
            }
            resources = [
                {"accountId": account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{resource}"}
            ]
        elif service == "s3":
            host = f"s3.{region}.amazonaws.com"
            req = {"Host": host}
        elif service == "sqs":
            url = f"https://sqs.{region}.amazonaws.com/{account}/{resource}"
            if name == "GetQueueAttributes":
                req = {"queueUrl": url, "attributeNames": ["Policy"]}
            elif name == "SetQueueAttributes":
                req = {"queueUrl": url, "attributes": {"Policy": ""}}
            elif name == "ListQueues":
                req = {}
            else:
                req = {"queueUrl": url}
        elif name == "DescribeInstances":
            req = {"instancesSet": {}, "filterSet": {}}
        return self.emit(
            account=account,
            region=region,
            time=time,
            source=f"{service}.amazonaws.com",
            name=name,
            identity=identity,
            ip=ip,
            ua=ua,
            ro=ro,
            req=req,
            resp=resp,
            err=err,
            extra=extra,
            resources=resources,
            tls_host=host,
            console=console,
            trails=trails,
        )

    def org(
        self,
        c: Caller,
        time: datetime,
        name: str,
        req: Any = None,
        resp: Any = None,
        *,
        err: tuple[str, str] | None = None,
        source: str = "organizations.amazonaws.com",
        ro: bool = False,
    ) -> Record:
        return self.call(c, time, source, name, req=req, resp=resp, err=err, ro=ro)


def _denied(c: Caller, action: str, resource: str) -> tuple[str, str]:
    return (
        "AccessDenied",
        (
            f"User: arn:aws:sts::{c.account}:assumed-role/{c.role}/{c.session} is "
            f"not authorized to perform: {action} on resource: {resource}"
        ),
    )


def _org_setup(s: _Story) -> None:
    iam = "iam.amazonaws.com"
    with s.case(
        "P08",
        "authorization",
        "medium",
        MANAGEMENT,
        "AssumeRoot from the management account before root sessions were enabled "
        "(fails AccessDenied)",
    ):
        s.assume_root(
            ALICE,
            at(5, 8, 31, 12),
            PROD,
            "IAMAuditRootUserCredentials",
            err=_denied(ALICE, "sts:AssumeRoot", f"arn:aws:iam::{PROD}:root"),
        )
    with s.case(
        "N06",
        "none",
        "none",
        MANAGEMENT,
        "Management account enables trusted access for IAM, registers acme-security as "
        "IAM delegated administrator, enables root credentials management and root "
        "sessions",
    ):
        s.org(ORG_ADMIN, at(5, 9, 0, 4), "EnableAWSServiceAccess", {"servicePrincipal": iam})
        s.org(
            ORG_ADMIN,
            at(5, 9, 4, 40),
            "RegisterDelegatedAdministrator",
            {"accountId": SECURITY, "servicePrincipal": iam},
        )
        s.org(
            ORG_ADMIN,
            at(5, 9, 10, 2),
            "EnableOrganizationsRootCredentialsManagement",
            None,
            {"organizationId": ORG_ID, "enabledFeatures": ["RootCredentialsManagement"]},
            source=iam,
        )
        s.org(
            ORG_ADMIN,
            at(5, 9, 11, 30),
            "EnableOrganizationsRootSessions",
            None,
            {
                "organizationId": ORG_ID,
                "enabledFeatures": ["RootCredentialsManagement", "RootSessions"],
            },
            source=iam,
        )
    s.org(
        ORG_ADMIN,
        at(5, 9, 2, 51),
        "EnableAWSServiceAccess",
        {"servicePrincipal": "config.amazonaws.com"},
    )
    with s.case(
        "P19",
        "org_state",
        "info",
        PROD,
        "AWS Config (trusted access) creates its service-linked role in five member "
        "accounts: CreateServiceLinkedRole with userIdentity.invokedBy",
    ):
        for i, acct in enumerate((PROD, STAGING, DEV, DATA, SANDBOX)):
            t = at(5, 9, 31 + 3 * i, 7 + i)
            role = "AWSServiceRoleForConfig"
            s.emit(
                account=acct,
                region="us-east-1",
                time=t,
                source=iam,
                name="CreateServiceLinkedRole",
                identity={"type": "AWSService", "invokedBy": "config.amazonaws.com"},
                ip="config.amazonaws.com",
                ua="config.amazonaws.com",
                ro=False,
                req={"aWSServiceName": "config.amazonaws.com"},
                resp={
                    "role": {
                        "path": "/aws-service-role/config.amazonaws.com/",
                        "roleName": role,
                        "roleId": s.key("AROA"),
                        "arn": f"arn:aws:iam::{acct}:role/aws-service-role/"
                        f"config.amazonaws.com/{role}",
                        "createDate": human(t, narrow=True),
                    }
                },
            )
    with s.case(
        "P17",
        "org_changes",
        "medium",
        DEV,
        "EnableAWSServiceAccess called from member account acme-dev (fails AccessDenied)",
    ):
        s.org(
            CAROL,
            at(5, 15, 2, 19),
            "EnableAWSServiceAccess",
            {"servicePrincipal": "guardduty.amazonaws.com"},
            err=_denied(CAROL, "organizations:EnableAWSServiceAccess", "*"),
        )


def _root_outside(s: _Story) -> str:
    """Long-term root use; returns acme-dev's root access key (deleted later)."""
    dev_key = s.key("AKIA")
    with s.case(
        "P14",
        "root_outside_assumeroot",
        "high",
        DEV,
        "Long-term root access key of acme-dev used from the CLI",
    ):
        ident = s.root_identity(DEV, dev_key)
        for t, action, region in (
            (at(5, 11, 2, 41), "sts:GetCallerIdentity", "us-east-1"),
            (at(5, 11, 3, 5), "s3:ListBuckets", "us-east-1"),
            (at(5, 11, 4, 58), "ec2:DescribeInstances", "eu-west-1"),
        ):
            s.action(DEV, t, action, "", ident, ip="203.0.113.45", ua=CLI + "s3.ls", region=region)
    with s.case(
        "P13",
        "root_outside_assumeroot",
        "high",
        STAGING,
        "Root user of acme-staging signs in to the console with its password, then "
        "uses the console session",
    ):
        login = at(7, 8, 50, 33)
        s.emit(
            account=STAGING,
            region="us-east-1",
            time=login,
            source="signin.amazonaws.com",
            name="ConsoleLogin",
            identity=s.root_identity(STAGING),
            ip="203.0.113.9",
            ua=BROWSER,
            ro=False,
            resp={"ConsoleLogin": "Success"},
            extra={
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "Yes",
            },
            etype="AwsConsoleSignIn",
            request_id=False,
            tls_host="signin.aws.amazon.com",
        )
        ident = s.root_identity(STAGING, s.key(), login, mfa=True)
        s.action(
            STAGING,
            at(7, 8, 51, 40),
            "iam:GetAccountSummary",
            "",
            ident,
            ip="203.0.113.9",
            ua="AWS Internal",
            console=True,
        )
        s.action(
            STAGING,
            at(7, 8, 53, 2),
            "ec2:DescribeInstances",
            "",
            ident,
            ip="203.0.113.9",
            ua="AWS Internal",
            region="eu-west-1",
            console=True,
        )
    return dev_key


def _sessions_mgmt(s: _Story) -> None:
    ua = CLI + "iam"
    key = s.assume_root(ALICE, at(5, 14, 10, 9), PROD, "IAMAuditRootUserCredentials", flag=True)
    s.session(
        PROD,
        key,
        at(5, 14, 10, 9),
        [
            (20, "iam:GetAccountSummary", ""),
            (41, "iam:ListAccessKeys", ""),
            (63, "iam:ListMFADevices", ""),
        ],
        ip=ALICE.ip,
        ua=ua,
    )
    with s.case(
        "N02",
        "none",
        "none",
        SANDBOX,
        "IAMDeleteRootUserCredentials session deleting acme-sandbox's root password, "
        "access key, MFA device and signing certificate: every call is in scope",
    ):
        issued = at(6, 9, 40, 15)
        key = s.assume_root(ALICE, issued, SANDBOX, "IAMDeleteRootUserCredentials", flag=True)
        root_key, cert = s.key("AKIA"), s.key("")[:20] + "EXAMPLECERT0"
        s.session(
            SANDBOX,
            key,
            issued,
            [
                (14, "iam:ListAccessKeys", ""),
                (31, "iam:DeleteAccessKey", root_key),
                (60, "iam:GetLoginProfile", ""),
                (78, "iam:DeleteLoginProfile", ""),
                # then lists again to confirm; not DeleteVirtualMFADevice, which v1 of the policy
                # lists only on the root user, so AWS denies it (task_policies.json; see N12)
                (120, "iam:ListMFADevices", ""),
                (151, "iam:DeactivateMFADevice", ""),
                (170, "iam:ListMFADevices", ""),
                (230, "iam:ListSigningCertificates", ""),
                (262, "iam:DeleteSigningCertificate", cert),
            ],
            ip=ALICE.ip,
            ua=ua,
        )
    with s.case(
        "N01",
        "none",
        "none",
        DEV,
        "IAMCreateRootUserPassword session whose last call comes 14:59 after issue "
        "(inside the 900 s limit)",
    ):
        issued = at(6, 13, 20, 44)
        key = s.assume_root(ALICE, issued, DEV, "IAMCreateRootUserPassword")
        s.session(
            DEV,
            key,
            issued,
            [(38, "iam:GetLoginProfile", ""), (899, "iam:CreateLoginProfile", "")],
            ip=ALICE.ip,
            ua=ua,
            errors={0: ("NoSuchEntity", "Login Profile for User root cannot be found.")},
        )
    with s.case(
        "P09",
        "authorization",
        "high",
        MANAGEMENT,
        "AssumeRoot targeting the management account itself, as an ARN (fails AccessDenied)",
    ):
        s.assume_root(
            ALICE,
            at(7, 9, 30, 51),
            MANAGEMENT,
            "IAMAuditRootUserCredentials",
            target_arn=True,
            err=_denied(ALICE, "sts:AssumeRoot", f"arn:aws:iam::{MANAGEMENT}:root"),
        )
    with s.case(
        "P04",
        "task_scope",
        "high",
        DATA,
        "S3UnlockBucketPolicy session (eu-west-1) also calls s3:PutBucketAcl, outside "
        "its task policy (which allows Get/Put/DeleteBucketPolicy and ListAllMyBuckets)",
    ):
        issued = at(7, 10, 0, 27)
        key = s.assume_root(ALICE, issued, DATA, "S3UnlockBucketPolicy", region="eu-west-1")
        s.session(
            DATA,
            key,
            issued,
            [
                (20, "s3:GetBucketPolicy", "acme-data-lake-raw"),
                (45, "s3:DeleteBucketPolicy", "acme-data-lake-raw"),
                (200, "s3:PutBucketAcl", "acme-data-lake-raw"),
            ],
            ip=ALICE.ip,
            ua=CLI + "s3api",
            region="eu-west-1",
        )
    with s.case(
        "N08",
        "none",
        "none",
        STAGING,
        "SQSUnlockQueuePolicy session whose AssumeRoot record is delivered 70 minutes "
        "late, after the session's own events",
    ):
        issued = at(7, 11, 30, 5)
        key = s.assume_root(
            ALICE, issued, STAGING, "SQSUnlockQueuePolicy", region="eu-west-1", delay=70 * 60
        )
        s.session(
            STAGING,
            key,
            issued,
            [
                (25, "sqs:GetQueueAttributes", "orders-dlq"),
                (58, "sqs:SetQueueAttributes", "orders-dlq"),
            ],
            ip=ALICE.ip,
            ua=CLI + "sqs",
            region="eu-west-1",
        )
    with s.case(
        "N05",
        "none",
        "none",
        STAGING,
        "Privileged task started from the IAM console: AssumeRoot from the console, then "
        "a ConsoleLogin and calls by the root session (not long-term root use)",
    ):
        issued = at(7, 16, 4, 12)
        key = s.assume_root(
            ALICE, issued, STAGING, "IAMAuditRootUserCredentials", region="eu-west-1", console=True
        )
        ident = s.root_identity(STAGING, key, issued, assumed_root=True)
        s.emit(
            account=STAGING,
            region="eu-west-1",
            time=issued + timedelta(seconds=4),
            source="signin.amazonaws.com",
            name="ConsoleLogin",
            identity=ident,
            ip=ALICE.ip,
            ua=BROWSER,
            ro=False,
            resp={"ConsoleLogin": "Success"},
            extra={
                "LoginTo": "https://eu-west-1.console.aws.amazon.com/iam/home",
                "MobileVersion": "No",
                "MFAUsed": "No",
            },
            etype="AwsConsoleSignIn",
            request_id=False,
            tls_host="eu-west-1.signin.aws.amazon.com",
        )
        for offset, action in ((19, "iam:GetAccountSummary"), (33, "iam:ListMFADevices")):
            s.action(
                STAGING,
                issued + timedelta(seconds=offset),
                action,
                "",
                ident,
                ip=ALICE.ip,
                ua="AWS Internal",
                console=True,
            )
    with s.case(
        "P01",
        "duration",
        "low",
        MANAGEMENT,
        "AssumeRoot requesting durationSeconds 3600 (> 900): fails ValidationError",
    ):
        s.assume_root(
            ALICE,
            at(8, 8, 0, 40),
            PROD,
            "IAMAuditRootUserCredentials",
            duration=3600,
            err=(
                "ValidationError",
                (
                    "1 validation error detected: Value '3600' at "
                    "'durationSeconds' failed to satisfy constraint: Member must have "
                    "value less than or equal to 900"
                ),
            ),
        )
    with s.case(
        "N10",
        "none",
        "none",
        PROD,
        "S3UnlockBucketPolicy session opened through the ap-southeast-2 STS endpoint "
        "(AssumeRoot is regional)",
    ):
        issued = at(8, 9, 0, 8)
        key = s.assume_root(
            ALICE, issued, PROD, "S3UnlockBucketPolicy", region="ap-southeast-2", duration=600
        )
        s.session(
            PROD,
            key,
            issued,
            [
                (30, "s3:GetBucketPolicy", "acme-prod-assets-apse2"),
                (61, "s3:DeleteBucketPolicy", "acme-prod-assets-apse2"),
            ],
            ip=ALICE.ip,
            ua=CLI + "s3api",
            region="ap-southeast-2",
        )
    with s.case(
        "P03",
        "duration",
        "high",
        DATA,
        "IAMAuditRootUserCredentials session whose successful calls span 16 minutes "
        "(965 s after issue)",
    ):
        issued = at(8, 13, 0, 2)
        key = s.assume_root(ALICE, issued, DATA, "IAMAuditRootUserCredentials")
        s.session(
            DATA,
            key,
            issued,
            [
                (15, "iam:GetAccountSummary", ""),
                (260, "iam:ListAccessKeys", ""),
                (545, "iam:ListMFADevices", ""),
                (965, "iam:ListSigningCertificates", ""),
            ],
            ip=ALICE.ip,
            ua=ua,
        )


def _sessions_delegated(s: _Story, dev_key: str) -> None:
    ua = BOTO
    with s.case(
        "P02",
        "duration",
        "medium",
        STAGING,
        "Key of an IAMAuditRootUserCredentials session used 990 s after issue: ExpiredToken",
    ):
        issued = at(6, 10, 15, 30)
        key = s.assume_root(BOB, issued, STAGING, "IAMAuditRootUserCredentials")
        s.session(
            STAGING,
            key,
            issued,
            [
                (15, "iam:GetAccountSummary", ""),
                (52, "iam:ListMFADevices", ""),
                (990, "iam:ListAccessKeys", ""),
            ],
            ip=BOB.ip,
            ua=ua,
            errors={2: ("ExpiredToken", "The security token included in the request is expired")},
        )
    with s.case(
        "N03",
        "none",
        "none",
        SECURITY,
        "AssumeRoot from the IAM delegated administrator while it is registered "
        "(IAMCreateRootUserPassword on acme-data)",
    ):
        issued = at(6, 11, 0, 17)
        key = s.assume_root(BOB, issued, DATA, "IAMCreateRootUserPassword")
        s.session(
            DATA,
            key,
            issued,
            [(25, "iam:CreateLoginProfile", ""), (47, "iam:GetLoginProfile", "")],
            ip=BOB.ip,
            ua=ua,
        )
    with s.case(
        "P07",
        "authorization",
        "medium",
        DEV,
        "AssumeRoot called by member account acme-dev, which is not the delegated "
        "administrator (fails AccessDenied)",
    ):
        s.assume_root(
            CAROL,
            at(6, 16, 0, 38),
            STAGING,
            "IAMAuditRootUserCredentials",
            err=_denied(CAROL, "sts:AssumeRoot", f"arn:aws:iam::{STAGING}:root"),
        )
    iam = "iam.amazonaws.com"
    s.org(
        ORG_ADMIN,
        at(8, 10, 0, 12),
        "DeregisterDelegatedAdministrator",
        {"accountId": SECURITY, "servicePrincipal": iam},
    )
    with s.case(
        "P10",
        "authorization",
        "medium",
        SECURITY,
        "AssumeRoot from acme-security while deregistered as delegated administrator "
        "(fails AccessDenied)",
    ):
        s.assume_root(
            BOB,
            at(8, 11, 0, 45),
            DATA,
            "IAMAuditRootUserCredentials",
            err=_denied(BOB, "sts:AssumeRoot", f"arn:aws:iam::{DATA}:root"),
        )
    s.org(
        ORG_ADMIN,
        at(8, 15, 0, 3),
        "RegisterDelegatedAdministrator",
        {"accountId": SECURITY, "servicePrincipal": iam},
    )
    issued = at(9, 9, 0, 20)
    key = s.assume_root(BOB, issued, DEV, "IAMDeleteRootUserCredentials", narrow=True)
    s.session(
        DEV,
        key,
        issued,
        [
            (16, "iam:ListAccessKeys", ""),
            (40, "iam:DeleteAccessKey", dev_key),
            (71, "iam:ListMFADevices", ""),
            (95, "iam:ListSigningCertificates", ""),
        ],
        ip=BOB.ip,
        ua=ua,
    )
    with s.case(
        "N04",
        "none",
        "none",
        PROD,
        "S3UnlockBucketPolicy session from the delegated administrator: its calls are "
        "made as Root with assumedRoot=true and must not count as long-term root use",
    ):
        issued = at(9, 10, 0, 55)
        key = s.assume_root(
            BOB, issued, PROD, "S3UnlockBucketPolicy", region="eu-west-1", narrow=True
        )
        s.session(
            PROD,
            key,
            issued,
            [
                (18, "s3:GetBucketPolicy", "acme-prod-logs-euw1"),
                (40, "s3:DeleteBucketPolicy", "acme-prod-logs-euw1"),
            ],
            ip=BOB.ip,
            ua=ua,
            region="eu-west-1",
        )
    with s.case(
        "P05",
        "task_scope",
        "medium",
        PROD,
        "SQSUnlockQueuePolicy session tries sqs:DeleteQueue: AccessDenied inside the session",
    ):
        issued = at(9, 11, 0, 9)
        key = s.assume_root(BOB, issued, PROD, "SQSUnlockQueuePolicy", narrow=True)
        s.session(
            PROD,
            key,
            issued,
            [
                (22, "sqs:GetQueueAttributes", "payments-events"),
                (50, "sqs:DeleteQueue", "payments-events"),
                (95, "sqs:SetQueueAttributes", "payments-events"),
            ],
            ip=BOB.ip,
            ua=ua,
            errors={
                1: (
                    "AccessDenied",
                    (
                        f"User: arn:aws:iam::{PROD}:root is not authorized to "
                        f"perform: sqs:deletequeue on resource: arn:aws:sqs:us-east-1:{PROD}:"
                        "payments-events because no session policy allows the sqs:deletequeue "
                        "action"
                    ),
                )
            },
        )
    with s.case(
        "P06",
        "task_scope",
        "medium",
        DATA,
        "AssumeRoot with a taskPolicyArn that is none of the five known task policies",
    ):
        issued = at(9, 12, 0, 31)
        key = s.assume_root(
            BOB,
            issued,
            DATA,
            "arn:aws:iam::aws:policy/root-task/ExampleUnlistedRootTask",
            narrow=True,
        )
        s.session(
            DATA,
            key,
            issued,
            [(30, "iam:GetAccountSummary", ""), (61, "iam:ListAccessKeys", "")],
            ip=BOB.ip,
            ua=ua,
        )
    with s.case(
        "N09",
        "none",
        "none",
        SANDBOX,
        "AssumeRoot throttled then retried one second later: one session, not a failed "
        "authorization",
    ):
        s.assume_root(
            BOB,
            at(9, 13, 0, 2),
            SANDBOX,
            "IAMAuditRootUserCredentials",
            err=("Throttling", "Rate exceeded"),
        )
        issued = at(9, 13, 0, 3)
        key = s.assume_root(BOB, issued, SANDBOX, "IAMAuditRootUserCredentials", narrow=True)
        s.session(
            SANDBOX,
            key,
            issued,
            [
                (20, "iam:GetAccountSummary", ""),
                (44, "iam:ListAccessKeys", ""),
                (70, "iam:ListMFADevices", ""),
            ],
            ip=BOB.ip,
            ua=ua,
        )


def _incidents(s: _Story) -> None:
    with s.case(
        "P12",
        "orphan",
        "high",
        PROD,
        "Root-session calls (assumedRoot=true) in acme-prod whose AssumeRoot call is in no log",
    ):
        issued = at(7, 12, 58, 3)
        s.session(
            PROD,
            s.key(),
            issued,
            [
                (40, "iam:GetAccountSummary", ""),
                (75, "iam:ListAccessKeys", ""),
                (130, "iam:ListMFADevices", ""),
            ],
            ip="192.0.2.200",
            ua=BOTO,
        )
    with s.case(
        "P15",
        "root_outside_assumeroot",
        "critical",
        SANDBOX,
        "Root of acme-sandbox signs in after its credentials were deleted centrally "
        "(password recovery, console login, new root access key)",
    ):
        ip, root = "203.0.113.66", s.root_identity(SANDBOX)
        login = at(8, 17, 37, 14)
        signin: Record = {
            "etype": "AwsConsoleSignIn",
            "request_id": False,
            "tls_host": "signin.aws.amazon.com",
            "ro": False,
        }
        s.emit(
            account=SANDBOX,
            region="us-east-1",
            time=login,
            source="signin.amazonaws.com",
            name="ConsoleLogin",
            identity=root,
            ip=ip,
            ua=BROWSER,
            resp={"ConsoleLogin": "Success"},
            extra={
                "LoginTo": "https://console.aws.amazon.com/console/home",
                "MobileVersion": "No",
                "MFAUsed": "No",
            },
            **signin,
        )
        for t, name in (
            (at(8, 17, 31, 2), "PasswordRecoveryRequested"),
            (at(8, 17, 36, 40), "PasswordRecoveryCompleted"),
        ):
            s.emit(
                account=SANDBOX,
                region="us-east-1",
                time=t,
                source="signin.amazonaws.com",
                name=name,
                identity=root,
                ip=ip,
                ua=BROWSER,
                resp={name: "Success"},
                **signin,
            )
        ident = s.root_identity(SANDBOX, s.key(), login)
        s.action(
            SANDBOX,
            at(8, 17, 40, 26),
            "iam:CreateAccessKey",
            s.key("AKIA"),
            ident,
            ip=ip,
            ua="AWS Internal",
            console=True,
        )
    with s.case(
        "P11",
        "authorization",
        "info",
        EXT_MANAGEMENT,
        "AssumeRoot session in another organization whose state is not in the logs "
        "(account trails only): authorization cannot be decided",
    ):
        issued = at(9, 16, 0, 14)
        key = s.assume_root(ERIN, issued, EXT_MEMBER, "IAMAuditRootUserCredentials")
        s.session(
            EXT_MEMBER,
            key,
            issued,
            [(25, "iam:GetAccountSummary", ""), (49, "iam:ListMFADevices", "")],
            ip=ERIN.ip,
            ua=CLI + "iam",
            trails=("account",),
        )


def _organization(s: _Story) -> None:
    iam = "iam.amazonaws.com"
    with s.case(
        "P18",
        "org_changes",
        "medium",
        DATA,
        "RegisterDelegatedAdministrator for IAM called from member account acme-data "
        "(fails AccessDenied)",
    ):
        s.org(
            DAVE,
            at(6, 16, 30, 48),
            "RegisterDelegatedAdministrator",
            {"accountId": DATA, "servicePrincipal": iam},
            err=_denied(DAVE, "organizations:RegisterDelegatedAdministrator", "*"),
        )
    with s.case(
        "P20",
        "org_state",
        "info",
        MANAGEMENT,
        "CreateAccount acme-tmp, and its CreateAccountResult service event",
    ):
        req_t, car = at(6, 17, 0, 12), "car-" + s.uuid().replace("-", "")
        status = {
            "id": car,
            "accountName": "acme-tmp",
            "state": "IN_PROGRESS",
            "requestedTimestamp": human(req_t),
        }
        s.org(
            ORG_ADMIN,
            req_t,
            "CreateAccount",
            {"accountName": "acme-tmp", "email": "HIDDEN_DUE_TO_SECURITY_REASONS"},
            {"createAccountStatus": status},
        )
        done = req_t + timedelta(minutes=4, seconds=21)
        s.emit(
            account=MANAGEMENT,
            region="us-east-1",
            time=done,
            source="organizations.amazonaws.com",
            name="CreateAccountResult",
            identity={"accountId": MANAGEMENT, "invokedBy": "AWS Internal"},
            ip="AWS Internal",
            ua="AWS Internal",
            ro=False,
            etype="AwsServiceEvent",
            request_id=False,
            details={
                "createAccountStatus": {
                    **status,
                    "state": "SUCCEEDED",
                    "accountId": TEMP,
                    "completedTimestamp": human(done),
                }
            },
        )
    hs = "h-" + s.uuid().replace("-", "")
    handshake: Record = {
        "id": hs,
        "arn": f"arn:aws:organizations::{MANAGEMENT}:handshake/{ORG_ID}/invite/{hs}",
        "parties": [
            {"id": ORG_ID[2:], "type": "ORGANIZATION"},
            {"id": ACQUIRED, "type": "ACCOUNT"},
        ],
        "state": "OPEN",
        "action": "INVITE",
    }
    with s.case(
        "P21",
        "org_state",
        "info",
        MANAGEMENT,
        "InviteAccountToOrganization for acquired-co, accepted by AcceptHandshake",
    ):
        s.org(
            ORG_ADMIN,
            at(7, 15, 0, 30),
            "InviteAccountToOrganization",
            {"target": {"id": ACQUIRED, "type": "ACCOUNT"}},
            {"handshake": handshake},
        )
        frank = Caller(ACQUIRED, "Admin", "frank", "192.0.2.150", BROWSER, sso=False)
        s.org(
            frank,
            at(7, 15, 41, 2),
            "AcceptHandshake",
            {"handshakeId": hs},
            {"handshake": {**handshake, "state": "ACCEPTED"}},
        )
    with s.case(
        "P16",
        "org_changes",
        "medium",
        MANAGEMENT,
        "DisableAWSServiceAccess for config.amazonaws.com made directly with the "
        "Organizations API (the service cannot clean up)",
    ):
        s.org(
            ORG_ADMIN,
            at(7, 14, 0, 55),
            "DisableAWSServiceAccess",
            {"servicePrincipal": "config.amazonaws.com"},
        )
    with s.case(
        "P22", "org_state", "info", MANAGEMENT, "RemoveAccountFromOrganization acme-legacy"
    ):
        s.org(ORG_ADMIN, at(8, 16, 0, 19), "RemoveAccountFromOrganization", {"accountId": LEGACY})
    with s.case(
        "P23",
        "org_state",
        "info",
        CONTRACTOR,
        "LeaveOrganization called by member account acme-contractor",
    ):
        gina = Caller(
            CONTRACTOR,
            "Admin",
            "gina",
            "192.0.2.160",
            CLI + "organizations.leave-organization",
            sso=False,
        )
        s.org(gina, at(9, 14, 0, 8), "LeaveOrganization")
    with s.case("P24", "org_state", "info", MANAGEMENT, "CloseAccount acme-tmp"):
        s.org(ORG_ADMIN, at(9, 15, 0, 44), "CloseAccount", {"accountId": TEMP})


def _root_access_facts(s: _Story, dev_key: str) -> None:
    """Cases for the AWS facts the checks rest on: root credentials cannot call AssumeRoot, the
    feature each task needs, eventTime's clock, DeleteVirtualMFADevice in task policy v1, and an
    orphan session the logs may not have caught up with. Told after the rest of the story, so
    the identifiers of everything before stay as they were."""
    with s.case(
        "P25",
        "authorization",
        "medium",
        DEV,
        "AssumeRoot called with acme-dev's long-term root access key (root credentials cannot "
        "call AssumeRoot; refused AccessDenied)",
    ):
        s.emit(
            account=DEV,
            region="us-east-1",
            time=at(5, 11, 5, 40),
            source="sts.amazonaws.com",
            name="AssumeRoot",
            identity=s.root_identity(DEV, dev_key),
            ip="203.0.113.45",
            ua=CLI + "sts.assume-root",
            ro=True,
            req={
                "targetPrincipal": STAGING,
                "taskPolicyArn": {
                    "arn": "arn:aws:iam::aws:policy/root-task/IAMAuditRootUserCredentials"
                },
            },
            err=(
                "AccessDenied",
                (
                    f"User: arn:aws:iam::{DEV}:root is not authorized to perform: sts:AssumeRoot "
                    f"on resource: arn:aws:iam::{STAGING}:root"
                ),
            ),
            version="1.08",
            tls_host="sts.us-east-1.amazonaws.com",
        )
    with s.case(
        "N11",
        "none",
        "none",
        DATA,
        "IAMAuditRootUserCredentials session whose last call is logged 902 s after issue: "
        "within the 5 s clock tolerance (eventTime is when the request completed)",
    ):
        issued = at(9, 16, 30, 0)
        key = s.assume_root(ALICE, issued, DATA, "IAMAuditRootUserCredentials")
        s.session(
            DATA,
            key,
            issued,
            [(20, "iam:GetAccountSummary", ""), (902, "iam:ListSigningCertificates", "")],
            ip=ALICE.ip,
            ua=CLI + "iam",
        )
    iam = "iam.amazonaws.com"
    with s.case(
        "N12",
        "none",
        "none",
        STAGING,
        "Root sessions disabled, then an IAMDeleteRootUserCredentials session on acme-staging "
        "is granted (AWS ties deleting root credentials to root credentials management, still "
        "enabled); its DeleteVirtualMFADevice is denied, as task policy v1 makes it",
    ):
        s.org(
            ORG_ADMIN,
            at(9, 17, 0, 5),
            "DisableOrganizationsRootSessions",
            None,
            {"organizationId": ORG_ID, "enabledFeatures": ["RootCredentialsManagement"]},
            source=iam,
        )
        issued = at(9, 17, 10, 40)
        key = s.assume_root(ALICE, issued, STAGING, "IAMDeleteRootUserCredentials")
        s.session(
            STAGING,
            key,
            issued,
            [
                (12, "iam:ListMFADevices", ""),
                (30, "iam:DeactivateMFADevice", ""),
                (41, "iam:DeleteVirtualMFADevice", ""),
            ],
            ip=ALICE.ip,
            ua=CLI + "iam",
            errors={
                2: (
                    "AccessDenied",
                    (
                        f"User: arn:aws:iam::{STAGING}:root is not authorized to perform: "
                        "iam:DeleteVirtualMFADevice on resource: "
                        f"arn:aws:iam::{STAGING}:mfa/root-account-mfa-device with an explicit "
                        "deny in a session policy"
                    ),
                )
            },
        )
    with s.case(
        "P26",
        "authorization",
        "low",
        MANAGEMENT,
        "S3UnlockBucketPolicy session granted while the logs show root sessions disabled: "
        "reported as what the logs show, not as unauthorized (how AWS enforces the feature is "
        "not documented)",
    ):
        issued = at(9, 17, 20, 30)
        key = s.assume_root(ALICE, issued, PROD, "S3UnlockBucketPolicy")
        s.session(
            PROD,
            key,
            issued,
            [(25, "s3:GetBucketPolicy", "acme-prod-assets")],
            ip=ALICE.ip,
            ua=CLI + "s3api",
        )
    with s.case(
        "P27",
        "orphan",
        "low",
        STAGING,
        "Root-session calls in acme-staging with no AssumeRoot call, after the management "
        "account's logs end: not yet evidence of a missing call",
    ):
        s.session(
            STAGING,
            s.key(),
            at(9, 22, 4, 40),
            [(15, "iam:GetAccountSummary", ""), (38, "iam:ListAccessKeys", "")],
            ip="192.0.2.201",
            ua=BOTO,
        )


def _organization_changes(s: _Story) -> None:
    """Who may change the organization: cases told after the rest of the story."""
    with s.case(
        "P28",
        "org_changes",
        "medium",
        SECURITY,
        "EnableOrganizationsRootSessions called by the IAM delegated administrator acme-security "
        "(fails CallerIsNotManagementAccount: only the management account may enable it)",
    ):
        s.org(
            BOB,
            at(8, 16, 30, 12),
            "EnableOrganizationsRootSessions",
            err=(
                "CallerIsNotManagementAccount",
                (
                    "The request was rejected because the account making the request is not the "
                    "management account for the organization."
                ),
            ),
            source="iam.amazonaws.com",
        )
    with s.case(
        "N13",
        "none",
        "none",
        SECURITY,
        "The IAM delegated administrator acme-security closes acme-sandbox (CloseAccount): "
        "delegated administrators may close member accounts, so this names no second "
        "management account",
    ):
        s.call(
            BOB,
            at(9, 19, 0, 30),
            "organizations.amazonaws.com",
            "CloseAccount",
            req={"accountId": SANDBOX},
            trails=("org", "account"),
        )


def _tell() -> _Story:
    s = _Story()
    _org_setup(s)
    dev_key = _root_outside(s)
    _sessions_mgmt(s)
    _sessions_delegated(s, dev_key)
    _incidents(s)
    _organization(s)
    _root_access_facts(s, dev_key)
    _organization_changes(s)
    twice = [e.record["eventID"] for e in s.events if len(e.trails) == 2]
    s.add_case(
        "N07",
        "none",
        "none",
        SECURITY,
        twice,
        "acme-security's events from 2026-10-09 are delivered twice: by the organization "
        "trail and by its own account trail (same eventID and content)",
    )
    return s


_STORY = _tell()
PLANTED: tuple[PlantedCase, ...] = tuple(
    sorted(_STORY.cases, key=lambda c: (c.case_id[0] != "P", c.case_id))
)
EVENTS: tuple[StoryEvent, ...] = tuple(_STORY.events)
