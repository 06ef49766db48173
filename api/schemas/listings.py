import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from api.schemas.common import Page, Request
from core.money import units_to_usdc, usdc_to_units

Category = Literal["web_search", "code_analysis", "document_summary", "api_response", "computation"]
MAX_PRICE_UNITS = 1_000 * 1_000_000


def _price(value: object) -> int:
    units = usdc_to_units(value)
    if not 0 < units <= MAX_PRICE_UNITS:
        raise ValueError("price_usdc must be greater than 0 and at most 1000")
    return units


PriceIn = Annotated[
    int,
    BeforeValidator(_price),
    WithJsonSchema({"type": "string", "pattern": r"^\d+(\.\d{1,6})?$", "examples": ["0.005"]}),
]
PriceOut = Annotated[
    int,
    PlainSerializer(units_to_usdc, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["0.005000"]}),
]
UsdcFilter = Annotated[int, BeforeValidator(usdc_to_units)]


def _quality(value: Decimal) -> Decimal:
    if value != value.quantize(Decimal("0.001")):
        raise ValueError("quality_score has at most 3 decimal places")
    return value


Quality = Annotated[Decimal, Field(ge=0, le=1), AfterValidator(_quality)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
Tags = Annotated[list[Tag], Field(max_length=20)]
ContentType = Annotated[str, Field(max_length=100, pattern=r"^[\w.+-]+/[\w.+-]+(;.*)?$")]
Title = Annotated[str, Field(min_length=1, max_length=200)]
Description = Annotated[str, Field(max_length=5000)]
Metadata = Annotated[dict[str, Any], Field(max_length=50)]


class ListingCreate(Request):
    title: Title
    description: Description = ""
    category: Category
    content: str | None = None
    content_base64: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]*={0,2}$")] | None = None
    content_type: ContentType = "text/plain"
    price_usdc: PriceIn
    metadata: Metadata = {}
    tags: Tags = []
    quality_score: Quality = Decimal("0.5")

    @model_validator(mode="after")
    def _one_content(self) -> "ListingCreate":
        if (self.content is None) == (self.content_base64 is None):
            raise ValueError("give exactly one of content or content_base64")
        return self


class ListingUpdate(Request):
    title: Title | None = None
    description: Description | None = None
    price_usdc: PriceIn | None = None
    tags: Tags | None = None
    quality_score: Quality | None = None
    status: Literal["active", "paused"] | None = None


class SellerRef(BaseModel):
    id: uuid.UUID
    name: str


class ListingResponse(BaseModel):
    id: uuid.UUID
    seller_id: uuid.UUID
    seller: SellerRef
    title: str
    description: str
    category: str
    content_hash: str
    content_size: int
    content_type: str
    price_usdc: PriceOut
    currency: str
    metadata: dict[str, Any]
    tags: list[str]
    quality_score: Decimal
    freshness_at: datetime
    expires_at: datetime | None
    status: str
    access_count: int
    created_at: datetime
    updated_at: datetime


class ListingList(Page):
    results: list[ListingResponse]


class BulkList(Request):
    items: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=100)]


class BulkListed(BaseModel):
    created: int
    listings: list[ListingResponse]


class PriceSuggestRequest(Request):
    category: Category
    quality_score: Quality = Decimal("0.5")


class PriceRange(BaseModel):
    min: PriceOut | None
    max: PriceOut | None


class PriceSuggestion(BaseModel):
    category: str
    suggested_price: PriceOut
    competitors: int
    median_price: PriceOut | None
    price_range: PriceRange
    demand_searches: int
    strategy: str


class ProofOut(BaseModel):
    id: uuid.UUID
    proof_type: str
    commitment: str
    public_inputs: dict[str, Any]
    created_at: datetime


class ProofList(BaseModel):
    listing_id: uuid.UUID
    proofs: list[ProofOut]


class ProofVerifyRequest(Request):
    keywords: Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=50)] = []
    schema_has_fields: Annotated[
        list[Annotated[str, Field(max_length=100)]], Field(max_length=50)
    ] = []
    min_size: Annotated[int, Field(ge=0)] | None = None
    min_quality: Quality | None = None


class ProofVerdict(BaseModel):
    listing_id: uuid.UUID
    verified: bool
    checks: dict[str, Any]


class BloomCheck(BaseModel):
    listing_id: uuid.UUID
    word: str
    probably_present: bool
