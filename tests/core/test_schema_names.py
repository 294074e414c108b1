"""Component names of the OpenAPI schema read as a client generator would print them."""

import re

from .test_openapi import schema  # noqa: F401  (the fixture)


def test_no_component_name_repeats_its_suffix(schema):  # noqa: F811
    """A request body is `SignRequest`, never `SignRequestRequest` (COMPONENT_SPLIT_REQUEST adds one)."""
    names = schema["components"]["schemas"]
    doubled = [name for name in names if re.search(r"(Request|Response|Serializer){2}$", name)]
    assert doubled == []
    assert {"SignRequest", "DeclineRequest", "TemplatePreviewRequest", "WorkflowRunRequest"} <= set(names)
