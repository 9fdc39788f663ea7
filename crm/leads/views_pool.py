from crm.leads.blueprint import bp  # noqa: F401
