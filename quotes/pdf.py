"""A quote as a PDF, laid out with reportlab's platypus: header, customer, line items and totals."""

from __future__ import annotations

import io
from decimal import Decimal
from xml.sax.saxutils import escape

from django.utils import timezone
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from .models import Quote, QuoteLineItem


def money(amount: Decimal, currency: str) -> str:
    """An amount with thousands separators, two decimals and its ISO currency: 1,234.50 EUR."""
    return f"{amount:,.2f} {currency}"


def percent(value: Decimal) -> str:
    """A rate without trailing zeros: 20%, 7.5%."""
    text = f"{value:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text}%"


def quantity(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _text(value) -> str:
    """Plain text made safe for platypus' mini-markup (descriptions may contain < or &)."""
    return escape(str(value)).replace("\n", "<br/>")


def _customer_lines(quote: Quote) -> list[str]:
    # The customer the quote was made out to, even if the account or contact was deleted since:
    # the PDF is the customer's copy (the API marks the references deleted). Foreign keys read
    # through the base manager, so a deleted row is still found here.
    lines = []
    if quote.account_id:
        lines.append(quote.account.name)
    if quote.contact_id:
        contact = quote.contact
        lines.append(contact.full_name)
        if contact.email:
            lines.append(contact.email)
    return lines or ["-"]


def render_quote_pdf(quote: Quote) -> bytes:
    """The quote as PDF bytes: company, number, dates, customer, line items and totals."""
    styles = getSampleStyleSheet()
    right = ParagraphStyle("right", parent=styles["Normal"], alignment=TA_RIGHT)
    cell = ParagraphStyle("cell", parent=styles["Normal"], fontSize=9, leading=11)
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
        title=f"Quote {quote.number}",
        author=quote.company.name,
    )
    issued = timezone.localdate(quote.sent_at) if quote.sent_at else timezone.localdate()
    story = [
        Paragraph(_text(quote.company.name), styles["Title"]),
        Paragraph(
            f"Quote {quote.number}" + (f": {_text(quote.title)}" if quote.title else ""), styles["Heading2"]
        ),
        Table(
            [
                ["Date", f"{issued:%Y-%m-%d}"],
                ["Valid until", f"{quote.valid_until:%Y-%m-%d}" if quote.valid_until else "-"],
                ["Currency", quote.currency],
                ["Status", quote.get_status_display()],
            ],
            hAlign="LEFT",
            style=[("FONTNAME", (0, 0), (0, -1), "Helvetica-Bold")],
        ),
        Spacer(1, 6 * mm),
        Paragraph("Customer", styles["Heading3"]),
        *[Paragraph(_text(line), styles["Normal"]) for line in _customer_lines(quote)],
        Spacer(1, 6 * mm),
        _line_items_table(quote, cell),
        Spacer(1, 4 * mm),
        _totals_table(quote),
    ]
    if quote.notes:
        story += [
            Spacer(1, 6 * mm),
            Paragraph("Notes", styles["Heading3"]),
            Paragraph(_text(quote.notes), cell),
        ]
    story.append(Spacer(1, 4 * mm))
    story.append(Paragraph(f"Amounts in {quote.currency}.", right))
    document.build(story)
    return buffer.getvalue()


def _line_items_table(quote: Quote, cell: ParagraphStyle) -> Table:
    rows = [["Description", "Qty", "Unit price", "Discount", "Tax", "Total"]]
    for item in QuoteLineItem.objects.filter(quote=quote).order_by("position", "created_at"):
        rows.append(
            [
                Paragraph(_text(item.description), cell),
                quantity(item.quantity),
                money(item.unit_price, quote.currency),
                percent(item.discount_percent),
                percent(item.tax_rate),
                money(item.total, quote.currency),
            ]
        )
    table = Table(rows, colWidths=[64 * mm, 14 * mm, 30 * mm, 18 * mm, 14 * mm, 34 * mm], repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, 0), "Helvetica-Bold"),
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#EEEEEE")),
                ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey),
                ("LINEBELOW", (0, -1), (-1, -1), 0.5, colors.grey),
                ("ALIGN", (1, 0), (-1, -1), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _totals_table(quote: Quote) -> Table:
    rows = [
        ["Subtotal", money(quote.subtotal, quote.currency)],
        ["Discount", ("-" if quote.discount_total else "") + money(quote.discount_total, quote.currency)],
        ["Tax", money(quote.tax_total, quote.currency)],
        ["Total", money(quote.total, quote.currency)],
    ]
    return Table(
        rows,
        colWidths=[30 * mm, 40 * mm],
        hAlign="RIGHT",
        style=[
            ("ALIGN", (1, 0), (1, -1), "RIGHT"),
            ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
            ("LINEABOVE", (0, -1), (-1, -1), 0.5, colors.grey),
        ],
    )
