"""Lets tests observe invocations: one JSON line per event, appended to the file named by INVOCATION_LOG."""

import json
import os
import time


def record(function: str, **fields: object) -> None:
    line = json.dumps({"function": function, "t": time.time(), **fields}) + "\n"
    # One small O_APPEND write per line, so lines from concurrent invocations do not interleave.
    with open(os.environ["INVOCATION_LOG"], "a", encoding="utf-8") as log:
        log.write(line)
