"""Creator accounts: registration, the profile, and where payouts go."""

import asyncio
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict, RuleViolation, Unauthorized
from core.queries import fetch
from core.security import hash_password
from domain import events, ledger
from models.creators import Creator, CreatorStatus

CREATOR = "creator"  # the ledger's owner kind for creator accounts
PAYOUT_METHODS = ("api_credits", "gift_card", "bank_withdrawal", "upi")
EDITABLE = frozenset({"display_name", "phone", "country", "payout_method", "payout_details"})

EMAIL_PATTERN = r"^[^@\x00-\x20\x7f]{1,64}@[^@\x00-\x20\x7f.]+(\.[^@\x00-\x20\x7f.]+)+$"
PHONE_PATTERN = r"^\+?[0-9][0-9 ()\-]{3,30}$"

# ISO 3166-1 alpha-2: every officially assigned code.
_ISO_3166_ALPHA_2 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRY_CODES = frozenset(_ISO_3166_ALPHA_2.split())

_NAME = re.compile(r"^[^\x00-\x1f]{1,100}$")
_EMAIL = re.compile(EMAIL_PATTERN)


@dataclass(frozen=True)
class PayoutFields:
    required: Mapping[str, re.Pattern[str]]
    optional: Mapping[str, re.Pattern[str]]


# What each payout method needs in `payout_details`; anything else is refused.
PAYOUT_FIELDS = {
    "api_credits": PayoutFields({}, {}),
    "gift_card": PayoutFields({}, {"email": _EMAIL, "brand": _NAME}),
    "upi": PayoutFields({"upi_id": re.compile(r"^[A-Za-z0-9._\-]{2,256}@[A-Za-z]{2,64}$")}, {}),
    "bank_withdrawal": PayoutFields(
        {
            "account_holder_name": _NAME,
            "account_number": re.compile(r"^[0-9]{6,20}$"),
            "ifsc": re.compile(r"^[A-Z]{4}0[A-Z0-9]{6}$"),
        },
        {"bank_name": _NAME},
    ),
}


class EmailTaken(Conflict):
    code = "email_taken"


class InvalidPayoutDetails(RuleViolation):
    code = "invalid_payout_details"


def normalize_email(email: str) -> str:
    return email.strip().lower()


def check_payout_details(method: str | None, details: Mapping[str, Any]) -> None:
    """Refuse details that do not fit the method: missing, unknown or malformed fields."""
    if method is None:
        if details:
            raise InvalidPayoutDetails("payout_details need a payout_method")
        return
    fields = PAYOUT_FIELDS[method]
    missing = sorted(set(fields.required) - set(details))
    unknown = sorted(set(details) - set(fields.required) - set(fields.optional))
    if missing or unknown:
        raise InvalidPayoutDetails(
            f"{method} payout_details: missing {missing or 'nothing'}, unknown {unknown or 'none'}"
        )
    patterns = {**fields.required, **fields.optional}
    malformed = sorted(
        name
        for name, value in details.items()
        if not isinstance(value, str) or not patterns[name].fullmatch(value)
    )
    if malformed:
        raise InvalidPayoutDetails(f"{method} payout_details: malformed {malformed}")


@dataclass(frozen=True)
class Registration:
    email: str
    password: str
    display_name: str
    phone: str = ""
    country: str | None = None


async def register(session: AsyncSession, registration: Registration, cost: int) -> Creator:
    """Create the creator and open its ledger account (balance 0) in one transaction; its
    password hashed by bcrypt at `cost`."""
    # bcrypt at cost 12 takes a few hundred milliseconds: off the event loop, before any query.
    password_hash = await asyncio.to_thread(hash_password, registration.password, cost)
    creator = Creator(
        email=normalize_email(registration.email),
        password_hash=password_hash,
        display_name=registration.display_name,
        phone=registration.phone,
        country=registration.country,
        payout_details={},
        status=CreatorStatus.ACTIVE,
    )
    try:
        async with session.begin_nested():
            session.add(creator)
    except IntegrityError:
        raise EmailTaken("An account with this email already exists") from None
    await ledger.open_account(session, CREATOR, creator.id)
    events.emit(
        session,
        events.EventType.CREATOR_REGISTERED,
        {"creator_id": str(creator.id)},
        audience=[creator.id],
    )
    return creator


_active = select(Creator.id).where(
    Creator.id == bindparam("id"), Creator.status == CreatorStatus.ACTIVE
)


async def is_active(session: AsyncSession, creator_id: uuid.UUID) -> bool:
    return bool(await fetch(session, _active, {"id": creator_id}, keyed=True))


async def current(session: AsyncSession, creator_id: uuid.UUID) -> Creator:
    """The creator a valid token names; a token for an unknown or suspended creator is 401."""
    creator = await session.get(Creator, creator_id)
    if creator is None or creator.status != CreatorStatus.ACTIVE:
        raise Unauthorized("This creator is suspended or unknown", code="invalid_token")
    return creator


async def update(
    session: AsyncSession, creator_id: uuid.UUID, changes: Mapping[str, Any]
) -> Creator:
    """Change the profile. A new payout method starts with empty details unless some are given;
    clearing the method clears its details."""
    creator = await current(session, creator_id)
    if unknown := set(changes) - EDITABLE:
        raise ValueError(f"not editable: {sorted(unknown)}")
    method = changes.get("payout_method", creator.payout_method)
    if "payout_details" in changes:
        details = dict(changes["payout_details"] or {})
    elif method != creator.payout_method:
        details = {}
    else:
        details = dict(creator.payout_details)
    check_payout_details(method, details)
    for field in set(changes) - {"payout_method", "payout_details"}:
        setattr(creator, field, changes[field])
    creator.payout_method, creator.payout_details = method, details
    creator.updated_at = utcnow()
    return creator
