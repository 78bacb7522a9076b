"""Deterministic synthetic CloudTrail, written in the S3 layout AWS delivers.

    python -m trailscope.synthetic sample_logs/                 # the sample organization
    python -m trailscope.synthetic /tmp/bench --events 2000000 --background-only

`generate_background` streams background events (one file in memory at a time) for benchmarks;
`generate_org` writes the sample organization: the story of `trailscope.synthetic.story` (with
its planted cases, `PLANTED`) merged into background files, and a README.md generated from
`PLANTED`. Same arguments, same bytes: all randomness comes from `random.Random(seed)`.
Standard library only, so it runs anywhere.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import queue
import random
import shutil
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from trailscope.synthetic.story import (
    ACCOUNTS,
    BACKGROUND_ACCOUNTS,
    DAYS,
    EVENTS,
    MANAGEMENT,
    ORG_ID,
    PLANTED,
    REGIONS,
    SECURITY,
    START,
    PlantedCase,
    StoryEvent,
    human,
)

__all__ = [
    "PLANTED",
    "GenerationSummary",
    "PlantedCase",
    "generate_background",
    "generate_org",
    "main",
    "readme",
]

Record = dict[str, Any]
COMPRESSLEVEL = 6
MAX_RECORDS = 500  # per file, as AWS splits a busy 5-minute window
WINDOW = 300
ERROR_RATE = 0.066  # of calls by people and applications: about 5 % of all background records
SAMPLE_SEED = 7
SAMPLE_BACKGROUND = 20_000


@dataclass(frozen=True)
class GenerationSummary:
    files: int
    events: int  # records written (an event delivered twice counts twice)
    bytes: int  # compressed bytes written


# --------------------------------------------------------------------------------------------
# constants of the background


_CLI = (
    "aws-cli/2.27.41 md/awscrt#0.26.1 ua/2.1 os/linux#6.8.0-1024-aws md/arch#x86_64 "
    "lang/python#3.13.4 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe "
    "md/prompt#off"
)
_HUMAN_UAS = (
    _CLI,
    (
        "aws-cli/2.22.35 md/awscrt#0.23.8 ua/2.0 os/macos#24.3.0 md/arch#arm64 lang/python#3.12.9 "
        "md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off"
    ),
    (
        "Boto3/1.35.99 md/Botocore#1.35.99 ua/2.0 os/linux#6.1.128-136.201.amzn2023.x86_64 "
        "md/arch#x86_64 lang/python#3.12.8 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.35.99"
    ),
    "aws-sdk-go-v2/1.36.3 ua/2.1 os/linux lang/go#1.23.6 md/GOOS#linux md/GOARCH#amd64",
)
_CONSOLE_UAS = (
    "AWS Internal",
    (
        "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.780 Linux/5.10.233-203.887.amzn2int.x86_64 "
        "OpenJDK_64-Bit_Server_VM/25.442-b06 java/1.8.0_442 vendor/Oracle_Corporation "
        "cfg/retry-mode/standard]"
    ),
)
_BROWSERS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/139.0.0.0 Safari/537.36"
    ),
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:142.0) Gecko/20100101 Firefox/142.0",
)
_CI_UAS = (
    (
        "APN/1.0 HashiCorp/1.0 Terraform/1.9.8 (+https://www.terraform.io) terraform-provider-aws/"
        "5.84.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.36.0 "
        "ua/2.1 os/linux lang/go#1.23.3 md/GOOS#linux md/GOARCH#amd64"
    ),
    (
        "aws-cli/2.27.30 md/awscrt#0.26.1 ua/2.1 os/linux#6.11.0-1018-azure md/arch#x86_64 "
        "lang/python#3.13.4 md/pyimpl#CPython exec-env/GitHubActions cfg/retry-mode#standard"
    ),
)
_APP_UAS = (
    (
        "aws-sdk-java/2.30.14 Linux/5.10.234-225.910.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/21.0.6+7"
        "-LTS Java/21.0.6 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_FARGATE io/sync "
        "http/Apache cfg/retry-mode/legacy"
    ),
    (
        "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.227-239.884.amzn2.x86_64 "
        "md/arch#x86_64 lang/python#3.12.7 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 "
        "cfg/retry-mode#legacy Botocore/1.34.145"
    ),
    "aws-sdk-nodejs/2.1692.0 linux/v20.18.1 exec-env/AWS_Lambda_nodejs20.x promise",
)
_SSM_UA = "aws-sdk-go/1.55.5 (go1.22.7; linux; amd64) amazon-ssm-agent/3.3.1957.0"
_TLS13 = ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
_TLS12 = ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
_KIND_WEIGHTS = (("user", 3), ("sso", 5), ("ci", 3), ("app", 6), ("instance", 3), ("federated", 1))
_EC2_DESCRIBE = (
    "DescribeInstances",
    "DescribeSecurityGroups",
    "DescribeVolumes",
    "DescribeSubnets",
    "DescribeVpcs",
    "DescribeNetworkInterfaces",
    "DescribeImages",
    "DescribeAddresses",
    "DescribeRouteTables",
    "DescribeInstanceStatus",
    "DescribeAvailabilityZones",
    "DescribeSnapshots",
)
_S3_GET = (
    ("GetBucketPolicy", "policy"),
    ("GetBucketAcl", "acl"),
    ("GetBucketLocation", "location"),
    ("GetBucketEncryption", "encryption"),
    ("GetBucketVersioning", "versioning"),
    ("GetBucketTagging", "tagging"),
    ("GetBucketPublicAccessBlock", "publicAccessBlock"),
)
_IAM_READ = (
    "ListUsers",
    "ListRoles",
    "GetRole",
    "ListAttachedRolePolicies",
    "GetUser",
    "ListPolicies",
    "GetPolicy",
    "GetPolicyVersion",
    "ListRolePolicies",
    "GetAccountPasswordPolicy",
    "ListInstanceProfilesForRole",
    "ListGroupsForUser",
)
_SERVICES = (
    "s3.amazonaws.com",
    "secretsmanager.amazonaws.com",
    "ssm.amazonaws.com",
    "ec2.amazonaws.com",
    "lambda.amazonaws.com",
    "rds.amazonaws.com",
)
_B32 = str.maketrans("0123456789abcdef", "ABCDEFGHJKMNPQ27")
_APPS = ("orders-api", "billing-worker", "ingest", "reporting", "catalog-sync", "notifier")


class _Sess:
    """A principal at work during one 5-minute file: identity, client and network."""

    __slots__ = ("arn", "console", "host_tls", "ident", "ip", "kind", "ua", "vpce")

    def __init__(
        self,
        kind: str,
        ident: Record,
        ua: str,
        ip: str,
        vpce: str | None,
        console: bool,
        tls: tuple[str, str],
    ) -> None:
        self.kind, self.ident, self.ua, self.ip, self.vpce = kind, ident, ua, ip, vpce
        self.console, self.arn, self.host_tls = console, str(ident.get("arn", "")), tls


_ROLE_SERVICES = ("lambda.amazonaws.com", "ecs-tasks.amazonaws.com", "config.amazonaws.com")
_AWS_SERVICE = {
    svc: _Sess("service", {"type": "AWSService", "invokedBy": svc}, svc, svc, None, False, _TLS13)
    for svc in (*_SERVICES, *_ROLE_SERVICES)
}


class _Pool:
    """The fixed principals and resources of one account."""

    def __init__(self, g: _Gen, account: str, regions: Sequence[str]) -> None:
        self.account = account
        names = ("ana", "ben", "chen", "dara", "eli", "fatima", "gus", "hana", "ivo", "jules")
        self.users = [self._user(g, n) for n in g.rng.sample(names, 3)]
        self.sso_roles = [
            f"AWSReservedSSO_{p}_{g.hex(16)}"
            for p in ("AdministratorAccess", "ReadOnlyAccess", "PowerUserAccess")
        ]
        self.emails = [f"{n}@acme.example" for n in g.rng.sample(names, 4)]
        self.role_ids = {
            r: g.key("AROA", 17)
            for r in (
                *self.sso_roles,
                "github-actions-deploy",
                "terraform-apply",
                "ec2-ssm-instance",
                *(f"{a}-role" for a in _APPS),
            )
        }
        self.buckets = {
            r: [f"acme-{account[-3:]}-{w}-{r}" for w in ("artifacts", "data", "logs")]
            for r in regions
        }
        self.kms = {r: f"arn:aws:kms:{r}:{account}:key/{g.uuid()}" for r in regions}
        self.instances = [f"i-0{g.hex(16)}" for _ in range(6)]
        self.stacks = [f"{a}-{e}" for a in _APPS[:4] for e in ("network", "service")]

    def _user(self, g: _Gen, name: str) -> Record:
        return {
            "type": "IAMUser",
            "principalId": g.key("AIDA", 17),
            "arn": f"arn:aws:iam::{self.account}:user/{name}",
            "accountId": self.account,
            "accessKeyId": g.key("AKIA", 16),
            "userName": name,
        }

    def role_arn(self, role: str) -> str:
        path = "aws-reserved/sso.amazonaws.com/" if role.startswith("AWSReservedSSO_") else ""
        return f"arn:aws:iam::{self.account}:role/{path}{role}"


class _Gen:
    """Makes background records; all randomness from one random.Random(seed)."""

    def __init__(self, seed: int, accounts: Sequence[str], regions: Sequence[str]) -> None:
        self.rng = random.Random(seed)
        self.rand = self.rng.random
        self.bits = self.rng.getrandbits
        self.tokens = [
            "IQoJb3JpZ2luX2VjE" + base64.b64encode(self.bits(8 * 270).to_bytes(270, "big")).decode()
            for _ in range(16)
        ]
        self.accounts = list(accounts)
        self.pools = {a: _Pool(self, a, regions) for a in accounts}
        self.tpre, self.m0, self.wstart = "", 0, datetime(2000, 1, 1, tzinfo=UTC)
        self.kinds = [k for k, w in _KIND_WEIGHTS for _ in range(w)]
        # per kind: (templates for other regions, templates for us-east-1), repeated by weight
        self.tables = {
            k: (
                [t for (t, glob), w in v if not glob for _ in range(w)],
                [t for (t, _glob), w in v for _ in range(w)],
            )
            for k, v in _TABLES.items()
        }

    # identifiers ------------------------------------------------------------------------------
    def uuid(self) -> str:
        h = self.bits(128).to_bytes(16, "big").hex()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:]}"

    def hex(self, n: int) -> str:
        return f"{self.bits(4 * n):0{n}x}"

    def key(self, prefix: str, n: int) -> str:
        """prefix + n characters of the base32 alphabet AWS key IDs use (a 16-letter subset)."""
        return prefix + self.bits(80).to_bytes(10, "big").hex().translate(_B32)[:n]

    def s3id(self) -> str:
        return self.bits(64).to_bytes(8, "big").hex().translate(_B32)

    def amzid(self) -> str:
        return base64.b64encode(self.bits(448).to_bytes(56, "big")).decode()

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[int(self.rand() * len(seq))]

    def ip(self) -> str:
        return f"{self.pick(('198.51.100', '203.0.113', '192.0.2'))}.{1 + int(self.rand() * 250)}"

    # time -------------------------------------------------------------------------------------
    def window(self, start: datetime) -> None:
        self.wstart = start
        self.tpre, self.m0 = start.strftime("%Y-%m-%dT%H:"), start.minute

    def t(self) -> str:
        s = int(self.rand() * WINDOW)
        return f"{self.tpre}{self.m0 + s // 60:02d}:{s % 60:02d}Z"

    def created(self, max_age: int) -> str:
        t = self.wstart - timedelta(seconds=int(self.rand() * max_age))
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    # principals -------------------------------------------------------------------------------
    def role_ident(self, pool: _Pool, role: str, session: str, ec2: bool = False) -> Record:
        rid = pool.role_ids[role]
        ctx: Record = {
            "sessionIssuer": {
                "type": "Role",
                "principalId": rid,
                "arn": pool.role_arn(role),
                "accountId": pool.account,
                "userName": role,
            },
            "webIdFederationData": {},
            "attributes": {"creationDate": self.created(3000), "mfaAuthenticated": "false"},
        }
        if ec2:
            ctx["ec2RoleDelivery"] = "2.0"
        return {
            "type": "AssumedRole",
            "principalId": f"{rid}:{session}",
            "arn": f"arn:aws:sts::{pool.account}:assumed-role/{role}/{session}",
            "accountId": pool.account,
            "accessKeyId": self.key("ASIA", 16),
            "sessionContext": ctx,
        }

    def session(self, pool: _Pool, kind: str) -> _Sess:
        tls = _TLS13 if self.rand() < 0.8 else _TLS12
        if kind == "user":
            return _Sess(
                kind, self.pick(pool.users), self.pick(_HUMAN_UAS), self.ip(), None, False, tls
            )
        if kind == "sso":
            console = self.rand() < 0.4
            ua = self.pick(_CONSOLE_UAS) if console else self.pick(_HUMAN_UAS)
            ident = self.role_ident(pool, self.pick(pool.sso_roles), self.pick(pool.emails))
            return _Sess(kind, ident, ua, self.ip(), None, console, tls)
        if kind == "ci":
            role = self.pick(("github-actions-deploy", "terraform-apply"))
            ident = self.role_ident(pool, role, f"gha-{self.bits(32)}")
            return _Sess(kind, ident, self.pick(_CI_UAS), self.ip(), None, False, tls)
        if kind == "app":
            app = self.pick(_APPS)
            ident = self.role_ident(pool, f"{app}-role", self.hex(32))
            vpce = f"vpce-0{self.hex(16)}" if self.rand() < 0.3 else None
            ip = f"10.{int(self.rand() * 64)}.{int(self.rand() * 255)}.{int(self.rand() * 255)}"
            return _Sess(
                kind, ident, self.pick(_APP_UAS), ip if vpce else self.ip(), vpce, False, _TLS13
            )
        if kind == "instance":
            ident = self.role_ident(pool, "ec2-ssm-instance", self.pick(pool.instances), ec2=True)
            return _Sess(kind, ident, _SSM_UA, self.ip(), None, False, _TLS13)
        broker = pool.users[0]
        name = self.pick(("partner-sync", "vendor-portal"))
        ident = {
            "type": "FederatedUser",
            "principalId": f"{pool.account}:{name}",
            "arn": f"arn:aws:sts::{pool.account}:federated-user/{name}",
            "accountId": pool.account,
            "accessKeyId": self.key("ASIA", 16),
            "sessionContext": {
                "sessionIssuer": {
                    "type": "IAMUser",
                    "principalId": broker["principalId"],
                    "arn": broker["arn"],
                    "accountId": pool.account,
                    "userName": broker["userName"],
                },
                "attributes": {"creationDate": self.created(3000), "mfaAuthenticated": "false"},
            },
        }
        return _Sess(kind, ident, self.pick(_HUMAN_UAS), self.ip(), None, False, tls)

    # one record -------------------------------------------------------------------------------
    def ev(
        self,
        s: _Sess,
        acct: str,
        region: str,
        src: str,
        name: str,
        *,
        ro: bool,
        req: Any = None,
        resp: Any = None,
        extra: Any = None,
        res: Any = None,
        host: str | None = None,
        ver: str = "1.11",
        errs: tuple[str, str] = ("AccessDenied", "ThrottlingException"),
        resource: str = "*",
        s3: bool = False,
        data: bool = False,
        shared: bool = False,
        etype: str = "AwsApiCall",
        details: Any = None,
    ) -> Record:
        kind = s.kind
        rec: Record = {
            "eventVersion": ver,
            "userIdentity": s.ident,
            "eventTime": self.t(),
            "eventSource": src,
            "eventName": name,
            "awsRegion": region,
            "sourceIPAddress": s.ip,
            "userAgent": s.ua,
        }
        if kind != "service" and self.rand() < ERROR_RATE:
            if self.rand() < 0.75:
                svc = src.split(".", 1)[0]
                rec["errorCode"] = errs[0]
                rec["errorMessage"] = (
                    f"User: {s.arn} is not authorized to perform: {svc}:{name}"
                    f" on resource: {resource} because no identity-based "
                    f"policy allows the {svc}:{name} action"
                )
            else:
                rec["errorCode"], rec["errorMessage"] = errs[1], "Rate exceeded"
            resp = None
        rec["requestParameters"] = req
        rec["responseElements"] = resp
        if extra is not None:
            rec["additionalEventData"] = extra
        rec["requestID"] = self.s3id() if s3 else self.uuid()
        rec["eventID"] = self.uuid()
        rec["readOnly"] = ro
        if res is not None:
            rec["resources"] = res
        rec["eventType"] = etype
        rec["managementEvent"] = not data
        rec["recipientAccountId"] = acct
        if shared:
            rec["sharedEventID"] = self.uuid()
        if details is not None:
            rec["serviceEventDetails"] = details
        if s.vpce is not None and src != "sts.amazonaws.com":
            rec["vpcEndpointId"] = s.vpce
        rec["eventCategory"] = "Data" if data else "Management"
        if host is not None:
            rec["tlsDetails"] = {
                "tlsVersion": s.host_tls[0],
                "cipherSuite": s.host_tls[1],
                "clientProvidedHostHeader": host,
            }
        if s.console:
            rec["sessionCredentialFromConsole"] = "true"
        return rec


# --------------------------------------------------------------------------------------------
# templates: (generator, session, pool, region) -> record


Template = Callable[[_Gen, _Sess, _Pool, str], Record]
_FILTER: Record = {"filterSet": {}}
_S3_EXTRA_KEYS = (
    "SignatureVersion",
    "CipherSuite",
    "bytesTransferredIn",
    "AuthenticationMethod",
    "x-amz-id-2",
    "bytesTransferredOut",
)


def _s3_extra(g: _Gen, bytes_in: int, bytes_out: int) -> Record:
    return {
        "SignatureVersion": "SigV4",
        "CipherSuite": "TLS_AES_128_GCM_SHA256",
        "bytesTransferredIn": bytes_in,
        "AuthenticationMethod": "AuthHeader",
        "x-amz-id-2": g.amzid(),
        "bytesTransferredOut": bytes_out,
    }


def _ec2_describe(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    name = g.pick(_EC2_DESCRIBE)
    req = {"instancesSet": {}, "filterSet": {}} if name == "DescribeInstances" else _FILTER
    return g.ev(
        s,
        p.account,
        region,
        "ec2.amazonaws.com",
        name,
        ro=True,
        req=req,
        host=f"ec2.{region}.amazonaws.com",
        errs=("Client.UnauthorizedOperation", "Client.RequestLimitExceeded"),
    )


def _ec2_write(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    host = f"ec2.{region}.amazonaws.com"
    errs = ("Client.UnauthorizedOperation", "Client.RequestLimitExceeded")
    iid = g.pick(p.instances)
    if g.rand() < 0.5:
        name = g.pick(("StopInstances", "StartInstances", "TerminateInstances"))
        return g.ev(
            s,
            p.account,
            region,
            "ec2.amazonaws.com",
            name,
            ro=False,
            req={"instancesSet": {"items": [{"instanceId": iid}]}},
            resp={
                "requestId": g.uuid(),
                "instancesSet": {
                    "items": [
                        {
                            "instanceId": iid,
                            "currentState": {"code": 64, "name": "stopping"},
                            "previousState": {"code": 16, "name": "running"},
                        }
                    ]
                },
            },
            host=host,
            errs=errs,
        )
    ami, subnet = f"ami-0{g.hex(16)}", f"subnet-0{g.hex(16)}"
    itype = g.pick(("t3.micro", "m7g.large", "c7i.xlarge"))
    req = {
        "instancesSet": {"items": [{"imageId": ami, "minCount": 1, "maxCount": 1}]},
        "instanceType": itype,
        "blockDeviceMapping": {},
        "monitoring": {"enabled": False},
        "disableApiTermination": False,
        "disableApiStop": False,
        "clientToken": g.uuid(),
        "subnetId": subnet,
        "tagSpecificationSet": {
            "items": [
                {"resourceType": "instance", "tags": [{"key": "app", "value": g.pick(_APPS)}]}
            ]
        },
        "metadataOptions": {"httpTokens": "required"},
    }
    resp = {
        "requestId": g.uuid(),
        "reservationId": f"r-0{g.hex(16)}",
        "ownerId": p.account,
        "groupSet": {},
        "instancesSet": {
            "items": [
                {
                    "instanceId": iid,
                    "imageId": ami,
                    "currentInstanceBootMode": "uefi",
                    "instanceState": {"code": 0, "name": "pending"},
                    "privateDnsName": f"ip-10-0-{int(g.rand() * 255)}-{int(g.rand() * 255)}."
                    f"{region}.compute.internal",
                    "amiLaunchIndex": 0,
                    "productCodes": {},
                    "instanceType": itype,
                    "launchTime": int(g.wstart.timestamp()) * 1000,
                    "placement": {"availabilityZone": f"{region}a", "tenancy": "default"},
                    "monitoring": {"state": "disabled"},
                    "subnetId": subnet,
                }
            ]
        },
    }
    return g.ev(
        s,
        p.account,
        region,
        "ec2.amazonaws.com",
        "RunInstances",
        ro=False,
        req=req,
        resp=resp,
        host=host,
        errs=errs,
    )


def _s3_bucket_read(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    name, sub = g.pick(_S3_GET)
    bucket = g.pick(p.buckets[region])
    host = f"{bucket}.s3.{region}.amazonaws.com"
    return g.ev(
        s,
        p.account,
        region,
        "s3.amazonaws.com",
        name,
        ro=True,
        req={"bucketName": bucket, "Host": host, sub: ""},
        extra=_s3_extra(g, 0, 200 + int(g.rand() * 900)),
        res=[{"accountId": p.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"}],
        host=host,
        s3=True,
        ver="1.10",
        resource=f"arn:aws:s3:::{bucket}",
        errs=("AccessDenied", "SlowDown"),
    )


def _s3_object(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    bucket = g.pick(p.buckets[region])
    put = g.rand() < 0.35
    name = "PutObject" if put else g.pick(("GetObject", "GetObject", "HeadObject"))
    key = f"{g.pick(_APPS)}/{g.tpre[:10].replace('-', '/')}/part-{g.bits(20):06d}.parquet"
    host = f"{bucket}.s3.{region}.amazonaws.com"
    size = int(g.rand() * 4_000_000)
    resp = (
        {
            "x-amz-server-side-encryption": "aws:kms",
            "x-amz-server-side-encryption-aws-kms-key-id": p.kms[region],
        }
        if put
        else None
    )
    return g.ev(
        s,
        p.account,
        region,
        "s3.amazonaws.com",
        name,
        ro=not put,
        req={"bucketName": bucket, "Host": host, "key": key},
        resp=resp,
        extra=_s3_extra(g, size if put else 0, 0 if put else size),
        res=[
            {"type": "AWS::S3::Object", "ARN": f"arn:aws:s3:::{bucket}/{key}"},
            {"accountId": p.account, "type": "AWS::S3::Bucket", "ARN": f"arn:aws:s3:::{bucket}"},
        ],
        host=host,
        s3=True,
        data=True,
        ver="1.10",
        resource=f"arn:aws:s3:::{bucket}/{key}",
        errs=("AccessDenied", "SlowDown"),
    )


def _s3_list(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    host = f"s3.{region}.amazonaws.com"
    return g.ev(
        s,
        p.account,
        region,
        "s3.amazonaws.com",
        "ListBuckets",
        ro=True,
        req={"Host": host},
        extra=_s3_extra(g, 0, 300 + int(g.rand() * 2000)),
        host=host,
        s3=True,
        ver="1.10",
    )


def _kms_service(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    svc = g.pick(_SERVICES)
    key = p.kms[region]
    ctx = (
        {"aws:s3:arn": f"arn:aws:s3:::{g.pick(p.buckets[region])}"}
        if svc.startswith("s3")
        else {"aws:ebs:id": f"vol-0{g.hex(16)}"}
        if svc.startswith("ec2")
        else {
            "SecretARN": f"arn:aws:secretsmanager:{region}:{p.account}:secret:"
            f"{g.pick(_APPS)}/db-{g.hex(6)}",
            "SecretVersionId": g.uuid(),
        }
    )
    gen = g.rand() < 0.4
    req: Record = (
        {"keyId": key, "keySpec": "AES_256", "encryptionContext": ctx}
        if gen
        else {"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "encryptionContext": ctx}
    )
    return g.ev(
        _AWS_SERVICE[svc],
        p.account,
        region,
        "kms.amazonaws.com",
        "GenerateDataKey" if gen else "Decrypt",
        ro=True,
        req=req,
        res=[{"accountId": p.account, "type": "AWS::KMS::Key", "ARN": key}],
        shared=True,
        ver="1.08",
    )


def _kms_user(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    key = p.kms[region]
    return g.ev(
        s,
        p.account,
        region,
        "kms.amazonaws.com",
        "Decrypt",
        ro=True,
        req={"encryptionAlgorithm": "SYMMETRIC_DEFAULT", "keyId": key},
        res=[{"accountId": p.account, "type": "AWS::KMS::Key", "ARN": key}],
        host=f"kms.{region}.amazonaws.com",
        resource=key,
        ver="1.10",
    )


def _assume_role(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    cross = s.kind != "service" and g.rand() < 0.4
    target = g.pick(g.accounts) if cross else p.account
    role = "OrganizationAccountAccessRole" if cross else f"{g.pick(_APPS)}-role"
    session = s.arn.rsplit("/", 1)[-1] if cross else g.hex(16)
    arn = f"arn:aws:iam::{target}:role/{role}"
    rid = g.key("AROA", 17)
    expires = g.wstart + timedelta(hours=1, seconds=int(g.rand() * 300))
    host = (
        "sts.amazonaws.com"
        if region == "us-east-1" and g.rand() < 0.5
        else f"sts.{region}.amazonaws.com"
    )
    return g.ev(
        s,
        p.account,
        region,
        "sts.amazonaws.com",
        "AssumeRole",
        ro=True,
        req={"roleArn": arn, "roleSessionName": session, "durationSeconds": 3600},
        resp={
            "credentials": {
                "accessKeyId": g.key("ASIA", 16),
                "sessionToken": g.pick(g.tokens),
                "expiration": human(expires),
            },
            "assumedRoleUser": {
                "assumedRoleId": f"{rid}:{session}",
                "arn": f"arn:aws:sts::{target}:assumed-role/{role}/{session}",
            },
        },
        res=[{"accountId": target, "type": "AWS::IAM::Role", "ARN": arn}],
        shared=cross or s.kind == "service",
        resource=arn,
        ver="1.08",
        host=None if s.kind == "service" else host,
    )


def _assume_role_service(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    return _assume_role(g, _AWS_SERVICE[g.pick(_ROLE_SERVICES)], p, region)


def _caller_identity(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    return g.ev(
        s,
        p.account,
        region,
        "sts.amazonaws.com",
        "GetCallerIdentity",
        ro=True,
        host=f"sts.{region}.amazonaws.com",
        ver="1.08",
    )


def _cloudformation(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    stack = g.pick(p.stacks)
    name = g.pick(
        (
            "DescribeStacks",
            "DescribeStackEvents",
            "GetTemplate",
            "ListStacks",
            "DescribeStackResources",
            "CreateChangeSet",
        )
    )
    req: Record | None = {"stackName": stack}
    resp = None
    if name == "ListStacks":
        req = {"stackStatusFilter": ["CREATE_COMPLETE", "UPDATE_COMPLETE"]}
    elif name == "CreateChangeSet":
        sid = f"arn:aws:cloudformation:{region}:{p.account}:stack/{stack}/{g.uuid()}"
        req = {
            "stackName": stack,
            "changeSetName": f"tf-{g.hex(12)}",
            "changeSetType": "UPDATE",
            "capabilities": ["CAPABILITY_NAMED_IAM"],
            "templateURL": f"https://s3."
            f"{region}.amazonaws.com/{p.buckets[region][0]}/cfn/{stack}.yaml",
        }
        resp = {"id": sid.replace(":stack/", ":changeSet/"), "stackId": sid}
    return g.ev(
        s,
        p.account,
        region,
        "cloudformation.amazonaws.com",
        name,
        ro=name != "CreateChangeSet",
        req=req,
        resp=resp,
        host=f"cloudformation.{region}.amazonaws.com",
        ver="1.10",
    )


def _lambda(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    fn = f"{g.pick(_APPS)}-{g.pick(('handler', 'cron', 'consumer'))}"
    arn = f"arn:aws:lambda:{region}:{p.account}:function:{fn}"
    name = g.pick(
        (
            "ListFunctions20150331",
            "GetFunction20150331v2",
            "GetPolicy20150331v2",
            "UpdateFunctionCode20150331v2",
        )
    )
    req: Record | None = {"functionName": fn}
    resp = None
    if name == "ListFunctions20150331":
        req = None
    elif name.startswith("Update"):
        req = {
            "functionName": fn,
            "publish": True,
            "s3Bucket": p.buckets[region][0],
            "s3Key": f"lambda/{fn}.zip",
        }
        resp = {
            "functionName": fn,
            "functionArn": arn,
            "runtime": "python3.12",
            "role": f"arn:aws:iam::{p.account}:role/{g.pick(_APPS)}-role",
            "handler": "app.handler",
            "codeSize": 10_000 + int(g.rand() * 1e6),
            "timeout": 30,
            "memorySize": 512,
            "lastModified": g.t().replace("Z", ".000+0000"),
            "codeSha256": g.amzid()[:44],
            "version": str(int(g.rand() * 90) + 1),
            "state": "Active",
            "lastUpdateStatus": "InProgress",
            "architectures": ["arm64"],
        }
    return g.ev(
        s,
        p.account,
        region,
        "lambda.amazonaws.com",
        name,
        ro=not name.startswith("Update"),
        req=req,
        resp=resp,
        host=f"lambda.{region}.amazonaws.com",
        resource=arn,
        ver="1.09",
    )


def _logs(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    group = f"/aws/lambda/{g.pick(_APPS)}-handler"
    if s.kind in ("app", "instance"):
        return g.ev(
            s,
            p.account,
            region,
            "logs.amazonaws.com",
            "CreateLogStream",
            ro=False,
            req={
                "logGroupName": group,
                "logStreamName": f"{g.tpre[:10].replace('-', '/')}/[$LATEST]{g.hex(32)}",
            },
            host=f"logs.{region}.amazonaws.com",
            ver="1.09",
        )
    if g.rand() < 0.7:
        return g.ev(
            s,
            p.account,
            region,
            "logs.amazonaws.com",
            "DescribeLogGroups",
            ro=True,
            req={"logGroupNamePrefix": "/aws/lambda/"},
            host=f"logs.{region}.amazonaws.com",
            ver="1.09",
        )
    return g.ev(
        s,
        p.account,
        region,
        "logs.amazonaws.com",
        "PutRetentionPolicy",
        ro=False,
        req={"logGroupName": group, "retentionInDays": 30},
        host=f"logs.{region}.amazonaws.com",
        ver="1.09",
    )


def _ssm_agent(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    iid = s.arn.rsplit("/", 1)[-1]
    host = f"ssm.{region}.amazonaws.com"
    if g.rand() < 0.6:
        return g.ev(
            s,
            p.account,
            region,
            "ssm.amazonaws.com",
            "UpdateInstanceInformation",
            ro=False,
            req={
                "instanceId": iid,
                "agentVersion": "3.3.1957.0",
                "agentStatus": "Active",
                "platformType": "Linux",
                "platformName": "Amazon Linux",
                "platformVersion": "2023",
                "iPAddress": s.ip,
                "computerName": f"{iid}.{region}.compute.internal",
                "agentName": "amazon-ssm-agent",
                "availabilityZone": f"{region}a",
                "sSMConnectionChannel": "ssmmessages",
            },
            host=host,
            ver="1.08",
        )
    return g.ev(
        s,
        p.account,
        region,
        "ssm.amazonaws.com",
        "ListInstanceAssociations",
        ro=True,
        req={"instanceId": iid, "maxResults": 20},
        host=host,
        ver="1.08",
    )


def _ssm_param(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    app = g.pick(_APPS)
    if s.kind in ("user", "sso", "federated") and g.rand() < 0.4:
        return g.ev(
            s,
            p.account,
            region,
            "ssm.amazonaws.com",
            "DescribeInstanceInformation",
            ro=True,
            req={"maxResults": 50},
            host=f"ssm.{region}.amazonaws.com",
        )
    if g.rand() < 0.5:
        req: Record = {"name": f"/{app}/prod/db-host", "withDecryption": True}
        name = "GetParameter"
    else:
        req = {
            "names": [f"/{app}/prod/{k}" for k in ("db-host", "db-port", "feature-flags")],
            "withDecryption": True,
        }
        name = "GetParameters"
    return g.ev(
        s,
        p.account,
        region,
        "ssm.amazonaws.com",
        name,
        ro=True,
        req=req,
        host=f"ssm.{region}.amazonaws.com",
        resource=f"arn:aws:ssm:{region}:{p.account}:parameter/{app}/prod/db-host",
    )


def _secrets(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    arn = f"arn:aws:secretsmanager:{region}:{p.account}:secret:{g.pick(_APPS)}/db-{g.hex(6)}"
    name = "GetSecretValue" if g.rand() < 0.7 else "DescribeSecret"
    return g.ev(
        s,
        p.account,
        region,
        "secretsmanager.amazonaws.com",
        name,
        ro=True,
        req={"secretId": arn},
        host=f"secretsmanager.{region}.amazonaws.com",
        resource=arn,
        ver="1.10",
    )


def _secret_rotation(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    """A service event whose userIdentity has no type, as secretsmanager writes them."""
    arn = f"arn:aws:secretsmanager:{region}:{p.account}:secret:{g.pick(_APPS)}/db-{g.hex(6)}"
    svc = _Sess(
        "service",
        {"accountId": p.account, "invokedBy": "secretsmanager.amazonaws.com"},
        "secretsmanager.amazonaws.com",
        "secretsmanager.amazonaws.com",
        None,
        False,
        _TLS13,
    )
    rec = g.ev(
        svc,
        p.account,
        region,
        "secretsmanager.amazonaws.com",
        g.pick(("RotationStarted", "RotationSucceeded")),
        ro=False,
        extra={"SecretId": arn},
        etype="AwsServiceEvent",
    )
    del rec["requestID"]
    return rec


def _iam_read(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    name = g.pick(_IAM_READ)
    role = g.pick(list(p.role_ids))
    req: Record | None = None
    if "Role" in name:
        req = {"roleName": role}
    elif name in ("GetUser", "ListGroupsForUser"):
        req = {"userName": g.pick(p.users)["userName"]}
    elif name.startswith("GetPolicy"):
        req = {"policyArn": f"arn:aws:iam::{p.account}:policy/{g.pick(_APPS)}-access"}
        if name == "GetPolicyVersion":
            req["versionId"] = f"v{1 + int(g.rand() * 5)}"
    elif name == "ListPolicies":
        req = {"scope": "Local", "onlyAttached": False}
    return g.ev(
        s,
        p.account,
        "us-east-1",
        "iam.amazonaws.com",
        name,
        ro=True,
        req=req,
        host="iam.amazonaws.com",
        ver=g.pick(("1.09", "1.10", "1.11")),
        errs=("AccessDenied", "Throttling"),
    )


def _iam_write(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    app = g.pick(_APPS)
    role = f"{app}-role"
    if g.rand() < 0.35:
        user = f"svc-{app}-{g.hex(4)}"
        req: Record = {"userName": user, "path": "/"}
        resp: Record | None = {
            "user": {
                "path": "/",
                "userName": user,
                "userId": g.key("AIDA", 17),
                "arn": f"arn:aws:iam::{p.account}:user/{user}",
                "createDate": human(g.wstart),
            }
        }
        name = "CreateUser"
    elif g.rand() < 0.5:
        name, resp = "AttachRolePolicy", None
        req = {"roleName": role, "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"}
    else:
        name, resp = "PutRolePolicy", None
        req = {
            "roleName": role,
            "policyName": f"{app}-inline",
            "policyDocument": json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["s3:GetObject", "s3:PutObject"],
                            "Resource": f"arn:aws:s3:::{p.buckets[region][1]}/*",
                        }
                    ],
                }
            ),
        }
    return g.ev(
        s,
        p.account,
        "us-east-1",
        "iam.amazonaws.com",
        name,
        ro=False,
        req=req,
        resp=resp,
        host="iam.amazonaws.com",
        errs=("AccessDenied", "Throttling"),
        resource=p.role_arn(role),
    )


def _console_login(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    user = g.pick(p.users)
    ident = {k: v for k, v in user.items() if k != "accessKeyId"}
    ok = g.rand() < 0.92
    rec: Record = {
        "eventVersion": "1.11",
        "userIdentity": ident,
        "eventTime": g.t(),
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "awsRegion": "us-east-1",
        "sourceIPAddress": s.ip,
        "userAgent": g.pick(_BROWSERS),
    }
    if not ok:
        rec["errorMessage"] = "Failed authentication"
    rec.update(
        {
            "requestParameters": None,
            "responseElements": {"ConsoleLogin": "Success" if ok else "Failure"},
            "additionalEventData": {
                "LoginTo": "https://console.aws.amazon.com/console/home?hashArgs=%23&"
                "isauthcode=true&state=hashArgsFromTB_us-east-1_" + g.hex(16),
                "MobileVersion": "No",
                "MFAUsed": "Yes" if g.rand() < 0.8 else "No",
            },
            "eventID": g.uuid(),
            "readOnly": False,
            "eventType": "AwsConsoleSignIn",
            "managementEvent": True,
            "recipientAccountId": p.account,
            "eventCategory": "Management",
            "tlsDetails": {
                "tlsVersion": "TLSv1.3",
                "cipherSuite": "TLS_AES_128_GCM_SHA256",
                "clientProvidedHostHeader": "signin.aws.amazon.com",
            },
        }
    )
    return rec


def _org_read(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    if p.account not in (MANAGEMENT, SECURITY):
        return _iam_read(g, s, p, region)
    name = g.pick(
        (
            "DescribeOrganization",
            "ListAccounts",
            "ListDelegatedAdministrators",
            "ListAWSServiceAccessForOrganization",
        )
    )
    req = {"servicePrincipal": "iam.amazonaws.com"} if name.startswith("ListDel") else None
    return g.ev(
        s,
        p.account,
        "us-east-1",
        "organizations.amazonaws.com",
        name,
        ro=True,
        req=req,
        host="organizations.us-east-1.amazonaws.com",
        ver="1.11",
    )


# (template, weight, global-only): global services appear only in us-east-1 files
_G = True
_TABLES: dict[str, list[tuple[tuple[Template, bool], int]]] = {
    "user": [
        ((_ec2_describe, False), 8),
        ((_s3_bucket_read, False), 4),
        ((_iam_read, _G), 6),
        ((_iam_write, _G), 1),
        ((_cloudformation, False), 2),
        ((_ssm_param, False), 2),
        ((_console_login, _G), 2),
        ((_s3_list, _G), 1),
        ((_caller_identity, False), 1),
        ((_assume_role, False), 2),
        ((_org_read, _G), 1),
        ((_lambda, False), 1),
    ],
    "sso": [
        ((_ec2_describe, False), 10),
        ((_s3_bucket_read, False), 5),
        ((_iam_read, _G), 5),
        ((_cloudformation, False), 3),
        ((_lambda, False), 2),
        ((_logs, False), 2),
        ((_ssm_param, False), 2),
        ((_secrets, False), 1),
        ((_ec2_write, False), 1),
        ((_s3_list, _G), 1),
        ((_org_read, _G), 1),
        ((_assume_role, False), 2),
    ],
    "federated": [
        ((_s3_object, False), 4),
        ((_s3_bucket_read, False), 2),
        ((_ec2_describe, False), 2),
    ],
    "ci": [
        ((_cloudformation, False), 6),
        ((_s3_object, False), 3),
        ((_s3_bucket_read, False), 2),
        ((_iam_read, _G), 3),
        ((_iam_write, _G), 1),
        ((_lambda, False), 3),
        ((_ec2_describe, False), 4),
        ((_assume_role, False), 2),
        ((_ec2_write, False), 1),
        ((_caller_identity, False), 1),
    ],
    "app": [
        ((_s3_object, False), 10),
        ((_kms_user, False), 3),
        ((_secrets, False), 3),
        ((_ssm_param, False), 3),
        ((_logs, False), 2),
        ((_caller_identity, False), 1),
    ],
    "instance": [
        ((_ssm_agent, False), 8),
        ((_s3_object, False), 2),
        ((_logs, False), 2),
        ((_ec2_describe, False), 1),
    ],
    "service": [
        ((_kms_service, False), 10),
        ((_assume_role_service, False), 4),
        ((_secret_rotation, False), 1),
    ],
}


# --------------------------------------------------------------------------------------------
# planning and streaming


_SERVICE = _Sess("service", {}, "", "", None, False, _TLS13)
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
PER_FILE = 80  # mean records per background file


def _split(total: int, weights: Sequence[float]) -> list[int]:
    """`total` split in proportion to `weights`, exactly (largest remainder, ties by index)."""
    s = sum(weights)
    raw = [total * w / s for w in weights]
    out = [int(r) for r in raw]
    order = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], i))
    for i in order[: total - sum(out)]:
        out[i] += 1
    return out


def _activity(t: datetime) -> float:
    """Relative activity of the 5 minutes starting at t: office hours, quieter weekends."""
    w = 0.25 + (1.0 if 7 <= t.hour < 19 else 0.0) + (0.6 if 9 <= t.hour < 17 else 0.0)
    return w * (0.4 if t.weekday() >= 5 else 1.0)


def _plan(
    rng: random.Random, events: int, n_acc: int, n_reg: int, first: int, windows: int
) -> list[tuple[int, int, int, int]]:
    """(absolute window, account index, region index, records) for every background file."""
    acc_w = [0.4 + rng.random() for _ in range(n_acc)]
    reg_w = [0.55, 0.3, 0.15][:n_reg] + [0.15] * max(0, n_reg - 3)
    cells = [(a, r) for a in range(n_acc) for r in range(n_reg)]
    counts = _split(events, [acc_w[a] * reg_w[r] for a, r in cells])
    cum: list[float] = []
    acc = 0.0
    for w in range(windows):
        acc += _activity(datetime.fromtimestamp((first + w) * WINDOW, UTC))
        cum.append(acc)
    plan: list[tuple[int, int, int, int]] = []
    for (a, r), n in zip(cells, counts, strict=True):
        if n == 0:
            continue
        k = max(1, min(windows, round(n / PER_FILE)))
        wins = rng.choices(range(windows), cum_weights=cum, k=k)
        per_win: dict[int, int] = {}
        shares = _split(n, [0.2 + rng.expovariate(1.0) for _ in wins])
        for win, c in zip(wins, shares, strict=True):
            per_win[win] = per_win.get(win, 0) + c
        plan.extend((first + win, a, r, c) for win, c in per_win.items() if c)
    plan.sort()
    return plan


Batch = tuple[int, str, str, list[Record], str]


def _background(
    seed: int,
    events: int,
    accounts: Sequence[str],
    regions: Sequence[str],
    start: datetime,
    days: int,
    key_reuse: bool = False,
) -> Iterator[Batch]:
    """(window, account, region, records, file suffix) for each file, in time order; checks
    the arguments now, generates lazily."""
    if events < 0 or days < 1 or not accounts or not regions:
        raise ValueError("need events >= 0, days >= 1, at least one account and one region")
    for acct in accounts:
        if len(acct) != 12 or not acct.isdigit():
            raise ValueError(f"account IDs are 12 digits: {acct!r}")
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    return _batches(seed, events, list(accounts), list(regions), start, days, key_reuse)


def _batches(
    seed: int,
    events: int,
    accounts: list[str],
    regions: list[str],
    start: datetime,
    days: int,
    key_reuse: bool,
) -> Iterator[Batch]:
    first = int(start.timestamp()) // WINDOW
    g = _Gen(seed, accounts, regions)
    plan = _plan(g.rng, events, len(accounts), len(regions), first, days * 288)
    live: dict[str, list[tuple[int, _Sess]]] = {a: [] for a in accounts}
    for win, a, r, count in plan:
        g.window(datetime.fromtimestamp(win * WINDOW, UTC))
        pool, region = g.pools[accounts[a]], regions[r]
        tables = g.tables
        use1 = region == "us-east-1"
        n = 1 + int(g.rand() * 5)
        mints: list[Record] = []
        if key_reuse:
            sessions = _reused(g, pool, region, live[pool.account], win, n, mints)
        else:
            sessions = [g.session(pool, g.pick(g.kinds)) for _ in range(n)]
        sessions.append(_SERVICE)
        chunks = -(-count // MAX_RECORDS)
        for size in _split(count, [1.0] * chunks):
            records = mints[:size]  # the calls that issued new sessions' keys come first
            del mints[:size]
            for _ in range(size - len(records)):
                s = sessions[int(g.rand() * len(sessions))]
                table = tables[s.kind][use1]
                records.append(table[int(g.rand() * len(table))](g, s, pool, region))
            yield win, pool.account, region, records, "".join(g.rng.choices(_ALNUM, k=16))


SESSION_WINDOWS = 12  # with key_reuse, a session's key works for an hour, STS's default
REUSE = 0.9  # and a principal at work in a file is one already at work 9 times in 10


def _reused(
    g: _Gen,
    pool: _Pool,
    region: str,
    live: list[tuple[int, _Sess]],
    win: int,
    n: int,
    mints: list[Record],
) -> list[_Sess]:
    """`n` sessions for a file, drawn mostly from the account's sessions still at work (so one
    role session's key signs many calls, across files and regions, as in real logs); each new
    one's issuing call is added to `mints`."""
    live[:] = [(end, s) for end, s in live if end > win]
    chosen = []
    for _ in range(n):
        if live and g.rand() < REUSE:
            chosen.append(g.pick(live)[1])
            continue
        s = g.session(pool, g.pick(g.kinds))
        live.append((win + SESSION_WINDOWS, s))
        chosen.append(s)
        if s.kind != "user":
            mints.append(_issuing_call(g, s, pool, region))
    return chosen


_SAML = "arn:aws:iam::{}:saml-provider/AWSSSO_{}_DO_NOT_DELETE"
_OIDC = "token.actions.githubusercontent.com"


def _issuing_call(g: _Gen, s: _Sess, p: _Pool, region: str) -> Record:
    """The STS call that issued session `s`'s key, at the start of the file's window, its time
    the session's creationDate as AWS logs them: AssumeRoleWithSAML for Identity Center,
    AssumeRoleWithWebIdentity for CI, the EC2 or Lambda service's AssumeRole for instances and
    applications, GetFederationToken signed by the broker user's access key."""
    ident = s.ident
    creds = {
        "accessKeyId": ident["accessKeyId"],
        "sessionToken": g.pick(g.tokens),
        "expiration": human(g.wstart + timedelta(hours=1)),
    }
    session = ident["arn"].rsplit("/", 1)[-1]
    if s.kind == "federated":
        caller = _Sess("user", p.users[0], g.pick(_HUMAN_UAS), s.ip, None, False, s.host_tls)
        name, req = "GetFederationToken", {"name": session, "durationSeconds": 3600}
        issued = {"federatedUser": {"federatedUserId": ident["principalId"], "arn": ident["arn"]}}
    else:
        role_arn = ident["sessionContext"]["sessionIssuer"]["arn"]
        issued = {"assumedRoleUser": {"assumedRoleId": ident["principalId"], "arn": ident["arn"]}}
        name, req = "AssumeRole", {"roleArn": role_arn, "roleSessionName": session}
        if s.kind == "sso":
            provider = _SAML.format(p.account, g.hex(16))
            who = {"type": "SAMLUser", "principalId": session, "userName": session}
            caller = _Sess(
                "saml", who | {"identityProvider": provider}, s.ua, s.ip, None, False, s.host_tls
            )
            name = "AssumeRoleWithSAML"
            req = {"roleArn": role_arn, "principalArn": provider, "durationSeconds": 3600}
        elif s.kind == "ci":
            who = {
                "type": "WebIdentityUser",
                "principalId": f"{_OIDC}:repo:acme/deploy",
                "userName": "repo:acme/deploy",
                "identityProvider": _OIDC,
            }
            caller = _Sess("oidc", who, s.ua, s.ip, None, False, s.host_tls)
            name = "AssumeRoleWithWebIdentity"
        else:
            service = "ec2.amazonaws.com" if s.kind == "instance" else "lambda.amazonaws.com"
            caller = _AWS_SERVICE[service]
    call = g.ev(
        caller,
        p.account,
        region,
        "sts.amazonaws.com",
        name,
        ro=True,
        req=req,
        resp={"credentials": creds, **issued},
        ver="1.08",
    )
    call["eventTime"] = f"{g.tpre}{g.m0:02d}:00Z"
    ident["sessionContext"]["attributes"]["creationDate"] = call["eventTime"]
    return call


class _Writer:
    """Encodes each file's JSON here; a thread gzips and writes it (zlib releases the GIL, so
    compression overlaps the generation of the next file). The queue bounds memory."""

    def __init__(self, out: Path, org_id: str, level: int) -> None:
        self.out, self.org_id, self.level = out, org_id, level
        self.files = self.events = self.bytes = 0
        self._dirs: set[Path] = set()
        self._queue: queue.Queue[tuple[Path, bytes] | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="synthetic-writer", daemon=True)
        self._thread.start()

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            if self._error is not None:
                continue
            path, data = item
            try:
                if path.parent not in self._dirs:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    self._dirs.add(path.parent)
                blob = gzip.compress(data, compresslevel=self.level, mtime=0)
                path.write_bytes(blob)
                self.bytes += len(blob)
            except Exception as e:  # noqa: BLE001  (re-raised in the caller's thread by close())
                self._error = e

    def write(
        self, org: bool, account: str, region: str, window: int, suffix: str, records: list[Record]
    ) -> None:
        if self._error is not None:
            self.close()
        stamp = datetime.fromtimestamp((window + 1) * WINDOW, UTC)
        path = self.out.joinpath(
            "AWSLogs",
            *((self.org_id,) if org else ()),
            account,
            "CloudTrail",
            region,
            f"{stamp:%Y}",
            f"{stamp:%m}",
            f"{stamp:%d}",
            f"{account}_CloudTrail_{region}_{stamp:%Y%m%dT%H%MZ}_{suffix}.json.gz",
        )
        data = json.dumps({"Records": records}, separators=(",", ":"), ensure_ascii=False)
        self._queue.put((path, data.encode()))
        self.files += 1
        self.events += len(records)

    def close(self) -> GenerationSummary:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        if self._error is not None:
            raise self._error
        return GenerationSummary(self.files, self.events, self.bytes)


def _prepare(out_dir: str | os.PathLike[str], overwrite: bool) -> Path:
    out = Path(out_dir)
    logs = out / "AWSLogs"
    if logs.exists() and any(logs.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{logs} is not empty (pass overwrite=True / --force to replace it)"
            )
        shutil.rmtree(logs)
    out.mkdir(parents=True, exist_ok=True)
    return out


# --------------------------------------------------------------------------------------------
# public API


def generate_background(
    out_dir: str | os.PathLike[str],
    *,
    events: int,
    seed: int = 0,
    accounts: Sequence[str] = BACKGROUND_ACCOUNTS,
    regions: Sequence[str] = REGIONS,
    start: datetime = START,
    days: int = DAYS,
    org_id: str = ORG_ID,
    compresslevel: int = COMPRESSLEVEL,
    overwrite: bool = False,
    key_reuse: bool = False,
) -> GenerationSummary:
    """Write exactly `events` background records (no root use, no AssumeRoot, no organization
    changes) under out_dir/AWSLogs/<org_id>/, streaming one file at a time. With `key_reuse`
    (for benchmarks; the sample organization never uses it) a role session's key works for an
    hour across the account's files and regions, and the STS call that issued it is logged."""
    out = _prepare(out_dir, overwrite)
    # validates the arguments
    batches = _background(seed, events, accounts, regions, start, days, key_reuse)
    w = _Writer(out, org_id, compresslevel)
    try:
        for win, account, region, records, suffix in batches:
            w.write(True, account, region, win, suffix, records)
    finally:
        summary = w.close()
    return summary


def _story_files(events: Iterable[StoryEvent]) -> dict[tuple[bool, str, str, int], list[Record]]:
    files: dict[tuple[bool, str, str, int], list[Record]] = {}
    for e in events:
        win = int(e.delivered.timestamp()) // WINDOW
        for trail in e.trails:
            files.setdefault((trail == "org", e.account, e.region, win), []).append(e.record)
    return files


def generate_org(
    out_dir: str | os.PathLike[str],
    *,
    seed: int = SAMPLE_SEED,
    background_events: int = SAMPLE_BACKGROUND,
    overwrite: bool = False,
) -> GenerationSummary:
    """Write the sample organization: the story (PLANTED cases included) merged into
    `background_events` background records, and README.md describing it."""
    out = _prepare(out_dir, overwrite)
    story = _story_files(EVENTS)
    batches = _background(seed, background_events, BACKGROUND_ACCOUNTS, REGIONS, START, DAYS)
    w = _Writer(out, ORG_ID, COMPRESSLEVEL)
    try:
        for win, account, region, records, suffix in batches:
            extra = story.pop((True, account, region, win), None)
            if extra:
                records = records + extra
                random.Random(f"{seed}/{account}/{region}/{win}").shuffle(records)
            w.write(True, account, region, win, suffix, records)
        for key in sorted(story):
            org, account, region, win = key
            rng = random.Random(f"{seed}/story/{key}")
            records = story[key]
            rng.shuffle(records)
            w.write(org, account, region, win, "".join(rng.choices(_ALNUM, k=16)), records)
    finally:
        summary = w.close()
    (out / "README.md").write_text(
        readme(summary, seed=seed, background_events=background_events),
        encoding="utf-8",
        newline="\n",
    )
    return summary


# --------------------------------------------------------------------------------------------
# README of the sample organization, generated so it cannot drift from PLANTED


def _case_of(rec: Record) -> str:
    ua = str(rec.get("userAgent", ""))
    return ua.rsplit("trailscope-case/", 1)[1] if "trailscope-case/" in ua else ""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme(
    summary: GenerationSummary | None = None,
    *,
    seed: int = SAMPLE_SEED,
    background_events: int = SAMPLE_BACKGROUND,
) -> str:
    """sample_logs/README.md: the organization, its timeline, the planted cases, the layout."""
    names = {a.id: a.name for a in ACCOUNTS}
    unique = sorted(
        {e.record["eventID"]: e for e in EVENTS}.values(),
        key=lambda e: (e.record["eventTime"], e.record["eventID"]),
    )
    copies = sum(len(e.trails) for e in EVENTS)
    intro = (
        "Synthetic CloudTrail for a small AWS organization that uses centralized root "
        "access, written in the layout AWS delivers to S3. **Generated; do not edit.** "
        "It is made by"
    )
    made = (
        f"(`trailscope/synthetic/generate.py` and `trailscope/synthetic/story.py`, seed {seed}, "
        f"{background_events:,} background events); `tests/test_synthetic.py` regenerates "
        "it and compares, so change the generator, not these files."
    )
    org = (
        f"Organization `{ORG_ID}`, 2026-10-05 to 2026-10-09 (UTC, Monday to Friday). "
        f"Regions {', '.join(REGIONS)}: global services (IAM, Organizations, sign-in) log in "
        "us-east-1, sts:AssumeRoot logs in the region whose endpoint was called. Background "
        "activity (EC2, S3 management and data events, IAM, STS, KMS, CloudFormation, Lambda, "
        "Logs, SSM, Secrets Manager, console sign-ins; about 5 % errors) runs in "
        f"{len(BACKGROUND_ACCOUNTS)} accounts; it holds no root use, no AssumeRoot and no "
        "organization changes, so every finding comes from a planted case."
    )
    cases = (
        "One case for each finding trailscope's checks can raise, and near misses (`N..`) "
        "that must raise none. Every planted record ends its `userAgent` with "
        "`trailscope-case/<ID>`; `trailscope.synthetic.PLANTED` lists each case's eventIDs "
        "(the first is the event a finding should point at). Severities are the expected "
        "ones; an `org_state` case is an organization change the changes table "
        "(`org_state_changes`) shows without a finding."
    )
    lines = [
        "# sample_logs: trailscope's sample organization",
        "",
        intro,
        "",
        "    python -m trailscope.synthetic sample_logs/ --force",
        "",
        made,
    ]
    if summary is not None:
        counts = (
            f"{summary.files:,} files, {summary.events:,} records: "
            f"{background_events:,} background, {len(unique)} story events "
            f"({copies} story records: {copies - len(unique)} events are delivered twice)."
        )
        lines += ["", counts]
    lines += [
        "",
        "## The organization",
        "",
        org,
        "",
        "| account | name | role in the story |",
        "|---|---|---|",
    ]
    lines += [f"| {a.id} | {a.name} | {_cell(a.role)} |" for a in ACCOUNTS]

    lines += [
        "",
        "## Organization changes",
        "",
        "| time (UTC) | account | event | parameters | result | case |",
        "|---|---|---|---|---|---|",
    ]
    root_features = (
        "EnableOrganizationsRootCredentialsManagement",
        "EnableOrganizationsRootSessions",
        "DisableOrganizationsRootCredentialsManagement",
        "DisableOrganizationsRootSessions",
    )
    for e in unique:
        r = e.record
        if r["eventSource"] == "organizations.amazonaws.com" or r["eventName"] in root_features:
            params = json.dumps(r["requestParameters"], separators=(", ", ": "))
            params = _cell(params) if r["requestParameters"] else ""
            lines.append(
                f"| {r['eventTime']} | {names.get(e.account, e.account)} | "
                f"{r['eventName']} | {params} | {r.get('errorCode', 'ok')} | "
                f"{_case_of(r)} |"
            )

    lines += [
        "",
        "## sts:AssumeRoot calls",
        "",
        "| time (UTC) | caller | region | target | task policy | durationSeconds | result |"
        + " case |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in unique:
        r = e.record
        if r["eventName"] != "AssumeRoot":
            continue
        req = r["requestParameters"]
        target = str(req["targetPrincipal"])
        target_name = names.get(target.split(":")[4] if target.startswith("arn:") else target, "")
        lines.append(
            f"| {r['eventTime']} | {names.get(e.account, e.account)} | {r['awsRegion']} "
            f"| {target} ({target_name}) | {req['taskPolicyArn']['arn'].split('/')[-1]} "
            f"| {req.get('durationSeconds', '(900)')} | {r.get('errorCode', 'ok')} | "
            f"{_case_of(r)} |"
        )

    lines += [
        "",
        "## Planted cases",
        "",
        cases,
        "",
        "| ID | expected finding | severity | account | what it is | events |",
        "|---|---|---|---|---|---|",
    ]
    for c in PLANTED:
        lines.append(
            f"| {c.case_id} | {c.check} | {c.severity} | {names.get(c.account, '')} "
            f"({c.account}) | {_cell(c.description)} | {len(c.event_ids)} |"
        )

    layout = (
        "AWSLogs/<org-id>/<account>/CloudTrail/<region>/YYYY/MM/DD/"
        "<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 alnum>.json.gz"
    )
    files = [
        f"`AWSLogs/{ORG_ID}/...`: the organization trail, one folder per account and region.",
        (
            f"`AWSLogs/{SECURITY}/...`: acme-security's own account trail (from 2026-10-09): the "
            "same events again, same eventID and content (case N07). Only the story events are "
            "copied there."
        ),
        (
            "`AWSLogs/500000000001/...` and `AWSLogs/500000000002/...`: account trails of another "
            "organization (case P11); no organization events exist for them."
        ),
        (
            'Each file is gzip of one compact JSON object `{"Records":[...]}`, as AWS writes it, '
            "`eventVersion` first in every record. A file holds one account's events in one region "
            "for a 5-minute window and is named by the end of the window (its delivery time); at "
            f"most about {MAX_RECORDS} records per file, not in time order. One AssumeRoot record "
            "arrives 70 minutes late (N08)."
        ),
        "`README.md` (this file) is not a log file.",
    ]
    lines += ["", "## Files", "", f"    {layout}", ""] + [f"- {f}" for f in files] + [""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# command line


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m trailscope.synthetic",
        description="Write deterministic synthetic CloudTrail in the S3 export layout: the "
        "sample organization (default) or background events only.",
    )
    ap.add_argument("out_dir", help="folder to write AWSLogs/ (and README.md) into")
    ap.add_argument(
        "--events",
        type=int,
        default=SAMPLE_BACKGROUND,
        help="background events (default %(default)s)",
    )
    ap.add_argument(
        "--seed",
        type=int,
        default=None,
        help=f"random seed (default {SAMPLE_SEED}, or 0 with --background-only)",
    )
    ap.add_argument(
        "--background-only",
        action="store_true",
        help="background events only: no story, no README (for benchmarks)",
    )
    ap.add_argument(
        "--key-reuse",
        action="store_true",
        help="with --background-only: role session keys sign calls for an hour, as in real "
        "logs, issued by logged STS calls (the analysis benchmark)",
    )
    ap.add_argument("--force", action="store_true", help="replace an existing OUT_DIR/AWSLogs")
    args = ap.parse_args(argv)
    try:
        if args.background_only:
            summary = generate_background(
                args.out_dir,
                events=args.events,
                seed=0 if args.seed is None else args.seed,
                overwrite=args.force,
                key_reuse=args.key_reuse,
            )
        else:
            summary = generate_org(
                args.out_dir,
                background_events=args.events,
                seed=SAMPLE_SEED if args.seed is None else args.seed,
                overwrite=args.force,
            )
    except (FileExistsError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"{summary.files} files, {summary.events} records, {summary.bytes} bytes in {args.out_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
