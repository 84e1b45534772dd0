"""Sample Function App for the devhost tests: one blueprint per folder, registered here and nothing else."""

import azure.functions as func
from greetings import bp as greetings_bp
from orders import bp as orders_bp
from timers import bp as timers_bp
from worker import bp as worker_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(greetings_bp)
app.register_functions(orders_bp)
app.register_blueprint(worker_bp)
app.register_functions(timers_bp)
