"""Capture the screenshots of static/description/ from a running instance.

Run by ``make screenshots`` while ``make demo SERVE=1`` serves the demo
database on http://127.0.0.1:8069. Drives Debian's headless Chromium through
its DevTools protocol (websocket-client), logs in, opens each page and saves a
PNG. The run log and the opportunity shown are read from the demo database.

Usage: python3 tools/screenshots.py [--url URL] [--login admin] [--password admin]
       [--only screenshot_effectiveness.png,...]
"""

import argparse
import base64
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
# (file, path, CSS selector to wait for, JavaScript to run then, e.g. to scroll)
PAGES = [
    (
        "screenshot_settings.png",
        "/odoo/settings",
        ".settings_tab .tab[data-key=crm]",
        "document.querySelector('.settings_tab .tab[data-key=crm]').click();"
        "new Promise(r => setTimeout(r, 1500)).then(() => document"
        ".querySelector('#followup_stale_days').closest('.o_settings_container')"
        ".previousElementSibling.scrollIntoView({block: 'start'}))",  # its title
    ),
    ("screenshot_log_list.png", "/odoo/followup-logs", ".o_list_renderer", None),
    (
        "screenshot_log_graph.png",
        "/odoo/followup-logs?view_type=graph",
        ".o_graph_renderer canvas",
        None,
    ),
    ("screenshot_log_form.png", "/odoo/followup-logs/{log_id}", ".o_form_view", None),
    (
        "screenshot_effectiveness.png",
        "/odoo/action-crm_opportunity_followup.crm_followup_effectiveness_report_action",
        ".o_pivot table",
        None,
    ),
    (
        "screenshot_opportunity.png",
        "/odoo/action-crm.crm_lead_action_pipeline/{lead_id}",
        ".o-mail-Activity",
        None,
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

    def open(self, url, selector, timeout=30):
        """Navigate, then wait until the web client has rendered ``selector``."""
        self.send("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while not self.evaluate(f"!!document.querySelector({json.dumps(selector)})"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{url}: {selector} did not show in {timeout}s")
            time.sleep(0.3)
        time.sleep(1)  # let images and animations settle

    def close(self):
        self.ws.close()
        self.process.kill()
        self.process.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def demo_records():
    """The latest real run of the demo, and the opportunity with a history."""
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
            [pgcluster.MODULE, "demo_lead_studio_desks_stale_21d"],
        )
        [lead_id] = cr.fetchone()
    return log_id, lead_id


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8069")
    parser.add_argument("--login", default="admin")
    parser.add_argument("--password", default="admin")
    parser.add_argument("--only", help="comma-separated file names to capture")
    args = parser.parse_args()
    only = set(args.only.split(",")) if args.only else None
    args.log_id, args.lead_id = demo_records()
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        sys.exit("Chromium is missing: apt-get install chromium")
    chrome = Chrome(binary)
    try:
        chrome.open(f"{args.url}/web/login", "form.oe_login_form")
        chrome.evaluate(
            "document.querySelector('input[name=login]').value = %s;"
            "document.querySelector('input[name=password]').value = %s;"
            "document.querySelector('form.oe_login_form').submit();"
            % (json.dumps(args.login), json.dumps(args.password))
        )
        time.sleep(3)
        for filename, path, selector, script in PAGES:
            if only and filename not in only:
                continue
            url = args.url + path.format(log_id=args.log_id, lead_id=args.lead_id)
            chrome.open(url, selector)
            if script:
                chrome.evaluate(script)
                time.sleep(1)
            png = base64.b64decode(chrome.send("Page.captureScreenshot")["data"])
            target = os.path.normpath(os.path.join(OUT_DIR, filename))
            with open(target, "wb") as file:
                file.write(png)
            print(f"saved {target} ({len(png)} bytes)")
    finally:
        chrome.close()


if __name__ == "__main__":
    main()
