"""Which prices ``make cost`` uses: ``table`` (offline), ``api`` (the AWS Price List API), or
``auto`` -- the API when credentials are there and it answers, else the table, saying why."""

from __future__ import annotations

from pathlib import Path

import botocore.exceptions

from scripts.ops.aws import NO_CREDENTIALS, base_session
from scripts.ops.errors import ScriptError, one_line
from scripts.ops.prices import TABLE_FILE, PriceSource, TablePrices
from scripts.ops.prices.api import ApiPrices, PriceListError

SOURCES = ("auto", "api", "table")


def price_source(
    source: str, region: str, *, profile: str | None, table: Path = TABLE_FILE
) -> tuple[PriceSource, str | None]:
    """The prices to use and, in ``auto`` mode, why the table was chosen (``None`` otherwise)."""
    if source == "table":
        return TablePrices(region, table), None
    try:
        session = base_session(profile=profile)
        credentials = session.get_credentials()
    except (ScriptError, botocore.exceptions.BotoCoreError) as error:  # e.g. a profile that does not exist
        if source == "api":
            raise ScriptError(f"--source api: {one_line(error)}") from None
        return TablePrices(region, table), f"the AWS credentials cannot be loaded ({one_line(error)})"
    if credentials is None:
        if source == "api":
            raise ScriptError(f"--source api needs AWS credentials: {NO_CREDENTIALS}")
        return TablePrices(region, table), "no AWS credentials"
    try:
        fallback: PriceSource | None = TablePrices(region, table)
    except ScriptError:
        fallback = None  # a region the table does not know: the API alone prices it
    api = ApiPrices(session, region, fallback=fallback)
    try:
        api.unit("fargate_arm_vcpu_hour")  # proves the credentials and the endpoint once
    except PriceListError as error:
        if source == "api":
            raise
        return TablePrices(region, table), str(error)
    return api, None
