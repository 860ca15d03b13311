"""Capture the screenshots of static/description/ from a running instance.

Run by ``make screenshots`` while ``make serve`` (or ``make demo SERVE=1``)
serves the demo database on http://127.0.0.1:8069. Drives Debian's headless
Chromium through its DevTools protocol (websocket-client), logs in as the user
each picture is for (the salesperson demo/demo, the sales manager admin/admin),
opens the page, clicks what the picture is about (a filter, a button; never
one that writes) and saves a PNG. The run log and the opportunity shown are
read from the demo database.

Usage: python3 tools/screenshots.py [--url URL]
       [--only screenshot_effectiveness.png,...]
"""

import argparse
import base64
import dataclasses
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import psycopg2
import websocket

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import demo
import pgcluster

OUT_DIR = os.path.join(os.path.dirname(__file__), "..", "static", "description")
CHROME_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,1000",
]
# Odoo's demo users, each with their login as password.
SALESPERSON = "demo"  # Marc Demo, whose stale deals the demo run booked
MANAGER = "admin"  # Mitchell Admin, leader of the Sales team
# Defines shot.click(selector, text): clicks the first visible element matching
# selector whose text contains text; fails loudly when there is none.
HELPERS = """
window.shot = {
    click(selector, text = "") {
        const element = [...document.querySelectorAll(selector)].find(
            (e) => e.offsetParent && e.textContent.includes(text)
        );
        if (!element) throw new Error(`no ${selector} with ${text}`);
        element.click();
    },
};
"""


@dataclasses.dataclass(frozen=True)
class Shot:
    """One PNG: who logs in, which page, what it shows once rendered, and the
    clicks that bring what the picture is about, each with what it shows."""

    filename: str
    login: str
    path: str
    ready: str  # CSS selector
    steps: tuple = ()  # (JavaScript, CSS selector it makes appear)
    height: int = 1000  # of the window, in pixels (1400 wide)


SHOTS = [
    # The manager's view of the team: the Stale pill on the deals nobody booked.
    Shot(
        "screenshot_pipeline.png",
        MANAGER,
        "/odoo/crm",
        ".o_kanban_renderer .o_kanban_record",
        (
            # Without Odoo's "My Pipeline", with the addon's "My Team".
            (
                "shot.click('.o_searchview_facet .o_facet_remove')",
                ".o_kanban_renderer [name=followup_stale_marker]",
            ),
            (
                "shot.click('.o_searchview_dropdown_toggler')",
                ".o_filter_menu",
            ),
            (
                "shot.click('.o_filter_menu .o-dropdown-item', 'My Team');"
                "shot.click('.o_searchview_dropdown_toggler')",  # closes the menu
                ".o_searchview_facet",
            ),
        ),
        height=1450,  # down to the team's unbooked deals in Qualified
    ),
    # The salesperson's re-engagement: the brief, and the customer email offered.
    Shot(
        "screenshot_opportunity.png",
        SALESPERSON,
        "/odoo/crm/{lead_id}",
        ".o-mail-Activity .o-mail-ActivityMailTemplate-preview",
    ),
    # That email as Preview opens it in Odoo's composer (nothing is sent).
    Shot(
        "screenshot_email.png",
        SALESPERSON,
        "/odoo/crm/{lead_id}",
        ".o-mail-Activity .o-mail-ActivityMailTemplate-preview",
        (
            (
                "shot.click('.o-mail-ActivityMailTemplate-preview')",
                ".modal .o_mail_composer_form_view .note-editable, "
                ".modal .o_mail_composer_form_view .odoo-editor-editable",
            ),
        ),
    ),
    # Send Now on a re-engagement asks first: the email goes out and the
    # re-engagement is marked done (Cancel is all the script would click).
    Shot(
        "screenshot_send_now.png",
        SALESPERSON,
        "/odoo/crm/{lead_id}",
        ".o-mail-Activity .o-mail-ActivityMailTemplate-send",
        (
            (
                "shot.click('.o-mail-ActivityMailTemplate-send')",
                ".modal .modal-footer .btn-primary",
            ),
        ),
    ),
    # The salesperson's own list: the deals waiting on his re-engagements.
    Shot(
        "screenshot_my_reengagements.png",
        SALESPERSON,
        "/odoo/re-engagements",
        ".o_list_renderer .o_data_row",
        height=560,
    ),
    # The leader's Decide: a deal re-engaged in vain, its Decide activity
    # open, the Decide button in the header.
    Shot(
        "screenshot_decide.png",
        MANAGER,
        "/odoo/crm/{decide_lead_id}",
        ".o_form_view .o_form_statusbar button[name=action_followup_decide]",
        (
            (
                "shot.click('.o_form_statusbar button[name=action_followup_decide]')",
                ".modal .o_form_view footer button[name=action_revive], "
                ".modal footer button[name=action_revive]",
            ),
        ),
    ),
    # The manager's flow: the team's stale deals, all ticked, the dialog open.
    Shot(
        "screenshot_schedule_wizard.png",
        MANAGER,
        "/odoo/stale-opportunities",
        ".o_list_renderer .o_data_row",
        (
            (
                "shot.click('.o_list_renderer thead .o_list_record_selector input')",
                ".o_control_panel button[name=action_followup_schedule]",
            ),
            (
                "shot.click('.o_control_panel button[name=action_followup_schedule]')",
                ".modal .o_data_row",
            ),
        ),
    ),
    Shot(
        "screenshot_settings.png",
        MANAGER,
        "/odoo/settings",
        ".settings_tab .tab[data-key=crm]",
        (
            (
                "document.querySelector('.settings_tab .tab[data-key=crm]').click();"
                "new Promise(r => setTimeout(r, 1500)).then(() => document"
                ".querySelector('#followup_stale_days').closest('.o_settings_container')"
                ".previousElementSibling.scrollIntoView({block: 'start'}))",  # title
                "#followup_stale_days",
            ),
        ),
        height=1750,  # the whole block, down to the summary email
    ),
    Shot(
        "screenshot_log_list.png",
        MANAGER,
        "/odoo/followup-logs",
        ".o_list_renderer",
        height=420,
    ),
    Shot(
        "screenshot_log_graph.png",
        MANAGER,
        "/odoo/followup-logs?view_type=graph",
        ".o_graph_renderer canvas",
        height=700,
    ),
    Shot(
        "screenshot_log_form.png",
        MANAGER,
        "/odoo/followup-logs/{log_id}",
        ".o_form_view",
    ),
    # CRM > Reporting > Re-engagement Lift: the re-engaged deals against the
    # held-out ones, by stage.
    Shot(
        "screenshot_lift.png",
        MANAGER,
        "/odoo/crm",
        ".o_main_navbar .o_menu_sections",
        (
            (
                "shot.click('.o_main_navbar .o_menu_sections button', 'Reporting')",
                ".o-dropdown--menu .o-dropdown-item",
            ),
            (
                "shot.click('.o-dropdown--menu .o-dropdown-item',"
                " 'Re-engagement Lift')",
                ".modal table.o_followup_lift",
            ),
        ),
        height=700,
    ),
    Shot(
        "screenshot_effectiveness.png",
        MANAGER,
        "/odoo/action-crm_opportunity_followup.crm_followup_effectiveness_report_action",
        ".o_pivot table",
        (
            # The groups (Held Out, Re-engaged) as rows, the salespeople's
            # columns folded: every measure fits the width.
            (
                "document.querySelector('.o_pivot_flip_button').click()",
                ".o_pivot tbody th.o_pivot_header_cell_opened",
            ),
            (
                "shot.click('.o_pivot thead th.o_pivot_header_cell_opened', 'Total')",
                ".o_pivot thead th.o_pivot_header_cell_closed",
            ),
        ),
        height=380,
    ),
]


class Chrome:
    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="followup_shots_")
        self.process = subprocess.Popen(
            [
                binary,
                *CHROME_FLAGS,
                f"--user-data-dir={self.profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stderr=subprocess.PIPE,
            text=True,
        )
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        for _ in range(100):
            if os.path.exists(port_file):
                break
            time.sleep(0.1)
        port = open(port_file).read().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.ids = itertools.count(1)
        self.send("Page.enable")

    def send(self, method, **params):
        message_id = next(self.ids)
        self.ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == message_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    def evaluate(self, expression):
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True)
        return result.get("result", {}).get("value")

    def wait(self, selector, timeout=30):
        """Wait until the page shows ``selector``, then let it settle."""
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"!!document.querySelector({json.dumps(selector)})"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{selector} did not show in {timeout}s")
            time.sleep(0.3)
        time.sleep(1)  # let images, animations and the last RPCs settle

    def run(self, script):
        """Run ``script`` with the HELPERS, raising what it raises."""
        result = self.send(
            "Runtime.evaluate", expression=HELPERS + script, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{script}: {result['exceptionDetails']}")

    def open(self, url, selector):
        """Navigate, then wait until the web client has rendered ``selector``."""
        self.send("Page.navigate", url=url)
        self.wait(selector)

    def login(self, base_url, login):
        """Log out whoever is in, then log in as ``login`` (password: the same)."""
        self.open(
            f"{base_url}/web/session/logout?redirect=/web/login", "form.oe_login_form"
        )
        self.evaluate(
            "document.querySelector('input[name=login]').value = %s;"
            "document.querySelector('input[name=password]').value = %s;"
            "document.querySelector('form.oe_login_form').submit();"
            % (json.dumps(login), json.dumps(login))
        )
        self.wait(".o_web_client")

    def capture(self):
        return base64.b64decode(self.send("Page.captureScreenshot")["data"])

    def close(self):
        self.ws.close()
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def demo_records():
    """The latest real run of the demo, the opportunity whose last news is
    the customer's reply to a quote (its email answers it), and the one
    waiting on the team leader's decision."""
    cluster = pgcluster.Cluster(demo.CLUSTER_DIR)
    with (
        psycopg2.connect(
            host="127.0.0.1",
            port=cluster.port,
            user=pgcluster.DB_USER,
            dbname=demo.DATABASE,
        ) as conn,
        conn.cursor() as cr,
    ):
        cr.execute(
            "SELECT id FROM workflow_log WHERE NOT dry_run AND scheduled_count > 0"
            " ORDER BY id DESC LIMIT 1"
        )
        [log_id] = cr.fetchone() or sys.exit("Run `make demo` first.")
        cr.execute(
            "SELECT res_id FROM ir_model_data WHERE module = %s AND name = %s",
            [pgcluster.MODULE, "demo_lead_meeting_chairs_stale_25d"],
        )
        [lead_id] = cr.fetchone()
        cr.execute(
            "SELECT res_id FROM ir_model_data WHERE module = %s AND name = %s",
            [pgcluster.MODULE, "demo_lead_history_archive_shelving"],
        )
        [decide_lead_id] = cr.fetchone()
    return log_id, lead_id, decide_lead_id


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--only", help="comma-separated file names to capture")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    log_id, lead_id, decide_lead_id = demo_records()
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        sys.exit("Chromium is missing: apt-get install chromium")
    chrome = Chrome(binary)
    try:
        logged_in = None
        for shot in SHOTS:
            if only and shot.filename not in only:
                continue
            if shot.login != logged_in:
                chrome.login(args.url, shot.login)
                logged_in = shot.login
            chrome.send(
                "Emulation.setDeviceMetricsOverride",
                width=1400,
                height=shot.height,
                deviceScaleFactor=1,
                mobile=False,
            )
            chrome.open(
                args.url
                + shot.path.format(
                    log_id=log_id, lead_id=lead_id, decide_lead_id=decide_lead_id
                ),
                shot.ready,
            )
            try:
                for script, selector in shot.steps:
                    chrome.run(script)
                    chrome.wait(selector)
            except RuntimeError as error:
                failed = os.path.join(tempfile.gettempdir(), shot.filename)
                with open(failed, "wb") as file:
                    file.write(chrome.capture())
                raise RuntimeError(f"{shot.filename}: {error} (see {failed})") from None
            png = chrome.capture()
            target = os.path.normpath(os.path.join(OUT_DIR, shot.filename))
            with open(target, "wb") as file:
                file.write(png)
            print(f"saved {target} ({len(png)} bytes, as {shot.login})")
    finally:
        chrome.close()


if __name__ == "__main__":
    main()
