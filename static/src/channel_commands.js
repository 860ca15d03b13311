import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";

registry.category("discuss.channel_commands").add("followup", {
    help: _t("Schedule re-engagement activities on your stale opportunities (/followup [days], /followup all [days])"),
    methodName: "execute_command_followup",
    // Internal users' conversations only: not livechat or other channel types.
    channel_types: ["channel", "chat", "group"],
});
