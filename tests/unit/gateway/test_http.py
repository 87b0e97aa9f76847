"""The gateway's HTTP surface without any upstream service: login, auth, validation, Open311 errors,
OpenAPI, health and metrics. (Against real services: tests/integration/gateway.)"""

from __future__ import annotations

import warnings

import pytest
from prometheus_client import generate_latest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette suggests httpx2 for its TestClient; httpx is what we pin
    from starlette.testclient import TestClient


def _token(client: TestClient, username: str = "operator", password: str = "operator-dev") -> str:
    response = client.post("/api/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def test_login_returns_a_token_with_the_users_roles(client: TestClient) -> None:
    body = client.post("/api/login", json={"username": "dispatcher", "password": "dispatcher-dev"}).json()
    me = client.get("/api/me", headers={"Authorization": f"Bearer {body['token']}"}).json()
    assert body["roles"] == ["dispatcher"] and me == {"subject": "dispatcher", "roles": ["dispatcher"]}


def test_wrong_password_gets_401(client: TestClient) -> None:
    response = client.post("/api/login", json={"username": "operator", "password": "nope"})
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthenticated"


def test_login_without_a_username_names_the_field(client: TestClient) -> None:
    response = client.post("/api/login", json={"password": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "username"


@pytest.mark.parametrize("path", ["/api/incidents", "/api/units", "/api/kpis", "/api/events"])
def test_console_api_without_a_token_gets_401(client: TestClient, path: str) -> None:
    client.cookies.clear()  # the session cookie of an earlier login in this module
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer forged.token.value"}).status_code == 401


def test_unknown_enum_in_a_filter_gets_400_naming_the_field(client: TestClient) -> None:
    response = client.get("/api/incidents?status=NEW,EXPLODED", headers={"Authorization": f"Bearer {_token(client)}"})
    assert response.status_code == 400
    assert response.json()["error"]["fields"][0]["field"] == "status"


def test_an_unreachable_service_is_a_503_not_a_crash(client: TestClient) -> None:
    response = client.get("/api/incidents", headers={"Authorization": f"Bearer {_token(client)}"})
    assert response.status_code == 503 and response.json()["error"]["code"] == "unavailable"


def test_open311_post_without_api_key_is_a_403_before_anything_else(client: TestClient) -> None:
    response = client.post("/open311/v2/requests.json", data={"service_code": "nope"})
    assert response.status_code == 403 and response.json()[0]["code"] == 403


def test_open311_post_with_unknown_service_code_is_a_404(client: TestClient) -> None:
    response = client.post("/open311/v2/requests.json",
                           data={"api_key": "cityops-open311-dev-key", "service_code": "nope", "lat": "1", "long": "1"})
    assert response.status_code == 404 and response.json()[0]["code"] == 404


def test_open311_with_the_incidents_service_down_is_a_503_in_open311_format(client: TestClient) -> None:
    response = client.get("/open311/v2/requests.json")
    assert response.status_code == 503 and response.json()[0]["code"] == 503


def test_openapi_documents_open311_and_the_console_api(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ["/open311/v2/requests.json", "/open311/v2/services/{service_code}.json", "/api/incidents",
                 "/api/incidents/{incident_id}/transition", "/api/events", "/healthz"]:
        assert path in doc["paths"], path
    assert "/metrics" not in doc["paths"]  # served on the metrics port only
    assert set(doc["paths"]["/open311/v2/requests.json"]) == {"get", "post"}


def test_console_page_and_vendored_libraries_are_served_locally(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and '<html lang="vi">' in page.text
    assert "https://" not in page.text  # no CDN
    for asset in ["/static/vendor/leaflet/leaflet.js", "/static/vendor/chartjs/chart.umd.js",
                  "/city/map/service_area", "/static/js/main.js"]:
        assert client.get(asset).status_code == 200, asset


def test_liveness_answers_while_readiness_reports_the_unreachable_upstreams(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "SERVING"}
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "NOT_SERVING"
    # No api listens in this test: every upstream check fails, none is reported SERVING.
    assert set(body["upstreams"]) == {"incidents", "dispatch", "sensors", "notifications"}
    assert "SERVING" not in body["upstreams"].values()


def test_healthz_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/metrics").status_code == 404  # served on CITYOPS_METRICS_PORT, not the public port
    metrics = generate_latest().decode()
    assert "cityops_gateway_http_requests_total" in metrics
