"""callctl: the command line for the calling app's campaigns.

    python -m callctl campaign submit people.csv --plan plan.json --caller-id +18005550100
    python -m callctl campaign watch|status|cancel|report CAMPAIGN_ID

The function key comes from `--key` or, better (it stays out of shell history and process lists), the
environment variable CALLCTL_FUNCTION_KEY. callctl never prints it.
"""
