import json
import re

from odoo import http
from odoo.exceptions import AccessError, UserError
from odoo.http import request

from ..models.followup_const import (
    STALE_DAYS_MAX,
    STALE_DAYS_MIN,
    WORKFLOW_NAME,
)

BEARER = re.compile(r"^bearer\s+(\S+)$", re.IGNORECASE)
PARAMS = ("stale_days", "user_id", "team_id", "dry_run")


class WorkflowApi(http.Controller):
    """``POST /workflows/run``: run a workflow over HTTP with an API key.

    Every answer is JSON, errors included: the route does its own
    authentication (Odoo's API keys, as ``auth="bearer"`` does) because the
    stock bearer routes answer some errors with an HTML page.
    """

    @http.route(
        "/workflows/run",
        type="http",
        auth="none",
        csrf=False,
        save_session=False,
        readonly=False,
    )
    def run_workflow(self, **_kwargs):
        httprequest = request.httprequest
        if not request.db:
            # No database, so no translations either.
            return _error(503, "no_database", "No database is selected on this server.")
        env = request.env
        if httprequest.method != "POST":
            return _error(
                405,
                "method_not_allowed",
                env._("Use POST."),
                headers=[("Allow", "POST")],
            )

        match = BEARER.match(httprequest.headers.get("Authorization", ""))
        # Checking a key needs no user yet: it is what tells the user.
        uid = match and request.env["res.users.apikeys"].sudo()._check_credentials(
            scope="rpc", key=match.group(1)
        )
        if not uid:
            return _error(
                401,
                "unauthorized",
                env._("Send a valid API key as 'Authorization: Bearer <key>'."),
                headers=[("WWW-Authenticate", 'Bearer realm="odoo"')],
            )
        request.update_env(user=uid)

        if httprequest.mimetype != "application/json":
            return _error(
                400, "bad_content_type", env._("The body must be application/json.")
            )
        try:
            body = json.loads(httprequest.get_data(as_text=True) or "null")
        except ValueError as exc:
            return _error(
                400,
                "malformed_json",
                env._("The body is not valid JSON: %(error)s", error=exc),
            )
        if not isinstance(body, dict):
            return _error(400, "bad_body", env._("The body must be a JSON object."))
        for name in sorted(set(body) - {"workflow_name", "params"}):
            return _error(
                400,
                "unknown_field",
                env._("Unknown field: %(name)s.", name=name),
                field=name,
            )
        if body.get("workflow_name") != WORKFLOW_NAME:
            return _error(
                404,
                "unknown_workflow",
                env._(
                    "Unknown workflow_name %(name)r; available: %(available)r.",
                    name=body.get("workflow_name"),
                    available=WORKFLOW_NAME,
                ),
                field="workflow_name",
            )
        params = body.get("params") or {}
        if not isinstance(params, dict):
            return _error(
                400,
                "bad_params",
                env._("params must be a JSON object."),
                field="params",
            )
        for name, value in params.items():
            if name not in PARAMS:
                return _error(
                    400,
                    "unknown_parameter",
                    env._("Unknown parameter: %(name)s.", name=name),
                    field=name,
                )
            if not _valid(name, value):
                expected = {
                    "stale_days": env._(
                        "a whole number from %(min)s to %(max)s",
                        min=STALE_DAYS_MIN,
                        max=STALE_DAYS_MAX,
                    ),
                    "user_id": env._("a user id (whole number) or null"),
                    "team_id": env._("a sales team id (whole number) or null"),
                    "dry_run": env._("true or false"),
                }[name]
                return _error(
                    400,
                    "invalid_parameter",
                    env._(
                        "%(name)s must be %(expected)s; received %(value)r.",
                        name=name,
                        expected=expected,
                        value=value,
                    ),
                    field=name,
                )
        try:
            result = request.env["opportunity.followup.runner"].run(
                stale_days=params.get("stale_days"),
                user_id=params.get("user_id"),
                team_id=params.get("team_id"),
                trigger="api",
                dry_run=bool(params.get("dry_run")),
            )
        except AccessError as exc:
            return _error(403, "forbidden", str(exc))
        except UserError as exc:
            return _error(400, "invalid_parameter", str(exc))
        return request.make_json_response(result)


def _valid(name, value):
    if name == "dry_run":
        return isinstance(value, bool)
    if value is None and name != "stale_days":
        return True
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return name != "stale_days" or STALE_DAYS_MIN <= value <= STALE_DAYS_MAX


def _error(status, code, message, headers=None, field=None):
    return request.make_json_response(
        {
            "success": False,
            "error": message,
            "code": code,
            "field": field,
        },
        headers=headers,
        status=status,
    )
