import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    SkipValidation,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonDict

from api.schemas.common import Count, JsonObject, Page, Request, label, text
from api.schemas.money import Exact, PriceIn
from core.money import units_to_usdc

Category = Literal["web_search", "code_analysis", "document_summary", "api_response", "computation"]

PriceOut = Annotated[
    int,
    PlainSerializer(units_to_usdc, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["0.005000"]}),
]

Quality = Annotated[Decimal, Exact(3, 1, positive=False, example="0.8")]
QualityFilter = Annotated[Decimal, Exact(3, 1, positive=False, numbers=False)]
Tag = Annotated[str, label(50)]
Tags = Annotated[list[Tag], Field(max_length=20)]
ContentType = Annotated[
    str, text(100, pattern=r"^[A-Za-z0-9_.+-]+/[A-Za-z0-9_.+-]+(;[\x20-\x7e]*)?$")
]
Title = Annotated[str, label(200)]
Description = Annotated[str, text(5000)]
# Static bounds for the schema; LISTING_MAX_CONTENT_BYTES decides (in bytes) when a listing
# is stored, and MAX_BODY_BYTES bounds the request before any of this is read.
MAX_CONTENT_CHARS = 1_048_576
Content = Annotated[str, text(MAX_CONTENT_CHARS)]
Base64 = Annotated[
    str,
    text(
        4 * MAX_CONTENT_CHARS // 3 + 4,
        pattern=r"^([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    ),
]

_ONE_CONTENT: JsonDict = {
    "oneOf": [
        {"required": [name], "properties": {name: {"not": {"type": "null"}}}}
        for name in ("content", "content_base64")
    ]
}


class ListingCreate(Request):
    """Exactly one of `content` (UTF-8 text) or `content_base64` (bytes)."""

    model_config = ConfigDict(json_schema_extra=_ONE_CONTENT)

    title: Title
    description: Description = ""
    category: Category
    content: Content | None = None
    content_base64: Base64 | None = None
    content_type: ContentType = "text/plain"
    price_usdc: PriceIn
    metadata: JsonObject = {}
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
    # Each item is validated by the route, so that one 422 names every bad item.
    items: Annotated[list[SkipValidation[ListingCreate]], Field(min_length=1, max_length=100)]


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
    keywords: Annotated[list[Annotated[str, text(100)]], Field(max_length=50)] = []
    schema_has_fields: Annotated[list[Annotated[str, text(100)]], Field(max_length=50)] = []
    min_size: Count | None = None
    min_quality: Quality | None = None


class ProofVerdict(BaseModel):
    listing_id: uuid.UUID
    verified: bool
    checks: dict[str, Any]


class BloomCheck(BaseModel):
    listing_id: uuid.UUID
    word: str
    probably_present: bool
