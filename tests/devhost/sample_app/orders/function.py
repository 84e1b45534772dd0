"""An HTTP function with queue outputs, and the queue trigger that consumes one of them."""

import json

import azure.functions as func
from invocation_log import record

bp = func.Blueprint()


@bp.route(route="orders", methods=["POST"])
@bp.queue_output(arg_name="order_out", queue_name="%ORDERS_QUEUE%", connection="AzureWebJobsStorage")
@bp.queue_output(arg_name="audit_out", queue_name="%AUDIT_QUEUE%", connection="AzureWebJobsStorage")
def create_order(req: func.HttpRequest, order_out: func.Out[str], audit_out: func.Out[str]) -> func.HttpResponse:
    order = req.get_json()
    order_out.set(json.dumps(order))
    audit_out.set([f"created {order['id']}", f"by {order.get('by', 'nobody')}"])
    if order.get("explode"):
        raise RuntimeError("failing after setting the outputs")
    return func.HttpResponse(json.dumps({"queued": order["id"]}), status_code=202, mimetype="application/json")


@bp.queue_trigger(arg_name="msg", queue_name="%ORDERS_QUEUE%", connection="AzureWebJobsStorage")
def process_order(msg: func.QueueMessage) -> None:
    record("process_order", id=msg.get_json()["id"], dequeue_count=msg.dequeue_count, message_id=msg.id)
