from markupsafe import Markup

from odoo import models
from odoo.exceptions import AccessError, UserError

from .followup_const import (
    STALE_DAYS_MAX,
    STALE_DAYS_MIN,
    FollowupParameterError,
)


class DiscussChannel(models.Model):
    _inherit = "discuss.channel"

    def execute_command_followup(self, **kwargs):
        """``/followup [all] [days]`` typed in a conversation: run the
        follow-up on the user's own opportunities (``all``: the whole
        pipeline, for sales managers) and answer in the conversation."""
        self.ensure_one()
        if self.channel_type not in ("channel", "chat", "group"):
            # Offered in internal users' conversations only (see the command's
            # channel_types); typed elsewhere, it does nothing.
            return
        words = (kwargs.get("body") or "").split()[1:]
        whole_pipeline = bool(words) and words[0].lower() == "all"
        if whole_pipeline:
            words = words[1:]
        usage = self.env._(
            "Give a number of days from %(min)s to %(max)s, for example /followup "
            "21 (or /followup all 21 for the whole pipeline).",
            min=STALE_DAYS_MIN,
            max=STALE_DAYS_MAX,
        )
        try:
            if len(words) > 1 or (words and not words[0].isdigit()):
                raise UserError(usage)
            result = self.env["opportunity.followup.runner"].run(
                stale_days=int(words[0]) if words else None,
                user_id=None if whole_pipeline else self.env.uid,
                trigger="chat",
            )
        except FollowupParameterError:
            # Said for people, not for the API's field names.
            answer = Markup("%s") % usage
        except (AccessError, UserError) as exc:
            answer = Markup("%s") % exc.args[0]
        else:
            answer = Markup('%s <a href="%s">%s</a>') % (
                result["message"],
                self.env["workflow.log"].browse(result["log_id"])._url(),
                self.env._("Open the log"),
            )
        self.env.user._bus_send_transient_message(self, answer)
