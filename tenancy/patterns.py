"""Regular-expression pieces that mean the same in Python and in the ECMAScript dialect of JSON Schema."""

# Whitespace as Python's str.strip() (and so DRF's trimming) counts it, spelled out for a character
# class: `\s` means less in ECMAScript (not \x1c-\x1f or \x85) and more (U+FEFF), so a schema pattern
# written with it would disagree with the server on exactly those characters.
# A UUID in its hyphenated form, either case.
UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
