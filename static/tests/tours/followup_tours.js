import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("crm_opportunity_followup_settings_tour", {
    steps: () => [
        {
            content: "The settings' units render beside their numbers",
            trigger: "#followup_activity label:contains('Due in') ~ div input",
        },
        {
            content: "Run the re-engagement from the CRM settings",
            trigger: "button[name='action_run_followup']",
            run: "click",
        },
        {
            content: "Confirm: it books activities for the whole pipeline",
            trigger: ".modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "The run's outcome shows in a notification",
            trigger: ".o_notification:contains('Found 2 stale opportunities')",
        },
        {
            content: "with a link to its log",
            trigger: ".o_notification a:contains('Open the log')",
        },
    ],
});

registry.category("web_tour.tours").add("crm_opportunity_followup_list_tour", {
    steps: () => [
        {
            content: "Select the first opportunity",
            trigger:
                ".o_list_renderer tr:contains('Tour Deal A') td.o_list_record_selector input[type='checkbox']",
            run: "click",
        },
        {
            content: "Select the second opportunity",
            trigger:
                ".o_list_renderer tr:contains('Tour Deal B') td.o_list_record_selector input[type='checkbox']",
            run: "click",
        },
        {
            content: "Open the Actions menu",
            trigger: ".o_cp_action_menus button",
            run: "click",
        },
        {
            content: "Run the re-engagement on the selection",
            trigger: ".o-dropdown--menu span:contains('Run Re-engagement')",
            run: "click",
        },
        {
            content: "The outcome shows in a notification",
            trigger: ".o_notification:contains('Found 2 stale opportunities')",
        },
    ],
});

registry.category("web_tour.tours").add("crm_opportunity_followup_manager_tour", {
    steps: () => [
        {
            content: "The Stale Opportunities list opens on the stale ones of my team",
            trigger: ".o_searchview_facet:contains('Stale (No Update)')",
        },
        {
            content: "Tick the first stale opportunity",
            trigger:
                ".o_list_renderer tr:contains('Tour Stale A') td.o_list_record_selector input[type='checkbox']",
            run: "click",
        },
        {
            content: "Tick the second",
            trigger:
                ".o_list_renderer tr:contains('Tour Stale B') td.o_list_record_selector input[type='checkbox']",
            run: "click",
        },
        {
            content: "Schedule Re-engagement, from the list's header",
            trigger: "button[name='action_followup_schedule']",
            run: "click",
        },
        {
            content: "The wizard lists both; untick the second",
            trigger:
                ".modal .o_data_row:contains('Tour Stale B') .o_field_boolean_toggle input",
            run: "click",
        },
        {
            content: "Confirm",
            trigger: ".modal-footer button[name='action_confirm']",
            run: "click",
        },
        {
            content: "The dialog closes and the list reloads: the booked one is gone",
            trigger:
                "body:not(:has(.modal)) .o_list_renderer:not(:has(tr:contains('Tour Stale A'))):has(tr:contains('Tour Stale B'))",
        },
    ],
});

registry.category("web_tour.tours").add("crm_opportunity_followup_send_tour", {
    steps: () => [
        {
            content: "The re-engagement carries its brief",
            trigger: ".o-mail-Activity:contains('Re-engage: Tour Send Deal') .o-mail-Activity-info",
            run: "click",
        },
        {
            content: "Send the customer email it offers, as it is",
            trigger:
                ".o-mail-Activity:contains('Re-engage: Tour Send Deal') .o-mail-ActivityMailTemplate-send",
            run: "click",
        },
        {
            content: "Asked once: send it and mark the re-engagement done",
            trigger: ".modal-footer button:contains('Send & Mark Done')",
            run: "click",
        },
        {
            content: "Said once",
            trigger: ".o_notification:contains('Email sent')",
        },
        {
            content: "The email shows in the chatter, greeting the contact",
            trigger: ".o-mail-Message:contains('Hello Ada,')",
        },
        {
            content: "The re-engagement is done, with its feedback, and offers nothing more",
            trigger:
                ".o-mail-Message:contains('Email sent'):not(:has(.o-mail-ActivityMailTemplate-send))",
        },
        {
            content: "No open re-engagement left to send it again",
            trigger: "body:not(:has(.o-mail-Activity:contains('Re-engage: Tour Send Deal')))",
        },
    ],
});

registry.category("web_tour.tours").add("crm_opportunity_followup_pause_tour", {
    steps: () => [
        {
            content: "Pause the re-engagement of this deal",
            trigger: ".o_form_view button[name='action_followup_pause']",
            run: "click",
        },
        {
            content: "Open the date to change it",
            trigger: ".modal div[name='paused_until'] button",
            run: "click",
        },
        {
            content: "A day in the past",
            trigger: ".modal div[name='paused_until'] input",
            run: "edit 01/01/2020",
        },
        {
            content: "The reason",
            trigger: ".modal div[name='reason'] input",
            run: "edit Customer asked",
        },
        {
            content: "Pause",
            trigger: ".modal-footer button[name='action_pause']",
            run: "click",
        },
        {
            content: "Refused, saying why",
            trigger: ".modal:contains('is in the past')",
        },
        {
            content: "Close the message",
            trigger: ".modal:contains('is in the past') .modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "Back to the pause dialog; cancel it",
            trigger: ".modal-footer button.btn-secondary:contains('Cancel')",
            run: "click",
        },
        {
            content: "The deal shows no pause",
            trigger:
                "body:not(:has(.modal)) .o_form_view:not(:has(.alert-info:contains('paused until'))) button[name='action_followup_pause']",
        },
    ],
});

registry.category("web_tour.tours").add("crm_opportunity_followup_my_reengagements_tour", {
    steps: () => [
        {
            content: "Open the Sales menu",
            trigger: ".o_main_navbar button:contains('Sales')",
            run: "click",
        },
        {
            content: "My Re-engagements",
            trigger: ".o-dropdown--menu .dropdown-item:contains('My Re-engagements')",
            run: "click",
        },
        {
            content: "My open re-engagement's deal is listed, nobody else's",
            trigger:
                ".o_list_renderer:has(tr:contains('Tour Mine')):not(:has(tr:contains('Tour Theirs')))",
        },
        {
            content: "Its marker says a re-engagement is open",
            trigger: ".o_list_renderer tr:contains('Tour Mine') td:contains('Re-engaging')",
        },
    ],
});

registry.category("web_tour.tours").add("crm_opportunity_followup_manager_figures_tour", {
    steps: () => [
        {
            content: "The Effectiveness report counts the re-engagements still pending apart",
            trigger: ".o_pivot .o_pivot_measure_row:contains('Pending')",
        },
        {
            content: "beside the ignored ones, so that the totals add up",
            trigger: ".o_pivot .o_pivot_measure_row:contains('Ignored')",
        },
    ],
});

registry.category("web_tour.tours").add("crm_opportunity_followup_manager_overdue_tour", {
    steps: () => [
        {
            content: "The Stale Opportunities list shows the overdue re-engagements too",
            trigger: ".o_searchview_facet:contains('Re-engagement Overdue or Escalated')",
        },
        {
            content: "Tick the deal whose re-engagement is overdue",
            trigger:
                ".o_list_renderer tr:contains('Tour Overdue') td.o_list_record_selector input[type='checkbox']",
            run: "click",
        },
        {
            content: "Schedule Re-engagement",
            trigger: "button[name='action_followup_schedule']",
            run: "click",
        },
        {
            content: "A wide dialog says plainly there is nothing to schedule",
            trigger:
                ".modal .modal-xl .alert:contains('Nothing to schedule: 1 with an activity planned.')",
        },
        {
            content: "and offers no Schedule button",
            trigger: ".modal .modal-footer:not(:has(button[name='action_confirm']))",
        },
        {
            content: "Close it",
            trigger: ".modal .modal-footer button:contains('Close')",
            run: "click",
        },
        {
            content: "The dialog is gone",
            trigger: "body:not(:has(.modal))",
        },
    ],
});

registry.category("web_tour.tours").add("crm_opportunity_followup_admin_bounds_tour", {
    steps: () => [
        {
            content: "Type a due date far too far away",
            trigger: "#followup_activity div[name='followup_deadline_days'] input",
            run: "edit 5000",
        },
        {
            content: "Save the settings",
            trigger: "button.o_form_button_save",
            run: "click",
        },
        {
            content: "The message names the range",
            trigger: ".modal:contains('Due In (Days) must be between 0 and 90.')",
        },
        {
            content: "Close the message",
            trigger: ".modal .modal-footer .btn-primary",
            run: "click",
        },
        {
            content: "Discard the typo",
            trigger: "body:not(:has(.modal)) button.o_form_button_cancel",
            run: "click",
        },
        {
            content: "The saved value is back",
            trigger: "#followup_activity div[name='followup_deadline_days'] input:value(2)",
        },
    ],
});
