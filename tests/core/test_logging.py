import json
import logging

from core.logging import JsonFormatter, request_id_var


def _format(record: logging.LogRecord) -> dict[str, object]:
    line: dict[str, object] = json.loads(JsonFormatter().format(record))
    return line


def test_lines_carry_the_request_id_and_extras() -> None:
    token = request_id_var.set("req-42")
    try:
        record = logging.makeLogRecord(
            {"msg": "hello %s", "args": ("agent",), "levelname": "INFO", "name": "api", "purged": 3}
        )
        line = _format(record)
    finally:
        request_id_var.reset(token)
    assert line["msg"] == "hello agent" and line["request_id"] == "req-42"
    assert line["level"] == "info" and line["purged"] == 3


def test_lines_inside_temporal_carry_the_workflow_id() -> None:
    record = logging.makeLogRecord(
        {
            "msg": "credited",
            "levelname": "INFO",
            "name": "temporalio.activity",
            "temporal_activity": {
                "workflow_id": "deposit:1",
                "workflow_run_id": "r1",
                "activity_type": "deposits.credit",
            },
        }
    )
    line = _format(record)
    assert (line["workflow_id"], line["run_id"], line["activity"]) == (
        "deposit:1",
        "r1",
        "deposits.credit",
    )
    assert "temporal_activity" not in line
