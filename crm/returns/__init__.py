"""Returns and exchanges (退换货), always drawn from what was shipped to the distributor.

- ``workflow``: the return machine, its guards and SLAs.
- ``models``: return requests and lines, returned trace codes, credit notes, the policy per agreement.
- ``services``: requesting, deciding, receiving, inspecting, refunding, replacing.
- ``views``: the desk's queue, the return page, the portal's form from a shipment.
"""
