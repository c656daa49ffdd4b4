"""The OpenAPI document of the JSON API is valid OpenAPI 3.1, documents every field and parameter, and the
examples of the main response models match their own schemas (Power BI / Power Query users read it)."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

REF = "#/components/schemas/"


@pytest.fixture
def schema(app) -> dict:
    return app.openapi()


def operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def refs_in(node) -> set[str]:
    """Names of the component schemas a schema fragment points at (directly, in lists or unions)."""
    if isinstance(node, dict):
        found = {node["$ref"].removeprefix(REF)} if "$ref" in node else set()
        for value in node.values():
            found |= refs_in(value)
        return found
    if isinstance(node, list):
        return set().union(*(refs_in(v) for v in node)) if node else set()
    return set()


def test_the_schema_is_valid_openapi(schema):
    assert schema["openapi"].startswith("3.1")
    validate(schema)  # raises OpenAPIValidationError naming the path of the fault


def test_every_field_of_every_schema_has_a_description(schema):
    missing = [f"{name}.{field}" for name, component in schema["components"]["schemas"].items()
               for field, spec in component.get("properties", {}).items() if not spec.get("description")]
    assert not missing, f"add Field(description=…) to: {missing}"


def test_every_parameter_has_a_description(schema):
    missing = [f"{method.upper()} {path} {p['name']}" for path, method, operation in operations(schema)
               for p in operation.get("parameters", []) if not (p.get("description") or p["schema"].get("description"))]
    assert not missing, missing


def test_every_json_response_of_the_api_has_examples_that_match_its_schema(schema):
    components = schema["components"]["schemas"]
    main = set()
    for path, _, operation in operations(schema):
        content = operation["responses"].get("200", operation["responses"].get("201", {})).get("content", {})
        if path.startswith("/api/v1/") and "application/json" in content:
            main |= refs_in(content["application/json"]["schema"])
    assert {"SheetOut", "SubmissionsOut", "MailListOut", "SectionScoresOut", "BureauScoresOut", "QuickWinsOut",
            "TrendOut", "RoundOut", "Me"} <= main
    for name in sorted(main):
        examples = components[name].get("examples")
        assert examples, f"{name}: add model_config json_schema_extra examples"
        validator = Draft202012Validator({"$ref": REF + name, "components": schema["components"]})
        for example in examples:
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(example)]
            assert not errors, (name, errors)


def test_a_round_a_section_and_a_bureau_have_one_shape_everywhere(schema):
    """No field is named after a round, a 所属 or a 部局 with a suffix (``round_title``, ``section_code``,
    ``bureau_name``…): they are ``round: {id, title}``, ``section: {code, name}``, ``bureau: {code, name}``;
    items are ``item_key``; ``sections`` is always a number."""
    components = schema["components"]["schemas"]
    flat = ("round_title", "section_code", "section_name", "bureau_code", "bureau_name", "key", "scope")
    # FlatAnswer is the flat table for Power BI (/api/v1/analysis/answers): one plain value per column, the
    # CSV's columns, by design (a long table is not nested); every other shape nests.
    found = [f"{name}.{field}" for name, c in components.items() for field in c.get("properties", {})
             if field in flat and name != "FlatAnswer"]
    assert not found, found
    for name, component in components.items():
        sections = component.get("properties", {}).get("sections")
        if sections is not None:
            assert sections.get("type") == "integer", name
        for field in ("section", "bureau", "round"):
            spec = component.get("properties", {}).get(field)
            if spec is not None and name not in ("PriorStatusOut",):
                assert refs_in(spec) <= {"SectionRef", "BureauRef", "RoundRef"} and refs_in(spec), (name, field)


def test_every_operation_declares_its_security_one_tag_and_response_schemas(schema):
    """What a tool needs to call each operation: how to authenticate (a read-only Bearer token or the
    session cookie for reads; the session cookie with its X-CSRF-Token header for changes; nothing for the
    health check), one tag, and a schema for every response body."""
    schemes = schema["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {**schemes["bearerToken"], "type": "http", "scheme": "bearer"}
    assert (schemes["sessionCookie"]["in"], schemes["sessionCookie"]["name"]) == ("cookie", "paperless_session")
    assert (schemes["csrfToken"]["in"], schemes["csrfToken"]["name"]) == ("header", "X-CSRF-Token")
    assert schema["info"]["description"].strip()
    assert "/auth/dev-login" not in schema["paths"]  # a development aid: left out
    problems = []
    for path, method, operation in operations(schema):
        where = f"{method.upper()} {path}"
        if len(operation.get("tags", [])) != 1:
            problems.append(f"{where}: tags {operation.get('tags')}")
        if "security" not in operation:
            problems.append(f"{where}: no security")
        elif path == "/healthz":
            if operation["security"] != []:
                problems.append(f"{where}: public, security should be []")
        else:
            for requirement in operation["security"]:
                if not requirement or not set(requirement) <= set(schemes):
                    problems.append(f"{where}: unknown security {requirement}")
            alternatives = [set(r) for r in operation["security"]]
            if method == "get":
                if {"bearerToken"} not in alternatives or {"sessionCookie"} not in alternatives:
                    problems.append(f"{where}: a read takes a token or a session")
            elif alternatives != [{"sessionCookie", "csrfToken"}]:
                problems.append(f"{where}: a change takes the session and its CSRF header, got {alternatives}")
        success = [code for code in operation["responses"] if code.startswith("2")]
        if not success:
            problems.append(f"{where}: no success response")
        for code, response in operation["responses"].items():
            content = response.get("content", {})
            if code.startswith("2") and not content:
                problems.append(f"{where} {code}: no content")
            for media, body in content.items():
                if not body.get("schema"):
                    problems.append(f"{where} {code} {media}: no schema")
    assert not problems, problems


def test_health_exports_and_errors_have_their_schemas(schema):
    paths = schema["paths"]
    health = paths["/healthz"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert refs_in(health) == {"Health"}
    csv_body = paths["/api/v1/rounds/{round_id}/export.csv"]["get"]["responses"]["200"]["content"]
    assert csv_body["text/csv"]["schema"] == {"type": "string"}
    xlsx = paths["/api/v1/rounds/{round_id}/export.xlsx"]["get"]["responses"]["200"]["content"]
    assert xlsx["application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"]["schema"] == {
        "type": "string", "format": "binary"}
    error = schema["components"]["schemas"]["ApiError"]
    assert {"code", "detail"} <= set(error["required"])
    assert {"not_found", "forbidden", "login_required", "invalid_input", "conflict", "unavailable"} <= set(
        error["properties"]["code"]["enum"])


def test_real_answers_match_the_schema(schema, client, world):
    """The health check's body and real error bodies (401, 403, 404, 422) validate against what the
    document declares, and each error's code is the one for its status."""
    from tests.conftest import sign_in

    def check(name, body):
        validator = Draft202012Validator({"$ref": REF + name, "components": schema["components"]})
        errors = [e.message for e in validator.iter_errors(body)]
        assert not errors, (name, body, errors)

    check("Health", client.get("/healthz").json())
    expected = {401: "login_required", 403: "forbidden", 404: "not_found", 422: "invalid_input"}
    anonymous = client.get("/api/v1/rounds")
    sign_in(client, "member.a1@test.example")
    refused = client.get(f"/api/v1/rounds/{world.round.id}/export.csv")
    missing = client.get("/api/v1/rounds/999999/sections/A1/sheet")
    invalid = client.get(f"/api/v1/rounds/{world.round.id}/export.csv", params={"encoding": "latin-1"})
    for response in (anonymous, refused, missing, invalid):
        body = response.json()
        check("ApiError", body)
        assert body["code"] == expected[response.status_code], body
