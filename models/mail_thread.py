from odoo import api, models
from odoo.tools.mail import decode_message_header

from .followup_const import WORK_MESSAGE_TYPES

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

    # ------------------------------------------------------------
    # A re-engagement ends itself (see crm.lead._followup_resolve)
    # ------------------------------------------------------------

    def write(self, vals):
        result = super().write(vals)
        # A milestone of a linked document (a quotation sent or confirmed):
        # generic, so that Sales need not be a dependency. Most writes are of
        # no work source and cost nothing more.
        if self._name in self._followup_sources():
            milestone = self.env["crm.lead"]._followup_work_milestones(self._name, vals)
            for record in self if milestone else ():
                record._followup_deals()._followup_resolve(
                    "advanced",
                    self.env._(
                        "%(document)s was %(milestone)s",
                        document=record.display_name,
                        milestone=milestone,
                    ),
                )
        return result

    def _message_post_after_hook(self, message, msg_values):
        # The customer wrote, on the deal or on a document linked to it.
        result = super()._message_post_after_hook(message, msg_values)
        if (
            msg_values.get("message_type") in WORK_MESSAGE_TYPES
            and not msg_values.get("followup_is_auto_reply")
            and (self._name == "crm.lead" or self._name in self._followup_sources())
        ):
            # Sudo: a customer may not read the author's users. Archived
            # users (OdooBot's is) are the company's own too.
            author = message.sudo().author_id.with_context(active_test=False)
            customer = not author or not (
                author.id == self.env["opportunity.followup.work"]._odoobot()
                or author.user_ids.filtered(lambda user: not user.share)
            )
            if customer:
                self._followup_deals()._followup_resolve(
                    "worked", self.env._("the customer replied")
                )
        return result

    def _followup_sources(self):
        return self.env["crm.lead"]._followup_work_sources()

    def _followup_deals(self):
        """The deals of these records: themselves for opportunities, else
        what their work source's link names (sudo: see
        crm.lead._followup_resolve)."""
        if self._name == "crm.lead":
            return self.sudo()
        field = self._followup_sources().get(self._name)
        return self.sudo()[field] if field else self.env["crm.lead"]
