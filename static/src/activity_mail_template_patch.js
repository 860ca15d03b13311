import { ActivityMailTemplate } from "@mail/core/web/activity_mail_template";
import { ConfirmationDialog } from "@web/core/confirmation_dialog/confirmation_dialog";
import { _t } from "@web/core/l10n/translation";
import { patch } from "@web/core/utils/patch";

// Send Now on a re-engagement sends the email to the customer and completes
// the re-engagement (crm.lead.activity_send_mail): asked once, said once.
patch(ActivityMailTemplate.prototype, {
    async onClickSend(ev, mailTemplate) {
        if (!this.props.activity.is_followup) {
            return super.onClickSend(...arguments);
        }
        ev.stopPropagation();
        ev.preventDefault();
        this.env.services.dialog.add(ConfirmationDialog, {
            title: _t("Send the email?"),
            body: _t(
                "“%(template)s” goes to the customer now, and this re-engagement is marked done.",
                { template: mailTemplate.name }
            ),
            confirmLabel: _t("Send & Mark Done"),
            confirm: async () => {
                await super.onClickSend(ev, mailTemplate);
                this.env.services.notification.add(
                    _t("Email sent: the re-engagement is done."),
                    { type: "success" }
                );
            },
            cancel: () => {},
        });
    },
});
