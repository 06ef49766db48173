"""Quality proofs of a listing: hash commitments a buyer can check before paying."""

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Session
from api.routes import API_PREFIX
from api.schemas.listings import BloomCheck, ProofList, ProofOut, ProofVerdict, ProofVerifyRequest
from domain import listings, proofs

router = APIRouter(prefix=f"{API_PREFIX}/zkp", tags=["quality proofs"])


@router.get("/{listing_id}/proofs", response_model=ProofList)
async def list_proofs(listing_id: str, session: Session) -> ProofList:
    listing = await listings.get(session, listing_id)
    rows = await listings.proofs_of(session, listing_id)
    return ProofList(
        listing_id=listing.id,
        proofs=[ProofOut.model_validate(r, from_attributes=True) for r in rows],
    )


@router.post("/{listing_id}/verify", response_model=ProofVerdict)
async def verify(listing_id: str, body: ProofVerifyRequest, session: Session) -> ProofVerdict:
    return await verify_listing(session, listing_id, body)


async def verify_listing(
    session: AsyncSession, listing_id: str, body: ProofVerifyRequest
) -> ProofVerdict:
    """Check a listing's proofs against the buyer's requirements (REST and the MCP tool)."""
    listing = await listings.get(session, listing_id)
    rows = await listings.proofs_of(session, listing_id)
    verified, checks = proofs.verify(
        listings.as_proofs(rows),
        keywords=body.keywords,
        schema_has_fields=body.schema_has_fields,
        min_size=body.min_size,
        min_quality=body.min_quality,
    )
    return ProofVerdict(listing_id=listing.id, verified=verified, checks=checks)


@router.get("/{listing_id}/bloom-check", response_model=BloomCheck)
async def bloom_check(
    listing_id: str, session: Session, word: Annotated[str, Query(min_length=1, max_length=100)]
) -> BloomCheck:
    listing = await listings.get(session, listing_id)
    rows = await listings.proofs_of(session, listing_id)
    bloom = next(r for r in rows if r.proof_type == "bloom_filter")
    present = proofs.BloomFilter.from_hex(bloom.public_inputs["filter"]).probably_contains(word)
    return BloomCheck(listing_id=listing.id, word=word, probably_present=present)
