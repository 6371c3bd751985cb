"""The web form's routes, one module per area; each holds the shared `web.pages.Pages` and lists its own routes.

`auth` (sign-in), `complaints` (inbox, intake, the complaint page, documents), `actions` (an action on a
complaint), `admin` (users, refused record writes) and `service` (health, favicon). A new area (the customer
portal, managers' reports) is a new module here with a class whose `routes()` `web.app.build_web_app` adds.
"""
