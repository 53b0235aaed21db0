"""The accounts of an AWS organisation, for ``opswarden org sync`` (docs/org-sync.md).

Needs the ``aws`` extra (boto3) and credentials of the management account or of a delegated
administrator, allowed ``organizations:ListAccounts``, ``ListParents``, ``DescribeOrganizationalUnit``
and ``ListTagsForResource``. boto3 finds the credentials and region itself (environment, profile,
instance role); Organizations is a global service, so without a region ``us-east-1`` is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from opswarden.errors import ConfigurationError

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient

INSTALL_HINT = "reading AWS Organizations needs boto3: install it with: pip install 'opswarden[aws]'"
PERMISSIONS = (
    "organizations:ListAccounts, ListParents, DescribeOrganizationalUnit and ListTagsForResource "
    "in the management account or a delegated administrator"
)


def organizations_client(profile: str | None = None) -> OrganizationsClient:
    """A boto3 Organizations client (credentials and region as boto3 finds them, or ``profile``)."""
    try:
        import boto3
        import botocore.exceptions
    except ModuleNotFoundError:
        raise ConfigurationError(INSTALL_HINT) from None
    try:
        session = boto3.session.Session(profile_name=profile)
        return session.client("organizations", region_name=session.region_name or "us-east-1")
    except botocore.exceptions.BotoCoreError as exc:
        raise ConfigurationError(f"AWS Organizations: {exc}") from None


def list_accounts(
    client: OrganizationsClient | None = None, profile: str | None = None
) -> list[dict[str, Any]]:
    """Every account of the organisation, as ``opswarden.policy.orgsync.sync_org`` takes them.

    One mapping per account: ``id``, ``name``, ``status`` (ACTIVE, SUSPENDED, PENDING_CLOSURE),
    ``ou`` (the name of its parent OU; ``None`` directly under the root) and ``tags``. An AWS error
    (no credentials, access denied, no organisation) becomes a ConfigurationError that says what
    the credentials need.
    """
    if client is None:
        client = organizations_client(profile)
    import botocore.exceptions

    try:
        return _read(client)
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        raise ConfigurationError(
            f"AWS Organizations: {error.get('Code', 'error')}: {error.get('Message', exc)} "
            f"(the credentials need {PERMISSIONS})"
        ) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise ConfigurationError(f"AWS Organizations: {exc} (the credentials need {PERMISSIONS})") from None


def _read(client: OrganizationsClient) -> list[dict[str, Any]]:
    ou_names: dict[str, str] = {}
    found: list[dict[str, Any]] = []
    for page in client.get_paginator("list_accounts").paginate():
        for account in page["Accounts"]:
            account_id = account["Id"]
            found.append(
                {
                    "id": account_id,
                    "name": account.get("Name", ""),
                    "status": account.get("Status", "ACTIVE"),
                    "ou": _ou(client, account_id, ou_names),
                    "tags": _tags(client, account_id),
                }
            )
    return found


def _ou(client: OrganizationsClient, account_id: str, names: dict[str, str]) -> str | None:
    """The name of the account's parent OU (looked up once per OU); ``None`` under the root."""
    for page in client.get_paginator("list_parents").paginate(ChildId=account_id):
        for parent in page["Parents"]:
            if parent.get("Type") != "ORGANIZATIONAL_UNIT":
                return None
            ou_id = parent["Id"]
            if ou_id not in names:
                unit = client.describe_organizational_unit(OrganizationalUnitId=ou_id)
                names[ou_id] = unit["OrganizationalUnit"].get("Name") or ou_id
            return names[ou_id]
    return None


def _tags(client: OrganizationsClient, account_id: str) -> dict[str, str]:
    tags: dict[str, str] = {}
    for page in client.get_paginator("list_tags_for_resource").paginate(ResourceId=account_id):
        tags |= {tag["Key"]: tag["Value"] for tag in page["Tags"]}
    return tags
