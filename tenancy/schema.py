"""OpenAPI description of the tenant JWT authentication and of the error answers every operation gives."""

from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme


class TenantJWTScheme(SimpleJWTScheme):
    target_class = "tenancy.auth.TenantJWTAuthentication"
    name = "jwtAuth"


ERROR_COMPONENT = "Error"
ERROR_SCHEMA = {
    "type": "object",
    "description": (
        "An error: a human-readable `detail`, or for validation errors one list of messages per field."
    ),
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": {},
}
ERROR_DESCRIPTIONS = {
    "400": "Bad request: invalid input (messages per field), unknown filters, or a bad X-Company-ID.",
    "401": "No valid credentials.",
    "403": "Not allowed: another company in X-Company-ID, a deactivated company, or a missing role.",
    "404": "No such record in the current company (another company's record alike), or no such page.",
    "409": "The record is still referenced by other records.",
    "413": "The request body is too large.",
    "415": "The request body's media type is not supported.",
}


def error_codes(method: str, operation: dict) -> list[str]:
    """The error statuses the middleware, the base viewset and DRF can answer for an operation."""
    codes = []
    secured = any(requirement for requirement in operation.get("security", []))
    parameters = operation.get("parameters", [])
    has_path_parameters = any(parameter["in"] == "path" for parameter in parameters)
    paginated = any(parameter["name"] == "page" and parameter["in"] == "query" for parameter in parameters)
    if secured or "requestBody" in operation or any(p["in"] == "query" for p in parameters):
        codes.append("400")
    if secured:
        codes += ["401", "403"]
    if has_path_parameters or paginated:
        codes.append("404")
    if method == "delete":
        codes.append("409")
    if "requestBody" in operation:
        codes += ["413", "415"]
    return codes


def reads_empty_as_absent(parameter: dict) -> bool:
    """Filters, search, ordering and page size read `?name=` as absent; choices and the page refuse it."""
    return (
        parameter["in"] == "query"
        and not parameter.get("required")
        and parameter["name"] != "page"
        and "enum" not in parameter.get("schema", {})
    )


def document_error_responses(result, generator, request, public):
    """Postprocessing hook: describe the error answers each operation really gives, with their body."""
    result.setdefault("components", {}).setdefault("schemas", {})[ERROR_COMPONENT] = ERROR_SCHEMA
    reference = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                if reads_empty_as_absent(parameter):
                    parameter["allowEmptyValue"] = True
            responses = operation.setdefault("responses", {})
            for code in error_codes(method, operation):
                responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
            for code, response in responses.items():
                if code.startswith("4"):
                    # Every error body is the one the exception handler writes, whatever a view declared.
                    response["content"] = {"application/json": {"schema": reference}}
    return result
