#!/usr/bin/env python3
"""Independent reference check of the audit-chain test vectors (formats v1 and v2).

Written from docs/chain-format.md alone, with the Python standard library only:
its own RFC 8785 serialisation, ECMAScript number formatting and Ed25519
verification (RFC 8032, section 6). It imports nothing from the TypeScript
package, so a bug shared by the package and the vector generator is caught here.

Usage: verify_vectors.py [FILE | - ...]   (default: ../test-vectors/v1.json and v2.json; "-" reads stdin)
A file with "format": 2 is checked as format v2, any other as v1.
Exit status: 0 all vectors hold, 1 some do not, 2 a file could not be read.
"""
import base64
import hashlib
import json
import os
import re
import sys
from decimal import Decimal

GENESIS = "0" * 64
ROW_COLUMNS = (
    "id", "org_id", "chain_seq", "occurred_at", "recorded_at", "actor_type", "actor_id",
    "actor_email", "action", "resource_type", "resource_id", "resource_name", "details",
    "ip_address", "user_agent", "result", "error_message",
)
PERSONAL = ("actor_email", "ip_address", "user_agent")


# --- RFC 8785 (JSON Canonicalization Scheme) ---------------------------------

def es_number(x):
    """ECMAScript Number::toString for a finite double (RFC 8785 section 3.2.2.3)."""
    if x != x or x in (float("inf"), float("-inf")):
        raise ValueError("NaN and Infinity have no JSON form")
    if x == 0:
        return "0"  # also for -0
    if x < 0:
        return "-" + es_number(-x)
    # repr gives the shortest digit string that round-trips, like ECMAScript.
    _, digit_tuple, exponent = Decimal(repr(x)).as_tuple()
    all_digits = "".join(map(str, digit_tuple))
    digits = all_digits.rstrip("0")
    exponent += len(all_digits) - len(digits)  # value = digits * 10^exponent
    k = len(digits)
    n = exponent + k  # value = 0.digits * 10^n
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return mantissa + "e" + ("+" if e >= 0 else "-") + str(abs(e))


SHORT_ESCAPES = {0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r", 0x22: '\\"', 0x5C: "\\\\"}


def jcs_string(s):
    out = ['"']
    for ch in s:
        c = ord(ch)
        if c in SHORT_ESCAPES:
            out.append(SHORT_ESCAPES[c])
        elif c < 0x20:
            out.append("\\u%04x" % c)
        elif 0xD800 <= c <= 0xDFFF:
            raise ValueError("lone surrogate in a string")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def utf16_key(s):
    return s.encode("utf-16-be")


def jcs(value):
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, (int, float)):
        return es_number(float(value))
    if isinstance(value, str):
        return jcs_string(value)
    if isinstance(value, list):
        return "[" + ",".join(jcs(item) for item in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value.keys(), key=utf16_key)
        return "{" + ",".join(jcs_string(k) + ":" + jcs(value[k]) for k in keys) + "}"
    raise TypeError("not a JSON value: %r" % (value,))


def parse_details(text):
    """details::text as a JSON value; every number becomes an IEEE-754 double."""
    def no_constants(name):
        raise ValueError("%s is not JSON" % name)
    return json.loads(text, parse_int=float, parse_float=float, parse_constant=no_constants)


def sha256_hex(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- Format v1 -----------------------------------------------------------------

def personal_digest_input(fields, salt):
    return jcs({"v": 1, "salt": salt, "actor_email": fields["actor_email"],
                "ip_address": fields["ip_address"], "user_agent": fields["user_agent"]})


def checksum_input(row, prev_checksum, pii_digest):
    obj = {c: row[c] for c in ROW_COLUMNS if c not in PERSONAL and c != "details"}
    obj["details"] = None if row["details"] is None else [parse_details(row["details"])]
    obj["v"] = 1
    obj["prev_checksum"] = prev_checksum
    obj["pii_digest"] = pii_digest
    return jcs(obj)


TIMESTAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{6})Z$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def row_shape_problems(row):
    problems = []
    if set(row) != set(ROW_COLUMNS):
        problems.append("columns: got %s, want %s" % (sorted(row), sorted(ROW_COLUMNS)))
        return problems
    if not UUID.match(row["id"]):
        problems.append("id: got %r, want a lowercase UUID" % row["id"])
    if row["org_id"] is not None and not UUID.match(row["org_id"]):
        problems.append("org_id: got %r, want a lowercase UUID or null" % row["org_id"])
    if not re.match(r"^[1-9][0-9]*$", row["chain_seq"]) or int(row["chain_seq"]) > 2**63 - 1:
        problems.append("chain_seq: got %r, want a positive decimal bigint" % row["chain_seq"])
    for column in ("occurred_at", "recorded_at"):
        m = TIMESTAMP.match(row[column])
        if not m or int(m.group(1)) < 1:
            problems.append("%s: got %r, want YYYY-MM-DDTHH:MM:SS.ffffffZ" % (column, row[column]))
    return problems


# --- Format v2 -----------------------------------------------------------------

V2_TIMESTAMP = r"[+-]?\d{4,}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}"
# The grammar docs/chain-format.md gives each encoding's text (format v2, section 2).
V2_GRAMMAR = {
    "timestamp with time zone": "^(infinity|-infinity|" + V2_TIMESTAMP + "Z)$",
    "timestamp without time zone": "^(infinity|-infinity|" + V2_TIMESTAMP + ")$",
    "date": r"^(infinity|-infinity|[+-]?\d{4,}-\d{2}-\d{2})$",
    "bytea": r"^([0-9a-f]{2})*$",
    "double precision": r"^[0-9a-f]{16}$",
    "real": r"^[0-9a-f]{8}$",
    "interval": r"^[0-9a-f]{32}$",
    "money": r"^[0-9a-f]{16}$",
    "uuid": r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
    "boolean": r"^(true|false)$",
    "smallint": r"^-?\d+$", "integer": r"^-?\d+$", "bigint": r"^-?\d+$",
    "numeric": r"^(NaN|-?Infinity|-?\d+(\.\d+)?)$",
}


def v2_bare_type(type_text):
    """The type without modifiers: 'timestamp(6) with time zone' -> 'timestamp with time zone'."""
    return re.sub(r"\s+", " ", re.sub(r"\(\s*\d+(\s*,\s*-?\d+)?\s*\)", "", type_text)).strip()


def v2_personal_digest_input(columns, values, salt):
    members = {c["name"]: [c["type"], v] for c, v in zip(columns, values) if c["personal"]}
    return jcs({"v": 2, "salt": salt, "columns": members})


def v2_checksum_input(case, prev_checksum, pii_digest):
    columns, values = case["columns"], case["values"]
    return jcs({
        "v": 2,
        "chain_key": case["chain_key"],
        "chain_seq": case["chain_seq"],
        "columns": {c["name"]: [c["type"], v] for c, v in zip(columns, values) if not c["personal"]},
        "personal_columns": {c["name"]: c["type"] for c in columns if c["personal"]},
        "pii_digest": pii_digest,
        "prev_checksum": prev_checksum,
    })


def check_v2_encodings(vectors, fail):
    for index, case in enumerate(vectors.get("encodings", [])):
        name = "encoding %d (%s %s)" % (index, case["type"], case["literal"])
        text = case["text"]
        if text is not None and not isinstance(text, str):
            fail(name, "text: got %r, want a string or null" % (text,))
            continue
        grammar = V2_GRAMMAR.get(v2_bare_type(case["type"]))
        if grammar and not re.match(grammar, text):
            fail(name, "text %r does not match the grammar %s" % (text, grammar))


def check_v2_rows(vectors, fail):
    by_name = {}
    for case in vectors.get("rows", []):
        name = case["name"]
        by_name[name] = case
        columns, values = case["columns"], case["values"]
        names = [c["name"] for c in columns]
        if len(set(names)) != len(names) or len(values) != len(columns):
            fail(name, "columns: names must be unique and one value per column")
            continue
        if any(v is not None and not isinstance(v, str) for v in values):
            fail(name, "values: every value must be a string or null")
        if not re.match(r"^[1-9]\d*$", case["chain_seq"]):
            fail(name, "chain_seq: got %r, want decimal digits without leading zeros" % case["chain_seq"])
        if case.get("checksum_version") != 2:
            fail(name, "checksum_version: got %r, want 2" % case.get("checksum_version"))
        if case["redacted"]:
            kept = [c["name"] for c, v in zip(columns, values) if c["personal"] and v is not None]
            if kept or case["pii_salt"] is not None:
                fail(name, "redacted row still has %s" % (kept + (["pii_salt"] if case["pii_salt"] else [])))
            original = case.get("before_redaction")
            digest_values, salt = (original["values"], original["pii_salt"]) if original else (None, None)
            if original is None:
                fail(name, "redacted row without before_redaction: its pii_digest cannot be checked")
            elif any(o != v for c, o, v in zip(columns, original["values"], values) if not c["personal"]):
                fail(name, "before_redaction changes a value that is not personal")
        else:
            digest_values, salt = values, case["pii_salt"]
        if digest_values is not None:
            if not re.match(r"^[0-9a-f]{32}$", salt or ""):
                fail(name, "pii_salt: got %r, want 32 lowercase hex digits" % salt)
            text = v2_personal_digest_input(columns, digest_values, salt)
            if text != case["personal_digest_input"]:
                fail(name, "personal_digest_input:\n   got  %s\n   want %s" % (case["personal_digest_input"], text))
            if sha256_hex(text) != case["pii_digest"]:
                fail(name, "pii_digest: got %s, want %s" % (case["pii_digest"], sha256_hex(text)))
        text = v2_checksum_input(case, case["prev_checksum"], case["pii_digest"])
        if text != case["checksum_input"]:
            fail(name, "checksum_input:\n   got  %s\n   want %s" % (case["checksum_input"], text))
        if sha256_hex(text) != case["checksum"]:
            fail(name, "checksum: got %s, want %s" % (case["checksum"], sha256_hex(text)))
    for chain in vectors.get("chains", []):
        name = "chain " + chain["name"]
        prev, last_seq, key = GENESIS, 0, None
        for position, row_name in enumerate(chain["rows"]):
            case = by_name[row_name]
            if position > 0 and case["chain_key"] != key:
                fail(name, "%s: chain_key %r, want %r" % (row_name, case["chain_key"], key))
            key = case["chain_key"]
            if int(case["chain_seq"]) <= last_seq:
                fail(name, "%s: chain_seq not increasing" % row_name)
            if case["prev_checksum"] != prev:
                fail(name, "%s: prev_checksum %s, want %s" % (row_name, case["prev_checksum"], prev))
            prev, last_seq = case["checksum"], int(case["chain_seq"])
        if chain["head_checksum"] != prev or chain["sealed_count"] != str(len(chain["rows"])):
            fail(name, "head: got %s (%s rows), want %s (%d rows)" % (chain["head_checksum"], chain["sealed_count"], prev, len(chain["rows"])))


# --- Ed25519 verification (RFC 8032, section 6) --------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


_GY = 4 * pow(5, P - 2, P) % P
_GX = _recover_x(_GY, 0)
BASE = (_GX, _GY, 1, _GX * _GY % P)


def _add(p1, p2):
    a = (p1[1] - p1[0]) * (p2[1] - p2[0]) % P
    b = (p1[1] + p1[0]) * (p2[1] + p2[0]) % P
    c = 2 * p1[3] * p2[3] * D % P
    d = 2 * p1[2] * p2[2] % P
    e, f, g, h = b - a, d - c, d + c, b + a
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, point):
    q = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            q = _add(q, point)
        point = _add(point, point)
        s >>= 1
    return q


def _equal(p1, p2):
    return (p1[0] * p2[2] - p2[0] * p1[2]) % P == 0 and (p1[1] * p2[2] - p2[1] * p1[2]) % P == 0


def _decompress(data):
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


def ed25519_verify(public, message, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    a = _decompress(public)
    r = _decompress(signature[:32])
    if a is None or r is None:
        return False
    s = int.from_bytes(signature[32:], "little")
    if s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return _equal(_mul(s, BASE), _add(r, _mul(h, a)))


def _ed25519_self_test():
    # RFC 8032 section 7.1, TEST 1 (empty message).
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    return ed25519_verify(public, b"", signature) and not ed25519_verify(public, b"x", signature)


# --- Checks ----------------------------------------------------------------------

CHECKPOINT_KEYS = ("v", "org_id", "chain_seq", "sealed_count", "checksum", "signed_at", "key_id")
# Version 2: a chain of an attached table, named by schema, table and chain key.
TABLE_CHECKPOINT_KEYS = ("v", "schema", "table", "chain_key", "chain_seq", "sealed_count", "checksum", "signed_at", "key_id")


def checkpoint_keys(checkpoint):
    """The signed members of the checkpoint's version (v 2: attached tables; anything else is read as v 1)."""
    return TABLE_CHECKPOINT_KEYS if checkpoint.get("v") == 2 else CHECKPOINT_KEYS
INSTANT = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{3}|\d{6}))?Z$")


def instant_key(text):
    m = INSTANT.match(text)
    if not m:
        raise ValueError("not a UTC instant: %r" % text)
    return tuple(int(g) for g in m.groups()[:6]) + (int((m.group(7) or "").ljust(6, "0")),)


def b64url_decode(text):
    if not re.match(r"^[A-Za-z0-9_-]{86}$", text):
        return None
    data = base64.urlsafe_b64decode(text + "==")
    return data if base64.urlsafe_b64encode(data).decode().rstrip("=") == text else None


def check_rows(vectors, fail):
    by_name = {}
    for case in vectors.get("rows", []):
        name = case["name"]
        by_name[name] = case
        row = case["row"]
        for problem in row_shape_problems(row):
            fail(name, problem)
        if case.get("checksum_version") != 1:
            fail(name, "checksum_version: got %r, want 1" % case.get("checksum_version"))
        if case["redacted"]:
            kept = [c for c in PERSONAL if row[c] is not None]
            if kept or case["pii_salt"] is not None:
                fail(name, "redacted row still has %s" % (kept + (["pii_salt"] if case["pii_salt"] else [])))
            original = case.get("before_redaction")
            if original is None:
                fail(name, "redacted row without before_redaction: its pii_digest cannot be checked")
                digest_source, salt = None, None
            else:
                digest_source, salt = original, original["pii_salt"]
        else:
            digest_source, salt = row, case["pii_salt"]
        if digest_source is not None:
            if not re.match(r"^[0-9a-f]{32}$", salt or ""):
                fail(name, "pii_salt: got %r, want 32 lowercase hex digits" % salt)
            text = personal_digest_input(digest_source, salt)
            if text != case["personal_digest_input"]:
                fail(name, "personal_digest_input:\n   got  %s\n   want %s" % (case["personal_digest_input"], text))
            if sha256_hex(text) != case["pii_digest"]:
                fail(name, "pii_digest: got %s, want %s" % (case["pii_digest"], sha256_hex(text)))
        text = checksum_input(row, case["prev_checksum"], case["pii_digest"])
        if text != case["checksum_input"]:
            fail(name, "checksum_input:\n   got  %s\n   want %s" % (case["checksum_input"], text))
        if sha256_hex(text) != case["checksum"]:
            fail(name, "checksum: got %s, want %s" % (case["checksum"], sha256_hex(text)))
    return by_name


def check_chains(vectors, by_name, fail):
    for chain in vectors.get("chains", []):
        name = "chain " + chain["name"]
        prev, last_seq = vectors.get("genesis_prev_checksum", GENESIS), 0
        if prev != GENESIS:
            fail(name, "genesis_prev_checksum: got %s, want 64 zeros" % prev)
        for row_name in chain["rows"]:
            case = by_name[row_name]
            if case["row"]["org_id"] != chain["org_id"]:
                fail(name, "%s: org_id %r, want %r" % (row_name, case["row"]["org_id"], chain["org_id"]))
            if int(case["row"]["chain_seq"]) <= last_seq:
                fail(name, "%s: chain_seq not increasing" % row_name)
            if case["prev_checksum"] != prev:
                fail(name, "%s: prev_checksum %s, want %s" % (row_name, case["prev_checksum"], prev))
            prev, last_seq = case["checksum"], int(case["row"]["chain_seq"])
        if chain["head_checksum"] != prev or chain["watermark_seq"] != str(last_seq):
            fail(name, "head: got %s at %s, want %s at %s" % (chain["head_checksum"], chain["watermark_seq"], prev, last_seq))
        if chain["sealed_count"] != str(len(chain["rows"])):
            fail(name, "sealed_count: got %s, want %d" % (chain["sealed_count"], len(chain["rows"])))


def checkpoint_verdict(checkpoint, keyring):
    """None when the checkpoint is trusted, else the reason."""
    keys = checkpoint_keys(checkpoint)
    if set(checkpoint) != set(keys) | {"signature"}:
        return "members: got %s" % sorted(checkpoint)
    if checkpoint["v"] not in (1, 2) or type(checkpoint["v"]) is not int:
        return "v is not 1 or 2"
    if checkpoint["v"] == 2:
        for name in ("schema", "table"):
            value = checkpoint[name]
            if not isinstance(value, str) or not value or len(value.encode("utf-8")) > 63 or "\x00" in value:
                return "%s is not a PostgreSQL name" % name
        if checkpoint["chain_key"] is not None and not isinstance(checkpoint["chain_key"], str):
            return "chain_key is not a string or null"
    key = keyring.get(checkpoint["key_id"])
    if key is None:
        return "unknown key id"
    at = instant_key(checkpoint["signed_at"])
    if at < instant_key(key["valid_from"]) or (key.get("valid_until") and at >= instant_key(key["valid_until"])):
        return "signed_at outside the key's validity window"
    signature = b64url_decode(checkpoint["signature"])
    if signature is None:
        return "signature is not 86 base64url characters"
    payload = jcs({k: checkpoint[k] for k in keys}).encode("utf-8")
    if not ed25519_verify(bytes.fromhex(key["public_key_hex"]), payload, signature):
        return "signature does not verify"
    return None


def check_checkpoints(vectors, fail):
    keyring = {key["key_id"]: key for key in vectors.get("keyring", [])}
    for case in vectors.get("checkpoints", []):
        name = "checkpoint " + case["name"]
        checkpoint = case["checkpoint"]
        if "payload" in case:
            payload = jcs({k: checkpoint[k] for k in checkpoint_keys(checkpoint)})
            if payload != case["payload"]:
                fail(name, "payload:\n   got  %s\n   want %s" % (case["payload"], payload))
        if "line" in case and case["line"] != jcs(checkpoint):
            fail(name, "line:\n   got  %s\n   want %s" % (case["line"], jcs(checkpoint)))
        reason = checkpoint_verdict(checkpoint, keyring)
        if case["valid"] and reason is not None:
            fail(name, "got rejected (%s), want valid" % reason)
        if not case["valid"] and reason is None:
            fail(name, "got valid, want rejected")


def check_file(path, text):
    vectors = json.loads(text)
    failures = []

    def fail(name, message):
        failures.append("%s: %s" % (name, message))

    try:
        if vectors.get("format") == 2:
            check_v2_encodings(vectors, fail)
            check_v2_rows(vectors, fail)
            summary = "%d encodings, %d row vectors, %d chains" % (
                len(vectors.get("encodings", [])), len(vectors.get("rows", [])), len(vectors.get("chains", [])))
        else:
            by_name = check_rows(vectors, fail)
            check_chains(vectors, by_name, fail)
            check_checkpoints(vectors, fail)
            summary = "%d row vectors, %d chains, %d checkpoints" % (
                len(vectors.get("rows", [])), len(vectors.get("chains", [])), len(vectors.get("checkpoints", [])))
    except (KeyError, TypeError, ValueError, IndexError) as error:
        fail("vectors", "malformed: %r" % (error,))
        summary = "malformed"
    for failure in failures:
        print("FAIL " + failure)
    print("%s: %s, %d failures (%s)" % ("ok" if not failures else "FAILED", summary, len(failures), path))
    return not failures


def main(argv):
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test-vectors")
    paths = argv[1:] or [os.path.join(here, "v1.json"), os.path.join(here, "v2.json")]
    texts = []
    try:
        for path in paths:
            texts.append((path, sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()))
            json.loads(texts[-1][1])
    except (OSError, ValueError) as error:
        print("cannot read vectors: %s" % error, file=sys.stderr)
        return 2
    if not _ed25519_self_test():
        print("Ed25519 self-test failed", file=sys.stderr)
        return 2
    results = [check_file("stdin" if path == "-" else os.path.basename(path), text) for path, text in texts]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
