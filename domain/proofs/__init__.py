"""Quality proofs: hash commitments (not zero-knowledge) checked before buying and on delivery.

The public inputs (bloom filter bits, top-level schema, size, quality) are revealed; each
commitment binds the seller to them. Pure functions: no database, no I/O.
"""

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Literal, Self

CHUNK_SIZE: Final = 1024
BLOOM_BITS: Final = 2048
BLOOM_HASHES: Final = 3
SCHEMA_SAMPLE_ITEMS: Final = 10

ProofType = Literal["merkle_root", "schema", "bloom_filter", "metadata"]

_WORD = re.compile(r"[^\W_]+")  # runs of Unicode letters and digits; `\w` minus the underscore
_LOOKS_LIKE_JSON = re.compile(r"\s*[\[{]")
_LEAF, _NODE = b"\x00", b"\x01"


@dataclass(frozen=True)
class Proof:
    proof_type: ProofType
    commitment: str
    public_inputs: dict[str, Any]


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical_json(value: object) -> bytes:
    # ASCII escapes keep lone surrogates (legal in parsed JSON keys) encodable.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def _decimal_text(value: Decimal) -> str:
    """Plain notation without trailing zeros, so 0.5 and 0.50 commit alike (no context rounding)."""
    if value.is_zero():
        return "0"
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _as_decimal(value: object) -> Decimal | None:
    """A finite Decimal from an int, Decimal, decimal string or float; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str | float):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def merkle_root(data: bytes) -> str:
    """SHA-256 Merkle root (hex) of `data` split into consecutive 1 KiB chunks.

    - Leaf = SHA-256(0x00 || chunk); inner node = SHA-256(0x01 || left || right). The prefixes
      keep a leaf hash from passing for an inner node.
    - Empty content is a single empty chunk, so its root is SHA-256(0x00).
    - A level with an odd number of nodes promotes its last node unchanged to the next level
      (pairing it with itself, as Bitcoin does, would give [A, B, C] and [A, B, C, C] one root).
    """
    chunks = [data[start : start + CHUNK_SIZE] for start in range(0, len(data), CHUNK_SIZE)]
    level = [hashlib.sha256(_LEAF + chunk).digest() for chunk in chunks or [b""]]
    while len(level) > 1:
        pairs = zip(level[::2], level[1::2], strict=False)
        parents = [hashlib.sha256(_NODE + left + right).digest() for left, right in pairs]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0].hex()


def content_words(text: str) -> list[str]:
    """Lowercase words of `text`: runs of Unicode letters/digits after NFC normalization."""
    return [word.lower() for word in _WORD.findall(unicodedata.normalize("NFC", text))]


def _json_type(value: object) -> str:
    # bool is checked before number because a bool is an int.
    kinds = (bool, "boolean"), (int | float, "number"), (str, "string"), (list, "array")
    named = next((name for kind, name in kinds if isinstance(value, kind)), None)
    return named or ("object" if isinstance(value, dict) else "null")


def _parse_json(data: bytes, content_type: str) -> tuple[bool, object]:
    """(True, document) when the content parses as JSON, else (False, None).

    Parsing is tried when the content type mentions JSON or the content starts with `{` or `[`;
    a declared JSON type that does not parse falls back to text.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return False, None
    if "json" not in str(content_type).lower() and not _LOOKS_LIKE_JSON.match(text):
        return False, None
    try:
        return True, json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return False, None


def _top_level_fields(document: object) -> dict[str, str]:
    """Sorted field name -> JSON type; types seen differently across items are joined by `|`."""
    if isinstance(document, dict):
        samples = [document]
    elif isinstance(document, list):
        samples = [item for item in document[:SCHEMA_SAMPLE_ITEMS] if isinstance(item, dict)]
    else:
        samples = []
    types: dict[str, set[str]] = {}
    for sample in samples:
        for name, value in sample.items():
            types.setdefault(name, set()).add(_json_type(value))
    return {name: "|".join(sorted(types[name])) for name in sorted(types)}


def _json_strings(document: object) -> str:
    """Keys and string values, so words written as `\\u00e9` escapes are found too."""
    parts: list[str] = []
    pending: list[object] = [document]
    while pending:  # iterative: the document may be nested deeper than the recursion limit
        item = pending.pop()
        if isinstance(item, dict):
            parts.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            parts.append(item)
    return "\n".join(parts)


def schema_fingerprint(data: bytes, content_type: str) -> dict[str, Any]:
    """The content's shape plus `schema_hash`, the SHA-256 of its canonical JSON.

    JSON (an object, or an array whose first 10 object items give the union of their keys):
    `{format: "json", root: <JSON type>, fields: {name: type}}`. Anything else:
    `{format: "text" | "binary", line_count, word_count, char_count}`, where "binary" marks
    content that is not valid UTF-8 (its stats are taken over a lossy decode).
    """
    is_json, document = _parse_json(data, content_type)
    schema: dict[str, Any]
    if is_json:
        fields = _top_level_fields(document)
        schema = {"format": "json", "root": _json_type(document), "fields": fields}
    else:
        try:
            text, text_format = data.decode("utf-8-sig"), "text"
        except UnicodeDecodeError:
            text, text_format = data.decode("utf-8-sig", errors="replace"), "binary"
        schema = {
            "format": text_format,
            "line_count": len(text.splitlines()),
            "word_count": len(content_words(text)),
            "char_count": len(text),
        }
    return {**schema, "schema_hash": _sha256_hex(_canonical_json(schema))}


class BloomFilter:
    """2,048 bits, 3 hashes; the bit indices are 32-bit slices of SHA-256(word) mod 2,048."""

    def __init__(self) -> None:
        self._bits = bytearray(BLOOM_BITS // 8)

    @classmethod
    def from_content(cls, data: bytes) -> Self:
        """From the words of the raw text and, for JSON, of its decoded keys and strings too."""
        bloom = cls()
        bloom.add(data.decode("utf-8-sig", errors="replace"))
        is_json, document = _parse_json(data, "")
        if is_json:
            bloom.add(_json_strings(document))
        return bloom

    @classmethod
    def from_hex(cls, value: str) -> Self:
        """Raises ValueError unless `value` is exactly 512 hex digits."""
        raw = bytes.fromhex(value)
        if len(raw) != BLOOM_BITS // 8:
            raise ValueError(f"a bloom filter is {BLOOM_BITS // 4} hex digits")
        bloom = cls()
        bloom._bits[:] = raw
        return bloom

    @staticmethod
    def _indices(word: str) -> list[int]:
        digest = hashlib.sha256(word.encode()).digest()
        slices = (digest[4 * i : 4 * i + 4] for i in range(BLOOM_HASHES))
        return [int.from_bytes(part, "big") % BLOOM_BITS for part in slices]

    def add(self, text: str) -> None:
        """Adds every word of `text` (see `content_words`)."""
        for word in set(content_words(text)):
            for index in self._indices(word):
                self._bits[index >> 3] |= 1 << (index & 7)

    def probably_contains(self, word: str) -> bool:
        """True when `word` has at least one word and all its words are probably present.

        The query is normalized like the content (NFC, lowercase, letters/digits only), so
        "Python," matches "python". False means surely absent; True may be a false positive.
        """
        words = content_words(word) if isinstance(word, str) else []
        return bool(words) and all(
            self._bits[index >> 3] & (1 << (index & 7))
            for query in words
            for index in self._indices(query)
        )

    def to_hex(self) -> str:
        return self._bits.hex()

    def commitment(self) -> str:
        return _sha256_hex(bytes(self._bits))


def _metadata_inputs(
    size: int, category: str, freshness_at: datetime, quality: Decimal
) -> dict[str, Any]:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError("size must be a non-negative integer")
    if not isinstance(category, str):
        raise ValueError("category must be a string")
    if not isinstance(freshness_at, datetime) or freshness_at.utcoffset() is None:
        raise ValueError("freshness_at must be a timezone-aware datetime")
    if isinstance(quality, bool) or not isinstance(quality, Decimal | int):
        raise ValueError("quality must be a Decimal")
    quality = Decimal(quality)
    if not quality.is_finite() or not 0 <= quality <= 1:
        raise ValueError("quality must be between 0 and 1")
    return {
        "size": size,
        "category": category,
        "freshness_at": freshness_at.astimezone(UTC).isoformat(timespec="microseconds"),
        "quality": _decimal_text(quality),
    }


def metadata_commitment(size: int, category: str, freshness_at: datetime, quality: Decimal) -> str:
    """SHA-256 of the canonical JSON of {size, category, freshness_at, quality}.

    freshness_at is ISO 8601 in UTC with microseconds; quality is a plain decimal string without
    trailing zeros. Raises ValueError on a negative size, a naive datetime or quality outside 0..1.
    """
    return _sha256_hex(_canonical_json(_metadata_inputs(size, category, freshness_at, quality)))


def generate(
    data: bytes, content_type: str, category: str, freshness_at: datetime, quality: Decimal
) -> list[Proof]:
    """The four proofs of a listing's content, in the order merkle_root, schema, bloom, metadata."""
    metadata = _metadata_inputs(len(data), category, freshness_at, quality)
    schema = schema_fingerprint(data, content_type)
    bloom = BloomFilter.from_content(data)
    chunk_count = max(1, -(-len(data) // CHUNK_SIZE))
    tree = {"chunk_size": CHUNK_SIZE, "chunk_count": chunk_count, "size": len(data)}
    bits = {"bits": BLOOM_BITS, "hashes": BLOOM_HASHES, "filter": bloom.to_hex()}
    return [
        Proof("merkle_root", merkle_root(data), tree),
        Proof("schema", schema["schema_hash"], schema),
        Proof("bloom_filter", bloom.commitment(), bits),
        Proof("metadata", _sha256_hex(_canonical_json(metadata)), metadata),
    ]


def _usable(proofs: Iterable[Proof] | None) -> list[Proof]:
    """The well-formed proofs; anything else (or a non-iterable) is ignored."""
    try:
        candidates = list(proofs or ())
    except TypeError:
        return []
    return [
        proof
        for proof in candidates
        if isinstance(getattr(proof, "proof_type", None), str)
        and isinstance(getattr(proof, "commitment", None), str)
        and isinstance(getattr(proof, "public_inputs", None), dict)
    ]


def _trusted_inputs(proof: Proof | None) -> dict[str, Any] | None:
    """The public inputs if they reproduce the commitment; a tampered proof counts as missing."""
    if proof is None:
        return None
    inputs = {k: v for k, v in proof.public_inputs.items() if k != "schema_hash"}
    try:
        matches = _sha256_hex(_canonical_json(inputs)) == proof.commitment
    except (TypeError, ValueError):
        return None
    return proof.public_inputs if matches else None


def _as_names(values: Iterable[object] | None) -> list[str]:
    """A lone string counts as one name, not as its characters."""
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [item if isinstance(item, str) else str(item) for item in items]


def _check_keywords(proof: Proof | None, keywords: list[str]) -> dict[str, Any]:
    try:
        bloom = BloomFilter.from_hex(proof.public_inputs["filter"]) if proof else None
    except (KeyError, TypeError, ValueError):
        bloom = None
    if bloom is not None and proof is not None and bloom.commitment() != proof.commitment:
        bloom = None  # tampered bits count as no filter
    words = {word: bloom is not None and bloom.probably_contains(word) for word in keywords}
    result: dict[str, Any] = {"passed": all(words.values()), "words": words}
    if bloom is None:
        result["error"] = "no valid bloom_filter proof"
    return result


def _check_fields(inputs: dict[str, Any] | None, names: list[str]) -> dict[str, Any]:
    fields = inputs.get("fields") if inputs is not None else None
    found = {name: isinstance(fields, dict) and name in fields for name in names}
    result: dict[str, Any] = {"passed": all(found.values()), "fields": found}
    if inputs is None:
        result["error"] = "no valid schema proof"
    elif not isinstance(fields, dict):
        result["error"] = "content is not JSON"
    return result


def _check_minimum(inputs: dict[str, Any] | None, key: str, required: object) -> dict[str, Any]:
    minimum = _as_decimal(required)
    raw = inputs.get(key) if inputs is not None else None
    actual = _as_decimal(raw)
    result: dict[str, Any] = {
        "passed": minimum is not None and actual is not None and actual >= minimum,
        "required": _decimal_text(minimum) if minimum is not None else str(required),
        "actual": raw if actual is not None else None,
    }
    if minimum is None:
        result["error"] = f"min_{key} is not a number"
    elif actual is None:
        result["error"] = "no valid metadata proof"
    return result


def verify(
    proofs: Iterable[Proof] | None,
    *,
    keywords: Iterable[str] | None = (),
    schema_has_fields: Iterable[str] | None = (),
    min_size: int | None = None,
    min_quality: Decimal | None = None,
) -> tuple[bool, dict[str, Any]]:
    """(verified, checks): each requested check against the proofs; never raises.

    Only requested checks appear: `keywords` {passed, words{kw: bool}}, `schema_has_fields`
    {passed, fields{name: bool}}, `min_size` / `min_quality` {passed, required, actual}; a
    failing check may add `error`. Tampered proofs count as missing; of several proofs of one
    type the first counts. With no checks requested the verdict is vacuously true.
    """
    by_type: dict[str, Proof] = {}
    for proof in _usable(proofs):
        by_type.setdefault(proof.proof_type, proof)
    checks: dict[str, Any] = {}
    try:
        wanted_keywords, wanted_fields = _as_names(keywords), _as_names(schema_has_fields)
    except TypeError:
        return False, {"error": "keywords and schema_has_fields must be lists"}
    if wanted_keywords:
        checks["keywords"] = _check_keywords(by_type.get("bloom_filter"), wanted_keywords)
    if wanted_fields:
        schema = _trusted_inputs(by_type.get("schema"))
        checks["schema_has_fields"] = _check_fields(schema, wanted_fields)
    metadata = _trusted_inputs(by_type.get("metadata"))
    if min_size is not None:
        checks["min_size"] = _check_minimum(metadata, "size", min_size)
    if min_quality is not None:
        checks["min_quality"] = _check_minimum(metadata, "quality", min_quality)
    return all(check["passed"] for check in checks.values()), checks


def verify_delivery(data: bytes, proofs: Iterable[Proof] | None) -> bool:
    """True when there is a merkle_root proof and `data` reproduces every committed root."""
    roots = [proof.commitment for proof in _usable(proofs) if proof.proof_type == "merkle_root"]
    if not roots or not isinstance(data, bytes | bytearray | memoryview):
        return False
    actual = merkle_root(bytes(data))
    return all(root == actual for root in roots)
