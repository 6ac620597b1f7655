"""The HTTP API's pure part: reading query parameters, filtering and ordering what the tables hold, merging
the answers of several workers, and the OpenAPI document. The Faust views in ``app.py`` only route and fetch."""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import UTC, date, datetime, time
from typing import Any

from streams.alerts.rules import RulesConfig
from streams.models import Alert, HoldingState, TransactionRecord

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

# ASCII only: str patterns' \d also matches other scripts' digits ("١٣١٨٦٠٥" would become another issuer).
_CIK = re.compile(r"[0-9]{1,10}")
_DIGITS = re.compile(r"[0-9]{1,9}")
_TICKER = re.compile(r"[A-Za-z][A-Za-z0-9.\-]{0,9}")
_RULE = re.compile(r"[a-z0-9_]{1,64}")
#: The rule names a request may filter on: every rule of the rules model (alert.rule is the field name).
RULE_NAMES: frozenset[str] = frozenset(RulesConfig.model_fields)
#: Methods that never need the API token: the read-only API.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class ApiError(Exception):
    """A request the API refuses: a status (400, 404, 503) and a message that says what to send instead."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "status": self.status}


def parse_cik(text: str, what: str = "CIK") -> str:
    """A CIK of 1 to 10 digits, as the 10-digit string the records use."""
    text = (text or "").strip()
    if not _CIK.fullmatch(text):
        raise ApiError(400, f"{what} must be 1 to 10 digits, e.g. 1318605 or 0001318605; got {text!r}")
    return text.zfill(10)


def parse_ticker(text: str) -> str:
    text = (text or "").strip()
    if not _TICKER.fullmatch(text):
        raise ApiError(400, f"ticker must be letters, digits, '.' or '-' (e.g. TSLA or BRK.B); got {text!r}")
    return text.upper()


def instant(text: str) -> datetime:
    """An ISO date (midnight UTC) or date-time (UTC unless it has an offset); ValueError otherwise."""
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), time(), UTC)
    when = datetime.fromisoformat(text)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_when(text: str, name: str) -> datetime:
    """A ``since``/``until`` parameter: an ISO date or date-time."""
    try:
        if not text.isascii():
            raise ValueError(text)
        return instant(text)
    except ValueError:
        raise ApiError(
            400,
            f"{name} must be an ISO date or date-time, e.g. 2025-12-12 or 2025-12-12T09:30:00-05:00; got {text!r}",
        ) from None


def parse_date(text: str, name: str) -> date:
    try:
        if not text.isascii() or len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO date such as 2025-12-12; got {text!r}") from None


def parse_limit(text: str | None) -> int:
    """1 to MAX_LIMIT in ASCII digits ("²" or "١٠" are refused with 400, not a 500 from int())."""
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= MAX_LIMIT:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIMIT}; got {text[:40]!r}")
    return int(text)


def parse_rule(text: str | None, known: Collection[str] = RULE_NAMES) -> str | None:
    """A rule name the rules know (400 otherwise, so a typo does not look like "no alerts")."""
    if not text:
        return None
    if not _RULE.fullmatch(text) or text not in known:
        raise ApiError(400, f"rule must be one of {', '.join(sorted(known))}; got {text[:64]!r}")
    return text


def check_token(method: str, authorization: str | None, token: str | None) -> None:
    """Refuse (401) a request that may change something (not GET/HEAD/OPTIONS) without the API token, when one
    is configured (FORM4_API_TOKEN). Compared in constant time."""
    if token is None or method.upper() in SAFE_METHODS:
        return
    scheme, _, given = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(401, "this request needs 'Authorization: Bearer <FORM4_API_TOKEN>'")


def not_found(path: str) -> ApiError:
    return ApiError(404, f"no such path: {path[:200]}; see /openapi.json for the API")


Handler = Callable[[Any], Awaitable[Any]]


def error_middleware(token: str | None) -> Callable[[Any, Handler], Awaitable[Any]]:
    """An aiohttp middleware for the worker's web server: the API token check for non-GET requests, and JSON
    errors (the API's {"error", "status"} body) for unknown paths and methods instead of aiohttp's plain text.
    Installed through Faust's ``web_application_options`` (settings.faust_app_kwargs)."""
    from aiohttp import web

    def answer(error: ApiError) -> Any:
        return web.json_response(error.body(), status=error.status)

    @web.middleware
    async def middleware(request: Any, handler: Handler) -> Any:
        try:
            check_token(request.method, request.headers.get("Authorization"), token)
            return await handler(request)
        except ApiError as exc:
            return answer(exc)
        except web.HTTPNotFound:
            return answer(not_found(request.path))
        except web.HTTPMethodNotAllowed:
            return answer(ApiError(405, f"{request.method} is not allowed on {request.path[:200]}"))

    return middleware


def holding_order(line: Mapping[str, Any]) -> tuple[str, ...]:
    key = line.get("key", {})
    return (
        str(line.get("issuer_name") or ""),
        str(key.get("issuer_cik", "")),
        str(line.get("owner_name") or ""),
        str(key.get("owner_cik", "")),
        str(key.get("security_title", "")),
        str(key.get("direct_indirect") or ""),
        str(key.get("nature_of_ownership") or ""),
    )


def openapi_document(title: str, version: str) -> dict[str, Any]:
    """OpenAPI 3.1 for the routes; bodies are the topic messages' own JSON Schemas."""

    def schema_of(model: Any) -> dict[str, Any]:
        schema: dict[str, Any] = model.model_json_schema(ref_template="#/components/schemas/{model}")
        return schema

    components: dict[str, Any] = {}
    for model in (HoldingState, Alert, TransactionRecord):
        schema = schema_of(model)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    components["Error"] = {
        "type": "object",
        "properties": {"error": {"type": "string"}, "status": {"type": "integer"}},
        "required": ["error", "status"],
    }

    def array_of(name: str) -> dict[str, Any]:
        return {
            "description": f"JSON array of {name} (the same schema as the topic messages)",
            "content": {
                "application/json": {
                    "schema": {"type": "array", "items": {"$ref": f"#/components/schemas/{name}"}}
                }
            },
        }

    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}

    def param(
        name: str, where: str, description: str, schema: dict[str, Any], required: bool = False
    ) -> dict[str, Any]:
        return {
            "name": name,
            "in": where,
            "required": required or where == "path",
            "description": description,
            "schema": schema,
        }

    cik = {"type": "string", "pattern": r"^\d{1,10}$"}
    since = param("since", "query", "only newer than this ISO date or date-time", {"type": "string"})
    until = param(
        "until", "query", "only older than this ISO date (the whole day) or date-time", {"type": "string"}
    )
    cursor = param(
        "cursor",
        "query",
        "the X-Next-Cursor of the previous page (the Link header has the whole URL)",
        {"type": "string"},
    )
    limit = param(
        "limit",
        "query",
        f"at most this many (1-{MAX_LIMIT}, default {DEFAULT_LIMIT})",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    )

    def records_of(whose: str, what: str, scope: str = "") -> dict[str, Any]:
        return {
            "get": {
                "summary": f"{whose} transaction records, {scope}newest first, paged (X-Next-Cursor, Link)",
                "parameters": [param("cik", "path", what, cik), since, until, limit, cursor],
                "responses": responses(array_of("TransactionRecord")),
            }
        }

    def responses(ok: dict[str, Any]) -> dict[str, Any]:
        return {
            "200": ok,
            "400": {"description": "malformed parameter", **error},
            "404": {"description": "unknown key", **error},
            "503": {"description": "the worker owning the key is not ready", **error},
        }

    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Insider holdings, alerts and transactions from SEC Forms 3, 4 and 5. Any worker answers any key.",
        },
        "paths": {
            "/holdings/owner/{cik}": {
                "get": {
                    "summary": "every current holding line of an insider, across issuers",
                    "parameters": [param("cik", "path", "the insider's CIK", cik)],
                    "responses": responses(array_of("HoldingState")),
                }
            },
            "/holdings/issuer/{cik}": {
                "get": {
                    "summary": "every insider's current holdings in an issuer; joint filers have a non-empty joint_group",
                    "parameters": [param("cik", "path", "the issuer's CIK", cik)],
                    "responses": responses(array_of("HoldingState")),
                }
            },
            "/alerts": {
                "get": {
                    "summary": "recent alerts, newest first",
                    "parameters": [
                        param("issuer", "query", "issuer CIK", cik),
                        param("owner", "query", "insider CIK", cik),
                        param("rule", "query", "rule name, e.g. large_disposition", {"type": "string"}),
                        since,
                        until,
                        limit,
                        cursor,
                    ],
                    "responses": responses(array_of("Alert")),
                }
            },
            "/transactions/issuer/{cik}": records_of("an issuer's", "the issuer's CIK"),
            "/transactions/owner/{cik}": records_of("an insider's", "the insider's CIK", "across issuers, "),
            "/issuers/{cik}/flow": {
                "get": {
                    "summary": "net discretionary insider flow over 30, 90, 180 and 365 days of filing dates",
                    "parameters": [
                        param("cik", "path", "the issuer's CIK", cik),
                        param(
                            "end",
                            "query",
                            "last filing date of the windows (default today, Eastern)",
                            {"type": "string"},
                        ),
                    ],
                    "responses": responses(
                        {"description": "{issuer_cik, end, windows: [...]}, decimals as strings"}
                    ),
                }
            },
            "/alerts/stream": {
                "get": {
                    "summary": "server-sent events: each alert stored or revised, id = arrival number (Last-Event-ID)",
                    "responses": {"200": {"description": "text/event-stream"}},
                }
            },
            "/alerts/poll": {
                "get": {
                    "summary": "alerts stored or revised after arrival `after`, oldest first: {items, last_arrival}",
                    "parameters": [param("after", "query", "an arrival number", {"type": "integer"}), limit],
                    "responses": responses({"description": "{items: [Alert], last_arrival: N}"}),
                }
            },
            "/issuers/ticker/{ticker}": {
                "get": {
                    "summary": "the issuer CIK of a ticker seen in filings",
                    "parameters": [param("ticker", "path", "trading symbol", {"type": "string"})],
                    "responses": responses(
                        {
                            "description": "the issuer",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {
                                            "ticker": {"type": "string"},
                                            "issuer_cik": {"type": "string"},
                                            "issuer_name": {"type": ["string", "null"]},
                                        },
                                    }
                                }
                            },
                        }
                    ),
                }
            },
            "/healthz": {
                "get": {"summary": "alive", "responses": {"200": {"description": "the event loop answers"}}}
            },
            "/readyz": {
                "get": {
                    "summary": "ready to answer (tables recovered, no rebalance)",
                    "responses": {
                        "200": {"description": "ready"},
                        "503": {"description": "recovering or rebalancing"},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text/plain; version=0.0.4"}},
                }
            },
        },
        "components": {"schemas": components},
    }
