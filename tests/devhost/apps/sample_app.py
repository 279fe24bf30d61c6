"""A tiny app for the dev host's own tests: a queue function that always fails, a timer, HTTP routes."""

import os
import time
from pathlib import Path

import azure.functions as func

app = func.FunctionApp()
_out = Path(os.environ["SAMPLE_APP_OUT"])


def _record(name: str, line: str) -> None:
    with (_out / name).open("a") as f:
        f.write(line + "\n")


@app.queue_trigger(arg_name="msg", queue_name="always-fails", connection="AzureWebJobsStorage")
def always_fails(msg: func.QueueMessage) -> None:
    _record("attempts.txt", f"{msg.id} {msg.dequeue_count} {msg.get_body().decode()}")
    raise RuntimeError("this function always fails")


@app.queue_trigger(arg_name="msg", queue_name="echo-in", connection="AzureWebJobsStorage")
async def echo_in(msg: func.QueueMessage) -> None:
    _record("echo.txt", msg.get_body().decode())


@app.timer_trigger(schedule="%SAMPLE_TIMER%", arg_name="timer", run_on_startup=True, use_monitor=False)
def ticker(timer: func.TimerRequest) -> None:
    _record("timer.txt", f"{time.time()} {timer.past_due}")


@app.route(route="items/{item_id:int}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def get_item(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        f"{req.route_params['item_id']}|{req.params.get('q', '')}|{req.method}", mimetype="text/plain"
    )


@app.route(route="secure", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
async def secure(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        req.get_body(), status_code=201, headers={"X-Seen": req.headers.get("x-probe", "")}
    )


@app.route(route="admin-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("ok")


@app.route(route="boom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise ValueError("boom")
