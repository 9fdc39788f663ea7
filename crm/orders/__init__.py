"""Orders and shipping (订单与发货): from a distributor's order to its invoice and payment.

- ``workflow``: the order machine, its gates and SLAs.
- ``models``: lots and stock, orders and lines, shipments with their lots and
  trace codes, invoices and payments, the order policy.
- ``gates``: the supply and credit checks the machine's guards run.
- ``stock``: taking quantity from lots without ever going below zero.
- ``tracecodes``: reading, checking and recording drug trace codes (药品追溯码).
- ``services``: placing, confirming, holding, shipping, delivering, invoicing.
- ``discounts``: a line sold below the agreement price, asked for and approved by two people.
- ``lots`` and ``lot_import``: entering lots by form, and by CSV/XLSX list (all or nothing).
"""
