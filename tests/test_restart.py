"""What `make run` does (migrate, demo only into an empty database, serve), twice: nothing saved is lost."""

from __future__ import annotations

import re

import httpx

from tests.servers import ProcessServer, client_for, run_cli, server_env

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
KEY = "office.daily.keep-electronic"


def sign_in(http: httpx.Client, upn: str) -> str:
    token = CSRF.search(http.get("/auth/login").text).group(1)
    assert http.post("/auth/dev-login", data={"upn": upn, "csrf_token": token}).status_code == 303
    return http.get("/api/v1/me").json()["csrf_token"]


def test_saved_answers_survive_a_restart_and_demo_data_loads_only_once(database_url, tmp_path):
    env = server_env(database_url)
    assert run_cli(env, "migrate").returncode == 0
    first = run_cli(env, "demo", "--if-empty")
    assert first.returncode == 0 and "demo data loaded: 60 所属" in first.stdout, first.stderr
    server = ProcessServer(database_url, tmp_path / "serve.log").start()
    with client_for(server.base) as desk:  # a 所属 of the open round that has not submitted yet
        sign_in(desk, "desk@demo.example")
        current = next(r for r in desk.get("/api/v1/rounds").json() if r["current"])
        code = desk.get(f"/api/v1/rounds/{current['id']}/submissions").json()["pending"][0]["section"]["code"]
    with client_for(server.base) as http:
        token = sign_in(http, f"member.{code}@demo.example")
        url = f"/api/v1/rounds/{current['id']}/sections/{code}/answers/{KEY}"
        sheet = http.get(f"/api/v1/rounds/{current['id']}/sections/{code}/sheet").json()
        version = next(i["answer"]["version"] for i in sheet["items"] if i["item_key"] == KEY)
        saved = http.put(url, json={"status": "◎", "memo": "再起動後も残る", "version": version},
                         headers={"X-CSRF-Token": token})
        assert saved.status_code == 200, saved.text
    server.stop()

    again = run_cli(env, "demo", "--if-empty")
    assert again.returncode == 0 and "already has data" in again.stdout
    assert run_cli(env, "migrate").returncode == 0

    server = ProcessServer(database_url, tmp_path / "serve.log").start()
    try:
        with client_for(server.base) as http:
            sign_in(http, f"member.{code}@demo.example")
            sheet = http.get(f"/api/v1/rounds/{current['id']}/sections/{code}/sheet").json()
            answer = next(i["answer"] for i in sheet["items"] if i["item_key"] == KEY)
            assert (answer["status"], answer["memo"], answer["version"]) == ("◎", "再起動後も残る", version + 1)
    finally:
        server.stop()


def test_demo_refuses_a_database_that_has_data(database_url):
    env = server_env(database_url)
    run_cli(env, "migrate")
    run_cli(env, "demo", "--sections", "3")
    refused = run_cli(env, "demo", "--sections", "3")
    assert refused.returncode == 1 and "already has data" in refused.stderr
