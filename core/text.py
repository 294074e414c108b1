"""Text rules every layer shares, each defined once: whitespace, NUL and UUIDs.

The regular-expression pieces mean the same in Python and in the ECMAScript dialect of JSON Schema.
"""

import uuid

# Whitespace as Python's str.strip() (and so DRF's trimming) counts it, spelled out for a character
# class: `\s` means less in ECMAScript (not \x1c-\x1f or \x85) and more (U+FEFF), so a schema pattern
# written with it would disagree with the server on exactly those characters.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"

# NUL: PostgreSQL's text and jsonb cannot hold it, so no text the API takes may contain it.
NUL = "\x00"
NUL_ESCAPE = r"\x00"  # NUL as a pattern's character class names it
NO_NUL_PATTERN = rf"^[^{NUL_ESCAPE}]*$"
NUL_IN_TEXT_MESSAGE = "Null characters are not allowed."  # DRF's own wording for its text fields
NUL_IN_JSON_MESSAGE = "Text in this JSON may not contain NUL characters."


def holds_nul(value) -> bool:
    """Whether a text, or any key or text inside JSON lists and objects, contains NUL."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(holds_nul(key) or holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(holds_nul(item) for item in value)
    return False


# A UUID in its hyphenated form, either case.
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
UUID_MESSAGE = "Must be a UUID such as 123e4567-e89b-12d3-a456-426614174000."


def is_canonical_uuid(value) -> bool:
    """A UUID string in its hyphenated form, as the schema's `format: uuid` has it."""
    if not isinstance(value, str):
        return False
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
