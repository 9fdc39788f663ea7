"""Documents of an order: the 随货同行单 of a shipment (HTML print and PDF) and the statement as XLSX.

The 随货同行单 carries the fields GSP asks for on goods in transit: 供货单位,
生产厂商, 通用名称, 剂型, 规格, 批准文号, 批号, 有效期, 数量, 收货单位, 收货地址,
发货日期. The PDF uses ReportLab's built-in CID font STSong-Light, which every
PDF reader renders without an embedded font file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from io import BytesIO

from flask import current_app

from crm.common.spreadsheets import XlsxExport
from crm.orders.models import Shipment


@dataclass(frozen=True)
class NoteLine:
    product: str
    dosage_form: str
    specification: str
    approval_number: str
    lot: str
    expires_on: date
    quantity: int


@dataclass(frozen=True)
class DeliveryNote:
    supplier: str
    manufacturer: str
    order_number: str
    receiver: str
    address: str
    receiver_name: str
    shipped_on: date
    carrier: str
    waybill: str
    lines: list[NoteLine]


def note_of(shipment: Shipment) -> DeliveryNote:
    order = shipment.order
    maker = current_app.config["MAKER_NAME"]
    return DeliveryNote(
        supplier=maker,
        manufacturer=maker,
        order_number=order.number,
        receiver=order.distributor.name,
        address=f"{order.ship_to.full_name} {order.ship_to_address}",
        receiver_name=order.receiver_name,
        shipped_on=shipment.shipped_on,
        carrier=shipment.carrier,
        waybill=shipment.waybill,
        lines=[
            NoteLine(
                product=item.line.product.name,
                dosage_form=item.line.product.dosage_form.label,
                specification=item.line.product.specification,
                approval_number=item.line.product.approval_number,
                lot=item.lot.number,
                expires_on=item.lot.expires_on,
                quantity=item.quantity,
            )
            for item in shipment.items
        ],
    )


def pdf(note: DeliveryNote) -> BytesIO:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    font = "STSong-Light"
    if font not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(font))
    title = ParagraphStyle("title", fontName=font, fontSize=16, leading=22, alignment=1)
    body = ParagraphStyle("body", fontName=font, fontSize=10, leading=14)
    out = BytesIO()
    document = SimpleDocTemplate(out, pagesize=landscape(A4), leftMargin=12 * mm, rightMargin=12 * mm)
    head = [
        ["供货单位", note.supplier, "收货单位", note.receiver],
        ["生产厂商", note.manufacturer, "收货地址", note.address],
        ["订单号", note.order_number, "收货人", note.receiver_name],
        ["发货日期", note.shipped_on.isoformat(), "承运商 / 运单号", f"{note.carrier} {note.waybill}"],
    ]
    rows = [["通用名称", "剂型", "规格", "批准文号", "批号", "有效期至", "数量"]] + [
        [
            Paragraph(_escape(line.product), body),
            line.dosage_form,
            Paragraph(_escape(line.specification), body),
            line.approval_number,
            line.lot,
            line.expires_on.isoformat(),
            str(line.quantity),
        ]
        for line in note.lines
    ]
    grid = TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), font),
            ("FONTSIZE", (0, 0), (-1, -1), 10),
            ("GRID", (0, 0), (-1, -1), 0.5, colors.grey),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ]
    )
    story = [
        Paragraph("随货同行单", title),
        Spacer(1, 4 * mm),
        Table(head, colWidths=[28 * mm, 100 * mm, 32 * mm, 110 * mm], style=grid),
        Spacer(1, 4 * mm),
        Table(
            rows, colWidths=[60 * mm, 22 * mm, 45 * mm, 45 * mm, 35 * mm, 28 * mm, 25 * mm], style=grid, repeatRows=1
        ),
        Spacer(1, 8 * mm),
        Paragraph("发货人（签章）：　　　　　　　　收货人（签章）：　　　　　　　　收货日期：", body),
    ]
    document.build(story)
    out.seek(0)
    return out


def _escape(text: str) -> str:
    """ReportLab paragraphs read a little markup: user text goes in escaped."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def statement_workbook(distributor, statement) -> XlsxExport:
    """The statement as an XLSX workbook (months, invoices, payments), through the one export helper."""
    book = XlsxExport()
    summary = book.sheet("对账单")
    summary.append(["经销商", distributor.name])
    summary.append(["应收余额", statement.balance])
    summary.append(["逾期金额", statement.overdue])
    summary.append([])
    summary.append(["月份", "订货金额", "开票金额", "回款金额", "红字冲减", "月末余额"])
    for month in statement.months:
        summary.append([month.month, month.ordered, month.invoiced, month.paid, month.credited, month.balance])
    invoices = book.sheet("发票", ["发票号码", "开票日期", "到期日", "金额"])
    for invoice in statement.invoices:
        invoices.append([invoice.number, invoice.issued_on, invoice.due_on, invoice.amount])
    payments = book.sheet("回款", ["到账日期", "金额", "方式", "凭证号"])
    for payment in statement.payments:
        payments.append([payment.received_on, payment.amount, payment.method.label, payment.reference or ""])
    return book
