"""The emails of data/mail_template_data.xml changed in 19.0.1.5.0: the
customer email greets by first name, takes the customer's subject else the
deal's name and says we are on it when the customer wrote last; the summary
lists the deals the leader is asked to decide on. Their records are noupdate,
so an upgrade alone keeps 19.0.1.4.0's texts. A text still as 19.0.1.4.0
shipped it is brought to this version's; a text an administrator changed is
theirs and stays."""

import logging
from pathlib import Path

from lxml import etree

from odoo import SUPERUSER_ID, api
from odoo.tools.convert import _eval_xml, xml_import
from odoo.tools.misc import file_path

_logger = logging.getLogger("odoo.addons.crm_opportunity_followup.migrations")

MODULE = "crm_opportunity_followup"
DATA_FILE = "data/mail_template_data.xml"
SHIPPED_BEFORE = Path(__file__).with_name("mail_template_data-19.0.1.4.0.xml")
TEXT_FIELDS = ("subject", "body_html")


def migrate(cr, version):
    env = api.Environment(cr, SUPERUSER_ID, {})
    before = _shipped_texts(env, str(SHIPPED_BEFORE))
    now = _shipped_texts(env, file_path(f"{MODULE}/{DATA_FILE}"))
    other_langs = [
        code for code, _name in env["res.lang"].get_installed() if code != "en_US"
    ]
    for xml_id, texts in now.items():
        template = env.ref(f"{MODULE}.{xml_id}", raise_if_not_found=False)
        if not template:
            continue
        # The source text is the en_US value, whatever the database's language.
        template = template.with_context(lang="en_US")
        for field_name, text in texts.items():
            shipped = before.get(xml_id, {}).get(field_name)
            if shipped in (None, text) or template[field_name] == text:
                continue
            if template[field_name] != shipped:
                _logger.info(
                    "%s (%s): its %s was changed in this database and is kept; "
                    "this version's is in %s",
                    template.name,
                    xml_id,
                    field_name,
                    DATA_FILE,
                )
                continue
            template[field_name] = text
            if other_langs:
                # The other languages translated the former text: emptied, they
                # read this one until the module's translations, which Odoo
                # loads right after this script, give theirs.
                template.update_field_translations(
                    field_name, dict.fromkeys(other_langs, False)
                )


def _shipped_texts(env, path):
    """{xml id: {field: value}} of the file's templates, each value as Odoo's
    loader stores it (evaluated from the XML, then sanitized by its field)."""
    importer = xml_import(env, MODULE, {}, mode="update", xml_filename=path)
    Template = env["mail.template"]
    texts = {}
    for record in etree.parse(path).iterfind(".//record[@model='mail.template']"):
        texts[record.get("id")] = {
            node.get("name"): Template._fields[node.get("name")].convert_to_cache(
                _eval_xml(importer, node, env), Template
            )
            for node in record.iterfind("field")
            if node.get("name") in TEXT_FIELDS
        }
    return texts
