import hashlib
import json
import re
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.proofs import (
    BLOOM_BITS,
    CHUNK_SIZE,
    BloomFilter,
    Proof,
    generate,
    merkle_root,
    metadata_commitment,
    schema_fingerprint,
    verify,
    verify_delivery,
)

FRESH = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
QUALITY = Decimal("0.85")
WORD = re.compile(r"[^\W_]+")


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def proofs_of(data: bytes, content_type: str = "text/plain") -> list[Proof]:
    return generate(data, content_type, "web_search", FRESH, QUALITY)


def words_of(text: str) -> list[str]:
    """Words as a reader would pick them out, independently of the module's own tokenizer."""
    return WORD.findall(unicodedata.normalize("NFC", text))


def absent_words(bloom: BloomFilter, avoid: set[str], count: int = 3) -> list[str]:
    candidates = (f"absentword{i}" for i in range(10_000))
    chosen = [w for w in candidates if w not in avoid and not bloom.probably_contains(w)][:count]
    assert len(chosen) == count
    return chosen


def by_type(proofs: list[Proof]) -> dict[str, Proof]:
    return {proof.proof_type: proof for proof in proofs}


# Merkle root


def test_merkle_root_rules_for_empty_single_even_and_odd_levels() -> None:
    a, b, c = b"a" * CHUNK_SIZE, b"b" * CHUNK_SIZE, b"c"
    leaf_a, leaf_b, leaf_c = sha(b"\x00" + a), sha(b"\x00" + b), sha(b"\x00" + c)
    ab = sha(b"\x01" + leaf_a + leaf_b)
    assert merkle_root(b"") == sha(b"\x00").hex()
    assert merkle_root(c) == leaf_c.hex()
    assert merkle_root(a + b) == ab.hex()
    assert merkle_root(a + b + c) == sha(b"\x01" + ab + leaf_c).hex()  # odd node promoted


def test_a_repeated_last_chunk_does_not_share_the_root() -> None:
    a, b, c = (bytes([n]) * CHUNK_SIZE for n in (1, 2, 3))
    assert merkle_root(a + b + c) != merkle_root(a + b + c + c)


@given(st.binary(max_size=5 * CHUNK_SIZE))
def test_merkle_root_is_stable(data: bytes) -> None:
    root = merkle_root(data)
    assert root == merkle_root(bytes(bytearray(data)))
    assert re.fullmatch(r"[0-9a-f]{64}", root)


@given(st.binary(min_size=1, max_size=5 * CHUNK_SIZE), st.data())
def test_merkle_root_changes_when_any_byte_changes(data: bytes, draw: st.DataObject) -> None:
    index = draw.draw(st.integers(0, len(data) - 1))
    new_byte = draw.draw(st.integers(0, 255).filter(lambda b: b != data[index]))
    changed = data[:index] + bytes([new_byte]) + data[index + 1 :]
    assert merkle_root(changed) != merkle_root(data)


@given(st.binary(max_size=3 * CHUNK_SIZE))
def test_merkle_root_changes_when_content_grows_or_shrinks(data: bytes) -> None:
    assert merkle_root(data + b"\x00") != merkle_root(data)
    if data:
        assert merkle_root(data[:-1]) != merkle_root(data)


# Bloom filter


@given(st.text(max_size=400))
def test_every_word_of_the_content_is_probably_present(text: str) -> None:
    bloom = BloomFilter.from_content(text.encode())
    for word in words_of(text):
        assert bloom.probably_contains(word)
        assert bloom.probably_contains(word.lower())


def test_bloom_lookup_ignores_case_and_punctuation() -> None:
    bloom = BloomFilter.from_content("Machine-Learning with Python_3 and Ünïcode".encode())
    for query in ("MACHINE", "learning,", "python", "3", "ünïcode", "ÜNÏCODE", "machine learning"):
        assert bloom.probably_contains(query), query
    assert not bloom.probably_contains("")
    assert not bloom.probably_contains("!!!")


@given(st.text(max_size=400))
def test_bloom_round_trips_through_hex(text: str) -> None:
    bloom = BloomFilter.from_content(text.encode())
    encoded = bloom.to_hex()
    assert len(encoded) == BLOOM_BITS // 4
    restored = BloomFilter.from_hex(encoded)
    assert restored.to_hex() == encoded
    assert restored.commitment() == bloom.commitment()
    for word in words_of(text):
        assert restored.probably_contains(word)


def test_bloom_indices_are_fixed_across_processes() -> None:
    bloom = BloomFilter.from_content(b"hello")
    digest = sha(b"hello")
    expected = {int.from_bytes(digest[4 * i : 4 * i + 4], "big") % BLOOM_BITS for i in range(3)}
    bits = int.from_bytes(bytes.fromhex(bloom.to_hex()), "little")
    assert {i for i in range(BLOOM_BITS) if bits >> i & 1} == expected


@pytest.mark.parametrize("bad", ["", "00", "zz" * 256, "00" * 257])
def test_bloom_from_bad_hex_raises_value_error(bad: str) -> None:
    with pytest.raises(ValueError):
        BloomFilter.from_hex(bad)


# Schema fingerprint


def test_json_object_fields_are_sorted_with_their_types() -> None:
    data = json.dumps({"b": 1, "a": "x", "c": [1], "d": {"k": None}, "e": True, "f": None})
    fingerprint = schema_fingerprint(data.encode(), "application/json")
    assert fingerprint["format"] == "json" and fingerprint["root"] == "object"
    types = ["string", "number", "array", "object", "boolean", "null"]
    assert list(fingerprint["fields"].items()) == list(zip("abcdef", types, strict=True))
    assert re.fullmatch(r"[0-9a-f]{64}", fingerprint["schema_hash"])


def test_json_array_takes_the_union_of_the_first_items_keys() -> None:
    items: list[Any] = [{"id": 1, "name": "a"}, {"id": "2", "score": 0.5}, 7]
    items += [{"id": 3}] * 7 + [{"late": 1}]  # the 11th item is not sampled
    fingerprint = schema_fingerprint(json.dumps(items).encode(), "text/plain")
    assert fingerprint["root"] == "array"
    assert fingerprint["fields"] == {"id": "number|string", "name": "string", "score": "number"}
    assert "late" in schema_fingerprint(json.dumps(items[-2:]).encode(), "")["fields"]


def test_json_array_of_scalars_and_scalar_json_have_no_fields() -> None:
    assert schema_fingerprint(b"[1, 2, 3]", "application/json")["fields"] == {}
    scalar = schema_fingerprint(b"42", "application/json")
    assert scalar["format"] == "json" and scalar["root"] == "number" and scalar["fields"] == {}


def test_json_is_detected_by_parsing_not_only_by_content_type() -> None:
    assert schema_fingerprint(b'\n {"a": 1}', "text/plain")["format"] == "json"
    assert schema_fingerprint('\ufeff{"a": 1}'.encode(), "")["format"] == "json"
    assert schema_fingerprint(b"{not json", "application/json")["format"] == "text"
    assert schema_fingerprint(b"42", "text/plain")["format"] == "text"


def test_text_stats() -> None:
    fingerprint = schema_fingerprint("Hello, wörld!\nsecond line here\n".encode(), "text/plain")
    assert fingerprint["format"] == "text"
    assert (fingerprint["line_count"], fingerprint["word_count"]) == (2, 5)
    assert fingerprint["char_count"] == 31
    empty = schema_fingerprint(b"", "application/json")
    del empty["schema_hash"]
    assert empty == {"format": "text", "line_count": 0, "word_count": 0, "char_count": 0}


def test_non_utf8_and_pathological_content_does_not_crash() -> None:
    assert schema_fingerprint(b"\xff\xfe\x00\x80abc", "application/json")["format"] == "binary"
    deep = b"[" * 100_000 + b"]" * 100_000
    assert schema_fingerprint(deep, "application/json")["format"] in {"json", "text"}
    huge_int = b'{"n": ' + b"9" * 10_000 + b"}"
    assert schema_fingerprint(huge_int, "application/json")["format"] == "text"


def test_schema_hash_depends_on_the_schema_only() -> None:
    first = schema_fingerprint(b'{"a": 1, "b": "x"}', "application/json")
    same_shape = schema_fingerprint(b'{"b": "other", "a": 99}', "application/json")
    other_shape = schema_fingerprint(b'{"a": 1, "c": "x"}', "application/json")
    assert first["schema_hash"] == same_shape["schema_hash"] != other_shape["schema_hash"]


# Metadata commitment


def test_metadata_commitment_is_canonical() -> None:
    base = metadata_commitment(10, "news", FRESH, Decimal("0.5"))
    assert base == metadata_commitment(10, "news", FRESH, Decimal("0.500"))
    plus_two = FRESH.astimezone(timezone(timedelta(hours=2)))
    assert base == metadata_commitment(10, "news", plus_two, Decimal("0.5"))
    assert base != metadata_commitment(11, "news", FRESH, Decimal("0.5"))
    assert base != metadata_commitment(10, "code", FRESH, Decimal("0.5"))
    assert base != metadata_commitment(
        10, "news", FRESH + timedelta(microseconds=1), Decimal("0.5")
    )
    assert base != metadata_commitment(10, "news", FRESH, Decimal("0.51"))


@pytest.mark.parametrize(
    ("size", "fresh", "quality"),
    [
        (-1, FRESH, QUALITY),
        (1, FRESH.replace(tzinfo=None), QUALITY),
        (1, FRESH, Decimal("1.01")),
        (1, FRESH, Decimal("-0.1")),
        (1, FRESH, Decimal("NaN")),
    ],
)
def test_metadata_commitment_refuses_bad_inputs(
    size: int, fresh: datetime, quality: Decimal
) -> None:
    with pytest.raises(ValueError):
        metadata_commitment(size, "news", fresh, quality)


def test_generate_gives_the_four_proofs_with_consistent_commitments() -> None:
    data = b'{"title": "Hello", "body": "world"}'
    proofs = proofs_of(data, "application/json")
    assert [p.proof_type for p in proofs] == ["merkle_root", "schema", "bloom_filter", "metadata"]
    proof = by_type(proofs)
    assert proof["merkle_root"].commitment == merkle_root(data)
    assert proof["schema"].commitment == proof["schema"].public_inputs["schema_hash"]
    assert proof["metadata"].commitment == metadata_commitment(
        len(data), "web_search", FRESH, QUALITY
    )
    assert proof["metadata"].public_inputs["quality"] == "0.85"
    json.dumps([p.public_inputs for p in proofs])  # storable as JSON


# Verification


@given(
    st.dictionaries(st.text(min_size=1, max_size=12), st.integers() | st.text(), max_size=8),
    st.decimals(min_value=0, max_value=1, places=3),
)
def test_verify_accepts_true_claims_and_rejects_false_ones(
    document: dict[str, Any], quality: Decimal
) -> None:
    data = json.dumps(document).encode()
    proofs = generate(data, "application/json", "news", FRESH, quality)
    present = [w for key in document for w in words_of(key)][:5]
    ok, checks = verify(
        proofs,
        keywords=present,
        schema_has_fields=list(document),
        min_size=len(data),
        min_quality=quality,
    )
    assert ok, checks

    bloom = BloomFilter.from_hex(by_type(proofs)["bloom_filter"].public_inputs["filter"])
    missing = absent_words(bloom, set(document))
    ok, checks = verify(proofs, keywords=[*present, missing[0]])
    assert not ok and checks["keywords"]["words"][missing[0]] is False
    ok, checks = verify(proofs, schema_has_fields=[*document, missing[1]])
    assert not ok and checks["schema_has_fields"]["fields"] == {
        **dict.fromkeys(document, True),
        missing[1]: False,
    }
    assert not verify(proofs, min_size=len(data) + 1)[0]
    assume(quality < 1)
    ok, checks = verify(proofs, min_quality=quality + Decimal("0.001"))
    assert not ok and checks["min_quality"]["passed"] is False


@given(st.text(max_size=300))
def test_verify_keywords_over_text(text: str) -> None:
    proofs = proofs_of(text.encode())
    present = words_of(text)
    assert verify(proofs, keywords=present)[0]
    bloom = BloomFilter.from_hex(by_type(proofs)["bloom_filter"].public_inputs["filter"])
    absent = absent_words(bloom, {w.lower() for w in present}, count=1)
    assert not verify(proofs, keywords=absent)[0]


def test_verify_reports_each_check() -> None:
    data = b'[{"name": "alpha", "price": 3}]'
    proofs = proofs_of(data, "application/json")
    ok, checks = verify(
        proofs,
        keywords=["alpha"],
        schema_has_fields=["name"],
        min_size=5,
        min_quality=Decimal("0.80"),
    )
    assert ok
    assert checks["keywords"] == {"passed": True, "words": {"alpha": True}}
    assert checks["schema_has_fields"] == {"passed": True, "fields": {"name": True}}
    assert checks["min_size"] == {"passed": True, "required": "5", "actual": len(data)}
    assert checks["min_quality"] == {"passed": True, "required": "0.8", "actual": "0.85"}
    assert verify(proofs) == (True, {})


def test_fields_of_text_content_are_rejected() -> None:
    ok, checks = verify(proofs_of(b"just words"), schema_has_fields=["words"])
    assert not ok and checks["schema_has_fields"]["error"] == "content is not JSON"


def test_tampered_public_inputs_are_not_trusted() -> None:
    proofs = by_type(proofs_of(b'{"a": 1}', "application/json"))
    bigger = {**proofs["metadata"].public_inputs, "size": 10**9}
    richer = {**proofs["schema"].public_inputs, "fields": {"a": "number", "secret": "string"}}
    fuller = {**proofs["bloom_filter"].public_inputs, "filter": "ff" * (BLOOM_BITS // 8)}
    tampered = [
        replace(proofs["metadata"], public_inputs=bigger),
        replace(proofs["schema"], public_inputs=richer),
        replace(proofs["bloom_filter"], public_inputs=fuller),
    ]
    ok, checks = verify(tampered, keywords=["anything"], schema_has_fields=["secret"], min_size=9)
    assert not ok
    assert all(not check["passed"] and "error" in check for check in checks.values())


@pytest.mark.parametrize(
    "proofs",
    [
        None,
        [],
        42,
        [None, object(), "text"],
        [Proof("bloom_filter", "x", {}), Proof("schema", "y", {"fields": 3})],
        [Proof("metadata", "z", {"size": "many"}), Proof("unknown", "w", {})],  # type: ignore[arg-type]
    ],
)
def test_verify_never_raises_on_missing_or_malformed_proofs(proofs: Any) -> None:
    ok, checks = verify(
        proofs, keywords=["a"], schema_has_fields=["b"], min_size=1, min_quality=Decimal("0.1")
    )
    assert not ok and set(checks) == {"keywords", "schema_has_fields", "min_size", "min_quality"}
    assert verify_delivery(b"data", proofs) is False


@pytest.mark.parametrize(
    "arguments",
    [
        {"keywords": None, "schema_has_fields": None},
        {"keywords": "alpha"},
        {"keywords": [None, 3]},
        {"keywords": 5},
        {"min_size": "lots"},
        {"min_quality": "NaN"},
        {"min_quality": True},
        {"min_quality": 0.9, "min_size": 1.5},
        {"min_quality": object()},
    ],
)
def test_verify_never_raises_on_odd_arguments(arguments: dict[str, Any]) -> None:
    ok, checks = verify(proofs_of(b"alpha beta"), **arguments)
    assert isinstance(ok, bool) and isinstance(checks, dict)
    json.dumps(checks)
    if arguments == {"keywords": "alpha"}:  # a lone string is one keyword, not its letters
        assert ok and checks["keywords"]["words"] == {"alpha": True}


# Delivery


@given(st.binary(max_size=4 * CHUNK_SIZE), st.binary(min_size=1, max_size=8))
def test_delivery_must_reproduce_the_committed_root(data: bytes, extra: bytes) -> None:
    proofs = proofs_of(data, "application/octet-stream")
    assert verify_delivery(data, proofs)
    assert not verify_delivery(data + extra, proofs)
    assert not verify_delivery(data, [p for p in proofs if p.proof_type != "merkle_root"])
    assert not verify_delivery("not bytes", proofs)  # type: ignore[arg-type]


def test_escaped_json_text_is_searchable_by_its_decoded_words() -> None:
    data = json.dumps({"città": "Naïve café"}).encode()  # ASCII-only: \u00e0 escapes
    assert b"\\u00e0" in data
    bloom = BloomFilter.from_content(data)
    assert all(bloom.probably_contains(word) for word in ("città", "naïve", "CAFÉ"))


def test_generate_survives_non_utf8_bytes() -> None:
    data = b"\xff\xfe\x00\x80 caf\xc3\xa9 \xed\xa0\x80 end"
    proofs = proofs_of(data, "application/json")
    assert by_type(proofs)["schema"].public_inputs["format"] == "binary"
    assert verify(proofs, keywords=["café", "end"], min_size=len(data))[0]
    assert verify_delivery(data, proofs)
