"""Failures inside the service: a clear error, never a stack trace, never silently wrong advice."""
import pytest

from cdss.engine import EngineCapacityError, RuleActionError


@pytest.mark.parametrize(("failure", "status", "code"), [
    (EngineCapacityError("full"), 503, "engine_capacity"),
    (RuleActionError("iron.oral.adult"), 500, "evaluation_failed"),
])
def test_engine_failures_answer_with_the_error_shape(app, client, monkeypatch, failure, status, code):
    def fail(context):
        raise failure

    monkeypatch.setattr(app.extensions["cdss"], "evaluate", fail)
    response = client.post("/api/v1/evaluate", json={})
    assert response.status_code == status
    assert response.json["error"]["code"] == code
    assert "Traceback" not in response.get_data(as_text=True)


def test_capacity_recycles_a_gunicorn_worker(app, client, monkeypatch):
    killed = []
    monkeypatch.setattr(app.extensions["cdss"], "evaluate", lambda context: (_ for _ in ()).throw(EngineCapacityError()))
    monkeypatch.setattr("cdss.errors.os.kill", lambda pid, sig: killed.append(sig))
    response = client.post("/api/v1/evaluate", json={}, environ_base={"SERVER_SOFTWARE": "gunicorn/27.0.1"})
    response.close()
    assert response.status_code == 503 and response.headers["Retry-After"] == "1" and killed


def test_an_unreadable_setting_stops_start_up_naming_it():
    from cdss.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="CDSS_TRUSTED_ISSUERS"):
        load_config(environ={"CDSS_TRUSTED_ISSUERS": "{not json"})
    with pytest.raises(ConfigError, match="CDSS_MAX_BODY_BYTES"):
        load_config(environ={"CDSS_MAX_BODY_BYTES": "lots"})
