import threading
import time
from datetime import datetime, timedelta
from email.utils import format_datetime

import pytz
from freezegun import freeze_time

from odoo import SUPERUSER_ID, api, fields
from odoo.orm.environments import Transaction
from odoo.tests import TransactionCase, new_test_user
from odoo.tools import SQL

# The revival tests' day 0, after the test database's own dates: Odoo stamps
# write_date from the database clock, which freeze_time does not move.
T0 = fields.Datetime.now().replace(microsecond=0) + timedelta(days=10)


def at(days):
    return T0 + timedelta(days=days)


# A Monday: the re-engagement booked that day is due on Wednesday (2 working
# days); 3 working days past it is the next Monday, so the escalation comes on
# Tuesday 9 March, whereas 3 calendar days would have brought it on Sunday.
MONDAY = datetime(2027, 3, 1, 10, 0)


def day(offset):
    return MONDAY + timedelta(days=offset)


# A reply to a message of the opportunity, as the customer's mail server
# delivers it to the mail gateway.
REPLY = """\
Return-Path: <ada@globex.example>
From: Ada Lovelace <ada@globex.example>
To: Sam Seller <sam@company.example>
Subject: {subject}
Date: {date}
Message-ID: <{tag}-{parent_id}@mail.globex.example>
In-Reply-To: {parent}
References: {parent}
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: 7bit
{headers}
{body}
"""

# The ways auto-responders say what they are (RFC 3834 and older habits).
AUTO_HEADERS = {
    "auto-replied": "Auto-Submitted: auto-replied\n",
    "auto-generated": "Auto-Submitted: auto-generated; owner-email=ada@x.example\n",
    "x-autoreply": "X-Autoreply: yes\n",
    "x-autorespond": "X-Autorespond: Out of office\n",
    "precedence": "Precedence: auto_reply\n",
    "vacation": "Precedence: bulk\n",
}


def run_twice_at_once(case, lead_ids):
    """Two runs on ``lead_ids``, each on its own real connection: the first
    holds its inserted rows uncommitted until the second waits on them.
    Neither leaves an ERROR line in ``odoo.sql_db``.

    :return: ``{"first": result, "second": result}``
    """
    Runner = type(case.env["opportunity.followup.runner"])
    original = Runner._log_execution
    first_done, release = threading.Event(), threading.Event()

    def held_open(runner, *args):
        # The first run waits with its activities inserted, not committed.
        if threading.current_thread().name == "first":
            first_done.set()
            release.wait(30)
        return original(runner, *args)

    case.patch(Runner, "_log_execution", held_open)
    results = {}

    def worker():
        name = threading.current_thread().name
        try:
            with case.registry.cursor() as cr:
                # Bind the registry directly: looking it up by name waits on
                # the registry lock that the test runner's thread holds.
                cr.transaction = Transaction(case.registry)
                env = api.Environment(cr, SUPERUSER_ID, {})
                results[name] = env["opportunity.followup.runner"].run(
                    lead_ids=lead_ids
                )
        except Exception as exc:  # asserted below
            results[name] = exc
            first_done.set()

    first = threading.Thread(target=worker, name="first")
    second = threading.Thread(target=worker, name="second")
    with case.assertNoLogs("odoo.sql_db", level="ERROR"):
        first.start()
        case.assertTrue(first_done.wait(30))
        case.assertNotIsInstance(results.get("first"), Exception)
        second.start()
        time.sleep(1)  # the second run now waits on the first one's rows
        release.set()
        first.join(60)
        second.join(60)
    return results


class FollowupCase(TransactionCase):
    """Shared set-up: a sales manager, two salespeople, a team and the
    default pipeline stages; helpers to make opportunities of a given age."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.manager = new_test_user(
            cls.env,
            "fu_manager",
            groups="sales_team.group_sale_manager",
            name="Mia Manager",
            tz="UTC",
        )
        cls.salesperson = new_test_user(
            cls.env,
            "fu_sales",
            groups="sales_team.group_sale_salesman",
            name="Sam Seller",
            tz="UTC",
        )
        cls.salesperson_2 = new_test_user(
            cls.env,
            "fu_sales_2",
            groups="sales_team.group_sale_salesman",
            name="Sue Seller",
            tz="UTC",
        )
        # Sees every opportunity: may get anybody's (default re-engagement user).
        cls.senior = new_test_user(
            cls.env,
            "fu_senior",
            groups="sales_team.group_sale_salesman_all_leads",
            name="Sid Senior",
            tz="UTC",
        )
        cls.team = cls.env["crm.team"].create(
            {"name": "Follow-up Team", "user_id": cls.manager.id}
        )
        cls.stage_new = cls.env.ref("crm.stage_lead1")
        cls.stage_qualified = cls.env.ref("crm.stage_lead2")
        cls.stage_proposition = cls.env.ref("crm.stage_lead3")
        cls.stage_won = cls.env.ref("crm.stage_lead4")
        cls.call_type = cls.env.ref("mail.mail_activity_data_call")
        cls.email_type = cls.env.ref("mail.mail_activity_data_email")
        cls.odoobot = cls.env.ref("base.user_root")
        cls.cron = cls.env.ref("crm_opportunity_followup.ir_cron_opportunity_followup")
        # The daily job runs the companies switched on in the settings (off at
        # install: see TestOptIn).
        cls.env.company.followup_active = True
        # From midnight where the company is: the daily run is due whatever
        # the time of day the tests run (see TestCronCycles for its hour).
        cls.env.company.followup_run_hour = 0
        cls.Runner = cls.env["opportunity.followup.runner"]
        cls.Activity = cls.env["mail.activity"]
        # Opportunities that crm's own data may hold must not blur the counts.
        cls.env["crm.lead"].search([]).action_archive()

    @classmethod
    def _opportunity(cls, name, days=20, **vals):
        """An opportunity last updated ``days`` days ago (0: just now)."""
        lead = cls.env["crm.lead"].create(
            {
                "name": name,
                "type": "opportunity",
                "user_id": cls.salesperson.id,
                "team_id": cls.team.id,
                "stage_id": cls.stage_new.id,
                **vals,
            }
        )
        if days:
            cls._set_write_date(lead, fields.Datetime.now() - timedelta(days=days))
        return lead

    @classmethod
    def _set_write_date(cls, leads, when):
        # Pending recomputations would stamp a fresh write_date over ours.
        cls.env.flush_all()
        cls.env.cr.execute(
            SQL(
                "UPDATE crm_lead SET write_date = %s WHERE id IN %s",
                when,
                tuple(leads.ids),
            )
        )
        leads.invalidate_recordset(["write_date"])

    @classmethod
    def _set_last_work(cls, leads, when):
        """Every trace of work on ``leads`` (edits, completed activities,
        messages) dated ``when``."""
        cls._set_write_date(leads, when)
        cls.env.cr.execute(
            SQL(
                "UPDATE mail_activity SET date_done = %s WHERE res_model = 'crm.lead' "
                "AND res_id IN %s AND date_done IS NOT NULL",
                when.date(),
                tuple(leads.ids),
            )
        )
        cls.env.cr.execute(
            SQL(
                "UPDATE mail_message SET date = %s "
                "WHERE model = 'crm.lead' AND res_id IN %s",
                when,
                tuple(leads.ids),
            )
        )
        cls.env.invalidate_all()

    def _followups(self, leads):
        return self.Activity.search(
            [
                ("res_model", "=", "crm.lead"),
                ("res_id", "in", leads.ids),
                ("is_followup", "=", True),
            ]
        )

    def _set_param(self, key, value):
        self.env["ir.config_parameter"].set_param(
            f"crm_opportunity_followup.{key}", value
        )

    def _run_cron(self):
        """What the scheduler runs, as the cron's user (OdooBot); method_direct_trigger
        would run it on a separate connection that cannot see this test's records.

        :return: this company's log of the run
        """
        self.cron.ir_actions_server_id.with_user(self.odoobot).run()
        return self.env["workflow.log"].search(
            [("trigger", "=", "cron"), ("company_id", "=", self.env.company.id)],
            limit=1,
        )

    def _inherit_view(self, xmlid, name, arch):
        """An integrator's view inheriting the QWeb template ``xmlid``, made
        by an administrator as a module's view would be."""
        return (
            self.env["ir.ui.view"]
            .with_user(self._admin())
            .create(
                {
                    "name": name,
                    "type": "qweb",
                    "inherit_id": self.env.ref(xmlid).id,
                    "arch": arch,
                }
            )
        )

    def _admin(self):
        """An administrator: Odoo reserves the CRM settings to them."""
        return new_test_user(
            self.env,
            "fu_admin",
            groups="sales_team.group_sale_manager,base.group_system",
            tz="UTC",
        )

    def _template(self, user, body):
        """An email on opportunities, as ``user`` writes it."""
        return (
            self.env["mail.template"]
            .with_user(user)
            .create(
                {
                    "name": "Qualified wording",
                    "model_id": self.env["ir.model"]._get_id("crm.lead"),
                    "subject": "Checking in",
                    "use_default_to": True,
                    "body_html": body,
                }
            )
        )

    # Mail the customer, then receive their answer through the gateway (the
    # auto-reply tests).

    @classmethod
    def _customer(cls):
        return cls.env["res.partner"].create(
            {"name": "Ada Lovelace", "email": "ada@globex.example"}
        )

    def _mail_customer(self, lead):
        """The salesperson writes to the customer from the chatter."""
        return lead.with_user(self.salesperson).message_post(
            body="Shall we meet next week?",
            subject="Chairs for the new office",
            message_type="comment",
            subtype_xmlid="mail.mt_comment",
            partner_ids=lead.partner_id.ids,
        )

    def _receive(self, parent, tag, headers="", body="", when=None):
        """The answer to ``parent``, fed to the mail gateway as the fetchmail
        cron does (as OdooBot).

        :return: the message it posted on the opportunity (on the record
            of ``parent``)
        """
        when = when or fields.Datetime.now()
        raw = REPLY.format(
            subject=(
                "Automatic reply: Chairs for the new office"
                if headers
                else "Re: Chairs for the new office"
            ),
            date=format_datetime(pytz.utc.localize(when)),
            tag=tag,
            parent_id=parent.id,
            parent=parent.message_id,
            headers=headers,
            body=body
            or (
                "I am out of the office until Monday."
                if headers
                else "Yes, Tuesday works for us."
            ),
        )
        # The thread of ``parent``: the opportunity, or a linked document.
        res_id = (
            self.env["mail.thread"]
            .with_user(self.odoobot)
            .message_process(parent.model, raw)
        )
        self.assertEqual(res_id, parent.res_id)
        return self.env["mail.message"].search(
            [("message_id", "=", f"<{tag}-{parent.id}@mail.globex.example>")]
        )


class SalesMixin:
    """With Sales (``sale_crm``), which this addon does not need: the tests
    skip where it is absent (``make test`` runs them apart, with it). The
    case defines ``lead``, ``customer`` and ``salesperson``."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.has_sales = (
            "sale.order" in cls.env and "opportunity_id" in cls.env["sale.order"]
        )
        if cls.has_sales:
            cls.product = cls.env["product.product"].create(
                {"name": "Office chair", "list_price": 450.0}
            )

    def setUp(self):
        if not self.has_sales:
            self.skipTest("sale_crm is not installed: make test runs these apart")
        super().setUp()

    def _quote(self):
        """The salesperson's quotation for the deal."""
        quote = (
            self.env["sale.order"]
            .with_user(self.salesperson)
            .create(
                {
                    "partner_id": self.customer.id,
                    "opportunity_id": self.lead.id,
                    "user_id": self.salesperson.id,
                    "order_line": [
                        (0, 0, {"product_id": self.product.id, "product_uom_qty": 10})
                    ],
                }
            )
        )
        # Saved by the salesperson's request, as the web client's would be
        # (the test's own flush would write as OdooBot).
        quote.env.flush_all()
        return quote

    def _send(self, quote):
        """As the quotation's *Send* composer posts it."""
        return (
            quote.with_user(self.salesperson)
            .with_context(mark_so_as_sent=True)
            .message_post(
                body="Here is our quotation.",
                subject="Chairs for the new office",
                message_type="comment",
                subtype_xmlid="mail.mt_comment",
                partner_ids=self.customer.ids,
            )
        )


class RevivalCase(FollowupCase):
    """Re-engagements the daily job booked at ``T0``; their results, refreshed
    ``at(days)`` after."""

    def _book(self, leads):
        """The daily job books a re-engagement on each of ``leads`` at T0."""
        with freeze_time(T0):
            log = self._run_cron()
        lines = log.line_ids.filtered(lambda line: line.lead_id in leads)
        self.assertEqual(set(lines.mapped("outcome")), {"scheduled"})
        self.assertEqual(set(lines.mapped("revival_result")), {"pending"})
        return log, lines

    def _refresh(self, days):
        """The daily refresh of results, as the cron's user, ``days`` after T0."""
        with freeze_time(at(days)):
            self.env["workflow.log.line"].with_user(
                self.odoobot
            )._cron_followup_refresh_revival()
        self.env.invalidate_all()

    def _line(self, lines, lead):
        return lines.filtered(lambda line: line.lead_id == lead)

    def _flush_tracking(self):
        """Post the tracking messages now, as the commit would (at the
        current, frozen, time)."""
        self.env.flush_all()
        self.env.cr.precommit.run()


class EscalationCase(FollowupCase):
    """A deal the daily job books on ``MONDAY``, to be escalated ``day(n)``
    later."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lead = cls._opportunity("Initech Upgrade", days=20)

    def _escalations(self, leads):
        return self.Activity.search(
            [
                ("res_model", "=", "crm.lead"),
                ("res_id", "in", leads.ids),
                ("is_followup_escalation", "=", True),
            ]
        )

    def _line(self, log, lead):
        return log.line_ids.filtered(lambda line: line.lead_id == lead)

    def _book(self):
        with freeze_time(MONDAY):
            self._run_cron()
        followup = self._followups(self.lead)
        self.assertEqual(followup.date_deadline, day(2).date())
        return followup


class TemplatedCase(FollowupCase):
    """A deal in the Qualified stage whose contact has an email: what a
    stage's email to the customer goes to."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.lead = cls._opportunity(
            "Templated",
            days=20,
            stage_id=cls.stage_qualified.id,
            contact_name="Bo",
            email_from="bo@example.com",
        )


class OwnAndColleagueCase(FollowupCase):
    """The salesperson's own stale deal and a colleague's."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.own = cls._opportunity("Own Deal", days=20)
        cls.colleague = cls._opportunity(
            "Colleague Deal", days=20, user_id=cls.salesperson_2.id
        )
