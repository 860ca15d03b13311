from odoo import api, models
from odoo.tools.mail import decode_message_header

# RFC 3834's header, then what auto-responders wrote before it (and still do):
# a mail that carries one is an answer nobody wrote.
AUTO_HEADERS = ("X-Autoreply", "X-Autorespond")
# Precedence values that vacation programs and automated senders set; "list"
# (a person writing through a mailing list) is not among them.
AUTO_PRECEDENCES = ("auto_reply", "bulk", "junk")


class MailThread(models.AbstractModel):
    _inherit = "mail.thread"

    @api.model
    def message_parse(self, message, save_original=False):
        # Odoo 19 posts an incoming out-of-office reply as any customer email:
        # flag it on the message, for the stale clock and the results to leave
        # out (Odoo's own out-of-office replies have their message type).
        msg_dict = super().message_parse(message, save_original=save_original)
        if self._followup_is_auto_reply(message):
            msg_dict["followup_is_auto_reply"] = True
        return msg_dict

    @api.model
    def _followup_is_auto_reply(self, message):
        """Whether an incoming ``email.message.EmailMessage`` was sent by an
        auto-responder: ``Auto-Submitted`` other than ``no`` (RFC 3834),
        ``X-Autoreply`` / ``X-Autorespond`` other than ``no``, or a
        ``Precedence`` of ``auto_reply``, ``bulk`` or ``junk``."""

        def value(header):
            # "auto-replied; owner-email=..." : the keyword before parameters.
            text = decode_message_header(message, header, separator=",")
            return text.split(";", 1)[0].strip().lower()

        if value("Auto-Submitted") not in ("", "no"):
            return True
        if any(value(header) not in ("", "no") for header in AUTO_HEADERS):
            return True
        return value("Precedence") in AUTO_PRECEDENCES

    def _get_message_create_valid_field_names(self):
        # The gateway posts what message_parse found, this flag included.
        return super()._get_message_create_valid_field_names() | {
            "followup_is_auto_reply"
        }
