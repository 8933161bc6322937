"""The clinician page with authentication on: it asks for an API key, keeps it in this tab only, sends it."""
import threading

import pytest
from werkzeug.serving import make_server

from cdss import create_app
from cdss.access import key_digest
from tests.web.conftest import free_port
from tests.web.test_advice_page import iron_deficient

KEY = "page-test-key-0123456789abcdefghijklmnopqrstuv"


@pytest.fixture(scope="module")
def secured_server(tmp_path_factory):
    """The application with an API key configured (authentication on), on 127.0.0.1."""
    database = tmp_path_factory.mktemp("web-key-db") / "cdss.sqlite3"
    app = create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{database}", "PATIENT_HASH_SALT": "web",
                      "LOG_LEVEL": "WARNING", "API_KEYS": {"ward": key_digest(KEY)}})
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(10)


def test_the_page_sends_the_key_keeps_it_in_session_storage_and_says_when_it_is_refused(browser, secured_server):
    browser.get(secured_server + "/")
    browser.wait_for(lambda: browser.script("return document.readyState === 'complete'"), message="page load")
    browser.script("sessionStorage.clear();")
    browser.type(browser.find("#api-key"), "wrong-key")
    iron_deficient(browser)
    browser.wait_for(lambda: browser.text(browser.find("#api-key-error")), message="key refused")
    assert "refused" in browser.text(browser.find("#api-key-error"))
    assert browser.script("return sessionStorage.getItem('cdss.apiKey')") is None  # a refused key is not kept
    browser.script("document.getElementById('api-key').value = arguments[0];", KEY)
    browser.click(browser.find("#evaluate"))
    browser.wait_for(lambda: browser.find_all("#cards .card"), message="cards with the right key")
    assert browser.text(browser.find("#api-key-error")) == ""
    assert browser.script("return sessionStorage.getItem('cdss.apiKey')") == KEY
    assert browser.script("return document.cookie") == ""  # never a cookie: no other site can post with it
    browser.get(secured_server + "/")  # a reload in the same tab keeps the key
    browser.wait_for(lambda: browser.script("return document.readyState === 'complete'"), message="page load")
    assert browser.prop(browser.find("#api-key"), "value") == KEY
    browser.click(browser.find("#forget-key"))
    assert browser.script("return sessionStorage.getItem('cdss.apiKey')") is None
