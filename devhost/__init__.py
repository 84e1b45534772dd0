"""devhost: a local stand-in for the Azure Functions host (`func start`), for machines without Core Tools.

It indexes a Python v2 Function App with azure-functions' own decorators, serves its HTTP triggers, runs its
queue triggers against Azure Storage (Azurite locally) and its timer triggers on their NCRONTAB or TimeSpan
schedules, with the host's documented semantics. It holds no business logic, so whatever works here works
unchanged on the real host. It is a development tool only: `.funcignore` keeps it out of the deployment package.

Run it with `python -m devhost --app-dir DIR`.
"""
