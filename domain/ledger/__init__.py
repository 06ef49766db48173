"""The credit ledger. Integer units only; imports no other domain."""

from domain.ledger.accounts import TIERS, System, Tier, Volume, open_account
from domain.ledger.chain import Verdict, verify
from domain.ledger.fees import FeeSplit, quality_bonus, split
from domain.ledger.movements import (
    InsufficientCredits,
    KeyReused,
    Leg,
    Movement,
    Recorded,
    Recording,
    Repriced,
    Unpayable,
    find,
    held,
    hold,
    post,
    record,
    record_all,
    record_all_on,
    void,
)
from domain.ledger.supply import Supply, supply

__all__ = [
    "TIERS",
    "FeeSplit",
    "InsufficientCredits",
    "KeyReused",
    "Leg",
    "Movement",
    "Recorded",
    "Recording",
    "Repriced",
    "Supply",
    "System",
    "Tier",
    "Unpayable",
    "Verdict",
    "Volume",
    "find",
    "held",
    "hold",
    "open_account",
    "post",
    "quality_bonus",
    "record",
    "record_all",
    "record_all_on",
    "split",
    "supply",
    "verify",
    "void",
]
