"""A small development host for `function_app.py`.

Azure Functions Core Tools cannot be installed on machines without access to Microsoft's CDN, so this host
loads the app's registrations through the azure-functions library's own introspection and runs them with the
Functions host's semantics: HTTP triggers under /api/<route> with auth levels, queue triggers polling Storage
with host.json's queue settings and poison queues, timer triggers on NCRONTAB schedules. It is a development
tool; in Azure (and under `func start`) the real host runs the same `function_app.py` unchanged.
"""
