"""A queue trigger whose behaviour is chosen by the message: succeed, fail, or take some time."""

import time

import azure.functions as func
from invocation_log import record

bp = func.Blueprint()


@bp.queue_trigger(arg_name="msg", queue_name="%WORK_QUEUE%", connection="AzureWebJobsStorage")
def work(msg: func.QueueMessage) -> None:
    body = msg.get_json()
    record(
        "work",
        event="start",
        id=body["id"],
        dequeue_count=msg.dequeue_count,
        has_times=bool(msg.insertion_time and msg.expiration_time and msg.pop_receipt),
    )
    time.sleep(body.get("sleep", 0))
    if body.get("fail"):
        raise ValueError(f"failing on purpose: {body['id']}")
    record("work", event="end", id=body["id"])
