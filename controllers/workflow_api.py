import json
import re

from odoo import http
from odoo.exceptions import AccessError, UserError
from odoo.http import request

from ..models.followup_const import WORKFLOW_NAME, FollowupParameterError

BEARER = re.compile(r"^bearer\s+(\S+)$", re.IGNORECASE)
PARAMS = ("stale_days", "user_id", "team_id", "dry_run")


class WorkflowApi(http.Controller):
    """``POST /workflows/run``: run a workflow over HTTP with an API key.

    Every answer is JSON, errors included. That is why the route checks the
    API key itself, with Odoo's own ``res.users.apikeys._check_credentials``
    (what ``auth="bearer"`` calls): Odoo 19's ``auth="bearer"`` answers a
    missing or wrong key with an HTML 401 page on ``type="http"`` routes, and
    ``type="json2"`` routes answer another content type with an HTML 415 and
    another method with an HTML 405, before any code of the route runs.
    The parameters' values are validated by ``run()`` only.
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
        for name in sorted(set(params) - set(PARAMS)):
            return _error(
                400,
                "unknown_parameter",
                env._("Unknown parameter: %(name)s.", name=name),
                field=name,
            )
        # The values themselves are validated once, by run().
        try:
            result = request.env["opportunity.followup.runner"].run(
                stale_days=params.get("stale_days"),
                user_id=params.get("user_id"),
                team_id=params.get("team_id"),
                trigger="api",
                dry_run=params.get("dry_run", False),
            )
        except AccessError as exc:
            return _error(403, "forbidden", str(exc))
        except FollowupParameterError as exc:
            return _error(400, "invalid_parameter", str(exc), field=exc.parameter)
        except UserError as exc:
            return _error(400, "invalid_parameter", str(exc))
        if not result["success"]:
            # The error itself (a database message, say) is for the log's
            # readers, not for the caller.
            return _error(
                500,
                "run_failed",
                env._(
                    "The re-engagement run failed; its log #%(log)s has the details.",
                    log=result["log_id"],
                ),
                log_id=result["log_id"],
            )
        # The workflow document's output: no error is null.
        return request.make_json_response(dict(result, error=None))


def _error(status, code, message, headers=None, field=None, log_id=None):
    return request.make_json_response(
        {
            "success": False,
            "error": message,
            "code": code,
            "field": field,
            **({"log_id": log_id} if log_id else {}),
        },
        headers=headers,
        status=status,
    )
