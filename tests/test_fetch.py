"""The fetch layer against a real HTTP server on loopback (tests/fetch_server.py) playing the API.

Back-off delays are scaled down (FAST), never skipped: every wait really happens.
"""

from __future__ import annotations

import gzip
import logging
import os
import socket
import ssl
import stat
import subprocess
import sys
import time
import tracemalloc
import urllib.parse
from contextlib import contextmanager
from email.utils import formatdate
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import apsis_export
from apsis_export import fetch_and_convert
from apsis_export.cli import main
from apsis_export.fetch import (
    ApiError,
    AuthError,
    Client,
    DownloadError,
    ExportFailedError,
    ExportGoneError,
    ExportRequest,
    ExportRequestError,
    HttpSettings,
    InsecureUrlError,
    WaitTimeoutError,
    find_poll_url,
    retry_after,
)
from apsis_export.fetch._auth import Secret, jwt_expiry

from .fetch_server import SAMPLE, Answer, FakeApsis, FakeStorage, make_jwt, network_calls

SECRET = "s3cr3t-never-shown"
FAST = HttpSettings(
    poll_interval=0.01,
    max_poll_interval=0.04,
    max_wait=5.0,
    retries=3,
    download_retries=2,
    connect_timeout=1.0,
    read_timeout=2.0,
)
FAST_CLI = [
    "--poll-interval",
    "0.01",
    "--max-poll-interval",
    "0.04",
    "--max-wait",
    "5",
    "--retries",
    "3",
    "--restarts",
    "2",
    "--timeout",
    "2",
]


@pytest.fixture
def api():
    with FakeApsis() as server:
        yield server


@pytest.fixture
def client(api):
    with Client(api.url, client_id="cid", client_secret=SECRET, settings=FAST) as c:
        yield c


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """What ``convert`` makes of the sample the server serves."""
    out = tmp_path_factory.mktemp("expected")
    apsis_export.convert(SAMPLE / "small.json.gz", out, format="parquet")
    return read_tables(out)


def read_tables(directory) -> dict:
    return {p.stem: pq.read_table(p) for p in sorted(Path(directory).glob("*.parquet"))}


def all_files(directory) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in Path(directory).rglob("*") if not p.is_dir())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli(api, *args, env=None):
    environment = {"APSIS_CLIENT_ID": "cid", "APSIS_CLIENT_SECRET": SECRET, **(env or {})}
    return CliRunner().invoke(main, ["fetch", "--base-url", api.url, *FAST_CLI, *args], env=environment)


# ---- auth ------------------------------------------------------------------------------


def test_token_is_requested_with_client_credentials_as_json(api, client):
    client.sections()
    (token_call,) = api.calls("POST", "/oauth/token")
    assert token_call.headers["Content-Type"] == "application/json"
    assert orjson.loads(token_call.body) == {
        "grant_type": "client_credentials",
        "client_id": "cid",
        "client_secret": SECRET,
    }
    assert api.calls("GET", "/audience/sections")[0].headers["Authorization"].startswith("Bearer ey")
    assert all(seen.headers["User-Agent"] == f"apsis-export/{apsis_export.__version__}" for seen in api.seen)


def test_token_is_cached_until_its_jwt_exp(api, client):
    for _ in range(3):
        client.sections()
    assert api.tokens_issued == 1


def test_token_is_renewed_when_its_exp_is_within_the_margin(api, client):
    api.token_lifetime = 30  # less than the 60 s margin
    client.sections()
    client.sections()
    assert api.tokens_issued == 2


@pytest.mark.parametrize("status", [401, 403])
def test_refused_token_is_renewed_once_and_the_call_repeated(api, client, status):
    api.unauthorized_status = status
    client.sections()
    api.revoke_tokens()  # as if expired
    assert client.sections()[0]["name"] == "Default"
    assert api.tokens_issued == 2
    assert len(api.calls("GET", "/audience/sections")) == 3


def test_a_token_expiring_while_polling_is_renewed(api, client):
    api.unauthorized_status = 403  # what APSIS answers to an expired token
    api.poll_answers.append(Answer(404, revoke_tokens=True))
    client.wait(api.poll_url).close()
    polls = len(api.calls("GET", "/exports/e-1/file"))
    assert (polls, api.tokens_issued) == (3, 2)  # 404, 403, then 200 with the new token


def test_still_refused_after_renewal_is_an_auth_error(api, client):
    api.authorize = False
    with pytest.raises(AuthError, match="not authorized even with a new token"):
        client.sections()
    assert api.tokens_issued == 2


def test_refused_credentials_are_an_auth_error_without_the_secret(api, client):
    api.token_answers.append(
        Answer(401, body=b'{"title": "Unauthorized", "detail": "unknown client"}', chunked=False)
    )
    with pytest.raises(AuthError, match=r"credentials were refused.*unknown client") as info:
        client.sections()
    assert SECRET not in str(info.value)


def test_token_endpoint_rate_limit_honours_retry_after(api, client):
    api.token_answers.append(Answer(429, headers={"Retry-After": "0.2"}))
    start = time.monotonic()
    client.sections()
    assert time.monotonic() - start >= 0.2
    assert len(api.calls("POST", "/oauth/token")) == 2


def test_jwt_exp_is_read_without_verifying():
    assert jwt_expiry(make_jwt(1_700_000_000)) == 1_700_000_000
    assert jwt_expiry("not-a-jwt") is None
    assert jwt_expiry("a.%%%.c") is None


def test_secret_never_shows_in_reprs():
    client = Client(client_id="cid", client_secret=SECRET)
    assert SECRET not in repr(client) and SECRET not in repr(vars(client))
    assert SECRET not in f"{Secret(SECRET)} {Secret(SECRET)!r}"


def test_region_picks_the_base_url():
    assert Client(region="apac", client_id="a", client_secret="b").base_url == "https://api-apac.apsis.one"
    assert Client(client_id="a", client_secret="b").base_url == "https://api.apsis.one"
    explicit = Client("http://127.0.0.1:9/", region="apac", client_id="a", client_secret="b")
    assert explicit.base_url == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="region"):
        Client(region="us", client_id="a", client_secret="b")


# ---- the request -----------------------------------------------------------------------


def test_request_export_posts_the_body_and_returns_the_poll_url(api, client):
    request = ExportRequest(
        attributes=["10462", "10462", "10463"],
        tags=["t1"],
        events=["e1"],
        segment_filter="seg-1",
        start_at="2024-05-01T10:00:00+02:00",
    )
    assert client.request_export(request) == api.poll_url
    (call,) = api.calls("POST", "/audience/profiles/exports")
    assert call.headers["Content-Type"] == "application/json"
    assert orjson.loads(call.body) == {
        "segment_filter": "seg-1",
        "attributes": ["10462", "10463"],
        "tags": ["t1"],
        "events": ["e1"],
        "start_at": "2024-05-01T08:00:00Z",
        "end_at": "2024-05-08T08:00:00Z",
    }


def test_a_body_is_passed_through_as_is(api, client):
    body = b'{"attributes": ["1"],   "topic_state": {"whatever": true}}'
    client.request_export(body)
    assert api.calls("POST", "/audience/profiles/exports")[0].body == body


def test_poll_url_from_the_v2_field(api, client):
    api.request_body = {"file_download_url_v2": "/exports/e-1/file"}
    assert client.request_export(ExportRequest(tags=["t"])) == api.poll_url  # relative: resolved


@pytest.mark.parametrize(
    "payload, found",
    [
        (b'{"file_download_url": "https://a/1", "file_download_url_v2": "https://a/2"}', "https://a/1"),
        (b'{"file_download_url": null, "file_download_url_v2": "https://a/2"}', "https://a/2"),
        (b'{"export": {"id": 1, "links": ["https://a/x?sig=1"]}, "note": "see docs"}', "https://a/x?sig=1"),
        (b"see https://a/plain-text", "https://a/plain-text"),
    ],
)
def test_poll_url_is_found(payload, found):
    assert find_poll_url(payload, "https://base/audience/profiles/exports") == found


def test_no_poll_url_says_so():
    with pytest.raises(ApiError, match=r"no poll URL was found.*file_download_url or file_download_url_v2"):
        find_poll_url(b'{"id": "e-1"}', "https://base/x")
    with pytest.raises(ApiError, match="2 URLs"):
        find_poll_url(b'{"a": "https://a/1", "b": "https://a/2"}', "https://base/x")


def test_location_header_is_the_last_resort(api, client):
    api.request_answers.append(
        Answer(202, headers={"Location": "/exports/e-1/file"}, body=b"{}", chunked=False)
    )
    assert client.request_export(ExportRequest(tags=["t"])) == api.poll_url


def test_an_export_request_answered_429_is_repeated_after_retry_after(api, client):
    api.request_answers.append(Answer(429, headers={"Retry-After": "0.1"}))
    assert client.request_export(ExportRequest(tags=["t"])) == api.poll_url
    assert len(api.calls("POST", "/audience/profiles/exports")) == 2


def test_an_export_request_lost_after_sending_is_not_repeated(api, client):
    api.request_answers.append(Answer(status=0))  # it may have created an export: do not make another
    with pytest.raises(ApiError, match="the export request failed"):
        client.request_export(ExportRequest(tags=["t"]))
    assert len(api.calls("POST", "/audience/profiles/exports")) == 1


def test_refused_request_is_an_api_error_with_the_problem(api, client):
    api.request_answers.append(
        Answer(400, body=b'{"status": 400, "title": "Bad Request", "detail": "bad segment"}')
    )
    with pytest.raises(ApiError, match="refused \\(HTTP 400: Bad Request — bad segment\\)"):
        client.request_export(ExportRequest(attributes=["1"]))


@pytest.mark.parametrize(
    "fields, message",
    [
        (dict(events=["e"], attributes=["1"]), "start_at is required when events are asked"),
        ({}, "at least one attribute or tag"),
        (dict(events=["e"], start_at="2024-01-01"), "at least one attribute or tag"),
        (dict(attributes=[str(i) for i in range(76)]), "76 attributes asked; an export holds at most 75"),
        (dict(tags=[str(i) for i in range(26)]), "26 tags asked; an export holds at most 25"),
        (dict(tags=["t"], start_at="2024-01-31", end_at="2024-04-30T00:00:01Z"), "longer than 3 months"),
        (dict(tags=["t"], start_at="2024-05-02", end_at="2024-05-01"), "must be after start_at"),
        (dict(tags=["t"], end_at="2024-05-01"), "end_at needs start_at"),
        (dict(tags=["t"], start_at="yesterday"), "'yesterday' is not an ISO 8601 time"),
        (dict(attributes=["x" * 200_000]), "the API refuses more than 100,000"),
    ],
)
def test_invalid_requests_are_refused_before_sending(api, client, fields, message):
    with pytest.raises(ExportRequestError, match=message):
        client.request_export(ExportRequest(**fields))
    assert api.seen == []


def test_limits_are_inclusive():
    body = ExportRequest(attributes=[str(i) for i in range(75)], tags=[str(i) for i in range(25)]).body()
    assert (len(body["attributes"]), len(body["tags"])) == (75, 25)
    body = ExportRequest(
        tags=["t"], start_at="2024-01-31", end_at="2024-04-30"
    ).body()  # three calendar months
    assert body["end_at"] == "2024-04-30T00:00:00Z"


def test_passed_through_bodies_are_checked_too(api, client):
    with pytest.raises(ExportRequestError, match="start_at is required"):
        client.request_export({"attributes": ["1"], "events": ["e"]})
    with pytest.raises(ExportRequestError, match="not valid JSON"):
        client.request_export(b"{nope")
    assert api.seen == []


# ---- polling ---------------------------------------------------------------------------


def test_404s_then_a_gzip_body_in_chunks_converts(api, client, expected, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="apsis_export.fetch")
    api.poll_answers.extend([Answer(404)] * 3)
    api.export_answer = Answer(chunk=4096)
    summary = fetch_and_convert(client, ExportRequest(attributes=["1"]), tmp_path / "out")
    assert read_tables(tmp_path / "out") == expected
    assert summary.profiles == 22
    polls = api.calls("GET", "/exports/e-1/file")
    assert len(polls) == 4 and all(p.headers["Accept-Encoding"] == "gzip" for p in polls)
    waits = [r.getMessage() for r in caplog.records if "not ready" in r.getMessage()]
    assert len(waits) == 3 and all("waited" in w and "next poll in" in w for w in waits)


def test_202_means_not_ready(api, client):
    api.poll_answers.extend([Answer(202), Answer(202)])
    with client.wait(api.poll_url) as stream:
        assert stream.read(-1) == api.export_gzip and stream.compressed
    assert len(api.calls("GET", "/exports/e-1/file")) == 3


def test_429_honours_retry_after(api, client, caplog):
    caplog.set_level(logging.INFO, logger="apsis_export.fetch")
    api.poll_answers.append(Answer(429, headers={"Retry-After": "0.3"}))
    start = time.monotonic()
    client.wait(api.poll_url).close()
    assert time.monotonic() - start >= 0.3
    messages = [r.getMessage() for r in caplog.records]
    assert any("Retry-After 0.3 s" in m and "next poll in 0.3 s" in m for m in messages)


def test_retry_after_reads_seconds_and_http_dates():
    now = time.time()
    assert retry_after("7") == 7
    assert retry_after(formatdate(now + 30, usegmt=True), now) == pytest.approx(30, abs=1)
    assert retry_after(formatdate(now - 30, usegmt=True), now) == 0
    assert retry_after("soon") is None and retry_after(None) is None


def test_5xx_is_retried(api, client):
    api.poll_answers.extend([Answer(500), Answer(502)])
    client.wait(api.poll_url).close()
    assert len(api.calls("GET", "/exports/e-1/file")) == 3


def test_5xx_retries_are_bounded(api, client):
    api.poll_answers.extend([Answer(500)] * 10)
    with pytest.raises(ApiError, match="failed 4 times in a row: HTTP 500"):
        client.wait(api.poll_url)
    assert len(api.calls("GET", "/exports/e-1/file")) == FAST.retries + 1


def test_connection_errors_are_retried_a_bounded_number_of_times():
    with Client(f"http://127.0.0.1:{free_port()}", client_id="a", client_secret=SECRET, settings=FAST) as c:
        with pytest.raises(ApiError, match="the token request failed: cannot connect") as info:
            c.sections()
    assert SECRET not in str(info.value)


def test_410_is_export_gone(api, client):
    api.poll_answers.append(Answer(410))
    with pytest.raises(ExportGoneError, match="export gone or invalid"):
        client.wait(api.poll_url)
    assert len(api.calls("GET", "/exports/e-1/file")) == 1


def test_503_is_export_failed(api, client):
    api.poll_answers.append(Answer(503))
    with pytest.raises(ExportFailedError, match="export failed on the server; request a new one"):
        client.wait(api.poll_url)
    assert len(api.calls("GET", "/exports/e-1/file")) == 1


def test_max_wait_bounds_the_polling(api):
    api.poll_answers.extend([Answer(404)] * 1000)
    settings = HttpSettings(poll_interval=0.01, max_poll_interval=0.04, max_wait=0.3)
    start = time.monotonic()
    with Client(api.url, client_id="a", client_secret="b", settings=settings) as c:
        with pytest.raises(WaitTimeoutError, match="still not ready after") as info:
            c.wait(api.poll_url)
    assert 0.3 <= time.monotonic() - start < 1.5
    assert info.value.poll_url == api.poll_url


def test_backoff_grows_with_jitter_up_to_the_cap():
    settings = HttpSettings(poll_interval=1, max_poll_interval=10, backoff_factor=2, jitter=0.2)
    delays = Client(client_id="a", client_secret="b", settings=settings)._backoff()
    got = [next(delays) for _ in range(8)]
    for delay, base in zip(got, [1, 2, 4, 8, 10, 10, 10, 10], strict=True):
        assert base * 0.8 <= delay <= min(base * 1.2, 10)
    assert len(set(got)) > 1


# ---- the download ----------------------------------------------------------------------


def test_download_saves_the_body_as_sent(api, client, tmp_path):
    path = client.download(api.poll_url, tmp_path / "export.json.gz")
    assert path.read_bytes() == api.export_gzip
    assert os.listdir(tmp_path) == ["export.json.gz"]


def test_download_without_gzip_asks_for_identity(api, tmp_path):
    settings = HttpSettings(poll_interval=0.01, max_poll_interval=0.04, gzip=False)
    with Client(api.url, client_id="a", client_secret="b", settings=settings) as c:
        c.download(api.poll_url, tmp_path / "export.json")
    assert (tmp_path / "export.json").read_bytes() == api.export_json
    assert api.calls("GET", "/exports/e-1/file")[0].headers["Accept-Encoding"] == "identity"


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_cut_body_restarts_from_the_poll_url(api, client, expected, tmp_path, caplog, chunked):
    caplog.set_level(logging.INFO, logger="apsis_export.fetch")
    api.poll_answers.append(Answer(cut_after=30_000, chunked=chunked))
    fetch_and_convert(client, api.poll_url, tmp_path / "out", save=tmp_path / "export.json.gz")
    assert read_tables(tmp_path / "out") == expected
    assert (tmp_path / "export.json.gz").read_bytes() == api.export_gzip
    assert any("download cut" in r.getMessage() and "restarting" in r.getMessage() for r in caplog.records)
    assert len(api.calls("GET", "/exports/e-1/file")) == 2


def test_read_while_downloading_hands_the_body_to_any_reader_and_again_after_a_cut(api, client):
    api.poll_answers.append(Answer(cut_after=30_000))
    api.export_answer = Answer(chunked=False)  # with a Content-Length: the source's size
    sources = []

    def read_all(source) -> bytes:
        sources.append(source)
        with source:
            return b"".join(iter(lambda: source.read(1 << 16), b""))

    assert client.read_while_downloading(api.poll_url, read_all) == api.export_json  # gzip undone
    assert len(api.calls("GET", "/exports/e-1/file")) == 2
    assert sources[-1].name == api.poll_url and sources[-1].total_bytes == len(api.export_gzip)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_body_cut_every_time_leaves_nothing(api, client, tmp_path, chunked):
    api.export_answer = Answer(cut_after=30_000, chunked=chunked)
    with pytest.raises(DownloadError, match="gave up after 3 attempts; nothing was kept"):
        fetch_and_convert(client, api.poll_url, tmp_path / "out", save=tmp_path / "export.json.gz")
    assert all_files(tmp_path) == []


def test_a_body_cut_every_time_saves_nothing(api, client, tmp_path):
    api.export_answer = Answer(cut_after=1000, chunked=False)
    with pytest.raises(DownloadError, match="download cut"):
        client.download(api.poll_url, tmp_path / "export.json.gz")
    assert os.listdir(tmp_path) == []


def test_a_slow_body_is_not_a_cut(api, client, expected, tmp_path):
    api.export_answer = Answer(chunk=8192, delay=0.03)
    fetch_and_convert(client, api.poll_url, tmp_path / "out")
    assert read_tables(tmp_path / "out") == expected
    assert len(api.calls("GET", "/exports/e-1/file")) == 1


def test_a_stalled_body_counts_as_cut(api, expected, tmp_path):
    api.poll_answers.append(Answer(chunk=8192, delay=1.0))
    settings = HttpSettings(poll_interval=0.01, max_poll_interval=0.04, read_timeout=0.3)
    with Client(api.url, client_id="a", client_secret="b", settings=settings) as c:
        fetch_and_convert(c, api.poll_url, tmp_path / "out")
    assert read_tables(tmp_path / "out") == expected
    assert len(api.calls("GET", "/exports/e-1/file")) == 2


def test_a_truncated_gzip_file_is_not_saved(api, client, tmp_path):
    api.export_answer = Answer(
        body=api.export_gzip[:-100], headers={"Content-Encoding": "gzip"}, chunked=False
    )
    with pytest.raises(apsis_export.InputError, match="gzip stream is not complete"):
        client.download(api.poll_url, tmp_path / "export.json.gz")
    assert os.listdir(tmp_path) == []


def test_download_memory_does_not_grow_with_the_body(api, tmp_path):
    api.export_json = b'{"profiles": {}}' + b" " * (24 << 20)
    api.export_answer = Answer(chunk=1 << 16)
    settings = HttpSettings(poll_interval=0.01, max_poll_interval=0.04, gzip=False)
    with Client(api.url, client_id="a", client_secret="b", settings=settings) as c:
        tracemalloc.start()
        try:
            c.download(api.poll_url, tmp_path / "big.json")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert (tmp_path / "big.json").stat().st_size == len(api.export_json)
    assert peak < 6 << 20  # a 24 MiB body, a few MiB at most in memory


def test_an_unwritable_save_path_fails_without_restarting(api, client, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(apsis_export.SinkError, match="cannot write"):
        client.download(api.poll_url, tmp_path / "file" / "export.json.gz")
    assert len(api.calls("GET", "/exports/e-1/file")) == 1


def test_save_creates_missing_directories(api, client, tmp_path):
    assert client.download(api.poll_url, tmp_path / "a" / "b.json.gz").read_bytes() == api.export_gzip


# ---- metadata --------------------------------------------------------------------------


def test_metadata_calls_list_items(api, client):
    assert client.sections()[0]["discriminator"] == "com.apsis1.sections.default"
    assert client.attributes("com.apsis1.sections.default")[0]["versions"][0]["id"] == "10462"
    assert client.tags("s/1")[0]["discriminator"] == "tags.one"
    assert client.events("s")[0]["discriminator"] == "events.one"
    paths = [s.path for s in api.seen if s.method == "GET"]
    assert paths == [
        "/audience/sections",
        "/audience/sections/com.apsis1.sections.default/attributes",
        "/audience/sections/s%2F1/tags",
        "/audience/sections/s/events",
    ]


# ---- the command -----------------------------------------------------------------------


@pytest.mark.slow
def test_cli_fetch_gives_the_same_tables_as_convert(api, expected, tmp_path):
    api.poll_answers.extend([Answer(404), Answer(404)])
    env = {**os.environ, "APSIS_CLIENT_ID": "cid", "APSIS_CLIENT_SECRET": SECRET}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "apsis_export",
            "fetch",
            "--base-url",
            api.url,
            *FAST_CLI,
            "--attribute",
            "10462",
            "--tag",
            "t1",
            "--to",
            "parquet",
            "--out",
            str(tmp_path / "out"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert read_tables(tmp_path / "out") == expected
    assert "apsis-export: export requested; poll URL http://127.0.0.1" in run.stderr
    assert "apsis-export: export not ready (HTTP 404); waited" in run.stderr
    assert "22 profiles" in run.stderr
    assert SECRET not in run.stdout + run.stderr


@pytest.mark.parametrize(
    "setup, code, message",
    [
        (lambda api: setattr(api, "authorize", False), 3, "not authorized even with a new token"),
        (lambda api: api.poll_answers.extend([Answer(500)] * 10), 4, "failed 4 times in a row"),
        (lambda api: api.poll_answers.append(Answer(410)), 5, "export gone or invalid"),
        (
            lambda api: api.poll_answers.append(Answer(503)),
            6,
            "export failed on the server; request a new one",
        ),
        (lambda api: api.poll_answers.extend([Answer(404)] * 1000), 7, "still not ready after"),
        (lambda api: setattr(api, "export_answer", Answer(cut_after=30_000)), 8, "download cut"),
    ],
    ids=["auth", "api", "gone", "failed", "max-wait", "cut"],
)
def test_cli_faults_end_in_their_exit_codes(api, tmp_path, setup, code, message):
    setup(api)
    result = cli(
        api,
        "--attribute",
        "1",
        "--max-wait",
        "0.3",
        "--out",
        str(tmp_path / "out"),
        "--save",
        str(tmp_path / "x.gz"),
        "--debug",
    )
    assert result.exit_code == code, result.output
    assert "apsis-export: error: " in result.stderr and message in result.stderr
    assert SECRET not in result.output
    assert all_files(tmp_path) == []


def test_cli_validates_before_sending(api, tmp_path):
    result = cli(api, "--event", "e1", "--attribute", "1", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "apsis-export: error: start_at is required when events are asked" in result.stderr
    assert api.seen == []


def test_cli_end_at_defaults_to_a_week_after_start_at(api, tmp_path):
    result = cli(
        api, "--event", "e1", "--tag", "t", "--start-at", "2024-05-01", "--save", str(tmp_path / "x.gz")
    )
    assert result.exit_code == 0, result.stderr
    body = orjson.loads(api.calls("POST", "/audience/profiles/exports")[0].body)
    assert (body["start_at"], body["end_at"]) == ("2024-05-01T00:00:00Z", "2024-05-08T00:00:00Z")


def test_cli_save_only_keeps_the_gzip_file(api, tmp_path):
    result = cli(api, "--attribute", "1", "--save", str(tmp_path / "export.json.gz"))
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "export.json.gz").read_bytes() == api.export_gzip
    assert f"apsis-export: saved {tmp_path / 'export.json.gz'}" in result.stderr


def test_cli_poll_url_skips_the_request(api, tmp_path, expected):
    result = cli(api, "--poll-url", api.poll_url, "--out", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    assert read_tables(tmp_path / "out") == expected
    assert api.calls("POST", "/audience/profiles/exports") == []


def test_cli_body_json_is_sent_as_is(api, tmp_path):
    body = b'{"attributes": ["1"], "tags": ["t"], "topics": {"state": "any"}}\n'
    (tmp_path / "body.json").write_bytes(body)
    result = cli(api, "--body-json", str(tmp_path / "body.json"), "--save", str(tmp_path / "x.gz"))
    assert result.exit_code == 0, result.stderr
    assert api.calls("POST", "/audience/profiles/exports")[0].body == body


def test_cli_quiet_prints_nothing_on_success(api, tmp_path):
    result = cli(api, "--attribute", "1", "--out", str(tmp_path / "out"), "--quiet")
    assert result.exit_code == 0 and result.stderr == "" and result.stdout == ""


@pytest.mark.parametrize(
    "args, message",
    [
        (["--attribute", "1"], "give --out DIR to convert, --save FILE"),
        (["--attribute", "1", "--save", "x.gz", "--to", "csv"], "--to needs --out"),
        (
            ["--poll-url", "http://127.0.0.1:9/x", "--attribute", "1", "--save", "x.gz"],
            "--attribute cannot go with --poll-url",
        ),
        (["--body-json", "-", "--tag", "t", "--save", "x.gz"], "--tag cannot go with --body-json"),
        (["--body-json", "-", "--client-secret-file", "-", "--save", "x.gz"], "cannot both read stdin"),
        (
            ["--attribute", "1", "--save", "x.gz", "--poll-interval", "5", "--max-poll-interval", "1"],
            "max_poll_interval must be at least poll_interval",
        ),
    ],
)
def test_cli_usage_errors(api, args, message):
    result = cli(api, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert api.seen == []


def test_cli_needs_credentials(api):
    result = CliRunner().invoke(
        main,
        ["fetch", "--base-url", api.url, "--attribute", "1", "--save", "x"],
        env={"APSIS_CLIENT_ID": None, "APSIS_CLIENT_SECRET": None},
    )
    assert result.exit_code == 2 and "no client ID" in result.stderr


def test_convert_still_requires_out():
    result = CliRunner().invoke(main, ["convert", str(SAMPLE / "small.json.gz")])
    assert result.exit_code == 2 and "--out" in result.stderr


# ---- wide layout and split events ------------------------------------------------------


def test_wide_columns_come_from_the_request_in_one_pass(api, tmp_path):
    doc = {
        "profiles": {
            "anna": {"sections": {"s1": {"attributes": {"10462": {"value": "a@x"}, "t1": {"value": None}}}}},
            "bob": {"sections": {"s1": {"attributes": {"10462": {"value": "b@x"}}}}},
        }
    }
    api.export_json = orjson.dumps(doc)
    api.export_gzip = gzip.compress(api.export_json)
    result = cli(
        api,
        "--attribute",
        "10462",
        "--attribute",
        "10470",
        "--tag",
        "t1",
        "--layout",
        "wide",
        "--to",
        "jsonl",
        "--out",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 0, result.output
    rows = [orjson.loads(line) for line in (tmp_path / "out" / "profiles.jsonl").read_bytes().splitlines()]
    assert rows == [
        {"profile_key": "anna", "section_id": "s1", "10462": "a@x", "10470": None, "t1": True},
        {"profile_key": "bob", "section_id": "s1", "10462": "b@x", "10470": None, "t1": False},
    ]
    assert [s.path for s in api.seen if s.method == "GET"].count(
        urllib.parse.urlsplit(api.poll_url).path
    ) == 1


def test_split_events_need_save_and_nothing_is_requested_without_it(api, tmp_path):
    result = cli(api, "--attribute", "10462", "--split-events", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2, result.output
    assert "need a first pass over the whole file" in result.stderr and "--save FILE" in result.stderr
    assert not [s for s in api.seen if s.method == "POST" and "exports" in s.path]
    assert all_files(tmp_path) == []


def test_split_events_convert_the_saved_file(api, tmp_path):
    result = cli(
        api,
        "--attribute",
        "10462",
        "--split-events",
        "--save",
        str(tmp_path / "e.json.gz"),
        "--out",
        str(tmp_path / "out"),
    )
    assert result.exit_code == 0, result.output
    apsis_export.convert(tmp_path / "e.json.gz", tmp_path / "direct", split_events=True)
    assert read_tables(tmp_path / "out") == read_tables(tmp_path / "direct")
    assert {"events_4381", "events_5012"} <= set(read_tables(tmp_path / "out"))


# ---- where credentials go: HTTPS, the API's origin ------------------------------------

OUTSIDE = "http://192.0.2.1"  # TEST-NET-1: not loopback, routes nowhere; nothing may even try it


@pytest.fixture
def storage():
    with FakeStorage() as server:
        yield server


def test_network_calls_sees_connects_and_lookups(api, client):
    # The refusal tests below assert that nothing was even tried: this shows the observer would have seen it.
    with network_calls() as calls:
        client.sections()
        socket.getaddrinfo("localhost", 9)
    assert ("socket.connect", ("127.0.0.1", int(api.url.rsplit(":", 1)[1]))) in calls
    assert ("socket.getaddrinfo", "localhost") in calls


@pytest.mark.parametrize("url", [OUTSIDE, "http://apsis.example.com", "http://[2001:db8::1]:8080"])
def test_a_plain_http_base_url_is_refused_before_any_request(url):
    with network_calls() as calls, pytest.raises(InsecureUrlError, match="refusing plain HTTP") as info:
        Client(url, client_id="a", client_secret=SECRET)
    assert calls == []
    assert url in str(info.value) and "use https://" in str(info.value) and "--allow-http" in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9",
        "http://127.8.9.10",
        "http://localhost:9",
        "http://[::1]:9",
        "https://api.example.com",
    ],
)
def test_https_and_loopback_are_allowed(url):
    assert Client(url, client_id="a", client_secret=SECRET).base_url == url


def test_allow_http_lifts_the_refusal_and_other_schemes_stay_refused():
    assert Client(OUTSIDE, client_id="a", client_secret=SECRET, allow_http=True).allow_http
    with pytest.raises(InsecureUrlError, match="must be an https:// URL"):
        Client("ftp://api.example.com", client_id="a", client_secret=SECRET)


def test_a_plain_http_poll_url_is_refused_before_any_request(api, client):
    with network_calls() as calls, pytest.raises(InsecureUrlError, match=f"poll URL {OUTSIDE}/e/1"):
        fetch_and_convert(client, f"{OUTSIDE}/e/1?sig=secret-part", "out")
    assert calls == [] and api.seen == []


def test_a_plain_http_poll_url_in_the_answer_is_refused_before_polling(api, client, tmp_path):
    api.request_body = {"file_download_url": f"{OUTSIDE}/e/1"}
    with network_calls() as calls, pytest.raises(InsecureUrlError, match="refusing plain HTTP"):
        client.download(client.request_export(ExportRequest(tags=["t"])), tmp_path / "x.gz")
    assert all(address[0] == "127.0.0.1" for event, address in calls if event == "socket.connect")
    assert [s.path for s in api.seen] == ["/oauth/token", "/audience/profiles/exports"]


def test_a_redirect_to_plain_http_is_refused_before_following_it(api, client, tmp_path):
    api.poll_answers.append(Answer(302, headers={"Location": f"{OUTSIDE}/bucket/x?sig=abc"}))
    with (
        network_calls() as calls,
        pytest.raises(InsecureUrlError, match=r"redirect from .* to http://192\.0\.2\.1/bucket/x") as info,
    ):
        client.download(api.poll_url, tmp_path / "x.gz")
    assert "sig=abc" not in str(info.value)  # a pre-signed URL's signature is a credential too
    assert not [a for e, a in calls if OUTSIDE[7:] in str(a)]
    assert all_files(tmp_path) == []


def test_a_poll_url_on_another_origin_is_fetched_without_the_token(api, client, storage, expected, tmp_path):
    storage.objects["e-1"] = api.export_gzip
    api.request_body = {"id": "e-1", "file_download_url": storage.url_for("e-1")}
    fetch_and_convert(client, ExportRequest(attributes=["1"]), tmp_path / "out", save=tmp_path / "e.json.gz")
    assert read_tables(tmp_path / "out") == expected
    (get,) = storage.seen
    assert "Authorization" not in get.headers
    assert api.calls("POST", "/audience/profiles/exports")[0].headers["Authorization"].startswith("Bearer ")


def test_a_location_on_another_origin_is_fetched_without_the_token(api, client, storage, tmp_path):
    storage.objects["e-1"] = api.export_gzip
    api.request_answers.append(
        Answer(202, headers={"Location": storage.url_for("e-1")}, body=b"{}", chunked=False)
    )
    client.download(client.request_export(ExportRequest(tags=["t"])), tmp_path / "e.json.gz")
    assert (tmp_path / "e.json.gz").read_bytes() == api.export_gzip
    assert ["Authorization" in s.headers for s in storage.seen] == [False]


def test_a_redirect_to_another_origin_drops_the_token(api, client, storage, tmp_path):
    storage.objects["e-1"] = api.export_gzip
    api.poll_answers.extend([Answer(404), Answer(307, headers={"Location": storage.url_for("e-1")})])
    client.download(api.poll_url, tmp_path / "e.json.gz")
    assert (tmp_path / "e.json.gz").read_bytes() == api.export_gzip
    polls = api.calls("GET", "/exports/e-1/file")
    assert len(polls) == 2 and all(p.headers["Authorization"].startswith("Bearer ") for p in polls)
    assert ["Authorization" in s.headers for s in storage.seen] == [False]


def test_another_port_is_another_origin(api, storage):
    # Same scheme and host, other port: the token stays home.
    storage.objects["x"] = api.export_gzip
    with Client(api.url, client_id="a", client_secret=SECRET, settings=FAST) as c:
        with c.wait(storage.url_for("x")) as body:
            assert body.read(-1) == api.export_gzip
    assert api.seen == []  # no token was even fetched for a URL it would not go to


def test_a_refusal_on_another_origin_says_no_token_was_sent(api, client, storage, tmp_path):
    storage.expired = True
    with pytest.raises(AuthError) as info:
        client.download(storage.url_for("e-1"), tmp_path / "e.json.gz")
    message = str(info.value)
    assert f"{storage.url} answered HTTP 403" in message and "Request has expired" in message
    assert "without the API token" in message and "pre-signed" in message and "X-Amz-Signature" not in message
    assert api.tokens_issued == 0 and len(storage.seen) == 1  # nothing to renew: no token went there
    assert all_files(tmp_path) == []


def test_the_token_request_follows_no_redirect(api, client, storage):
    api.token_answers.append(Answer(307, headers={"Location": storage.url + "/oauth/token"}))
    with pytest.raises(ApiError, match="HTTP 307"):
        client.sections()
    assert storage.seen == []  # the secret in the body went nowhere else


def test_redirects_are_bounded(api, client):
    api.poll_answers.extend([Answer(302, headers={"Location": api.poll_url})] * 10)
    with pytest.raises(ApiError, match="more than 5 redirects"):
        client.wait(api.poll_url)
    assert len(api.calls("GET", "/exports/e-1/file")) == 6


def test_cli_refuses_a_plain_http_base_url_without_connecting(tmp_path):
    with network_calls() as calls:
        result = CliRunner().invoke(
            main,
            ["fetch", "--base-url", OUTSIDE, "--attribute", "1", "--out", str(tmp_path)],
            env={"APSIS_CLIENT_ID": "a", "APSIS_CLIENT_SECRET": SECRET},
        )
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"apsis-export: error: refusing plain HTTP for the API base URL {OUTSIDE}: ")
    assert "use https://" in line and "--allow-http" in line
    assert calls == []


def test_cli_refuses_a_plain_http_poll_url_before_anything_is_sent(api, tmp_path):
    with network_calls() as calls:
        result = cli(api, "--poll-url", f"{OUTSIDE}/x", "--names", "--out", str(tmp_path / "out"))
    assert result.exit_code == 2 and f"refusing plain HTTP for --poll-url {OUTSIDE}/x" in result.stderr
    assert calls == [] and api.seen == []


def test_cli_allow_http_says_what_it_exposes():
    result = CliRunner().invoke(main, ["fetch", "--help"])
    help_text = " ".join(result.output.split())
    assert "--allow-http" in help_text and "unencrypted" in help_text and "personal data" in help_text


def test_cli_a_refusal_on_another_origin_exits_3(api, storage, tmp_path):
    storage.expired = True
    api.request_body = {"file_download_url": storage.url_for("e-1")}
    result = cli(api, "--attribute", "1", "--save", str(tmp_path / "e.gz"))
    assert result.exit_code == 3 and "without the API token" in result.stderr


# ---- server-chosen waits capped by --max-wait -----------------------------------------


def test_a_retry_after_longer_than_max_wait_fails_at_once(api):
    api.token_answers.append(Answer(429, headers={"Retry-After": "30"}))
    settings = HttpSettings(poll_interval=0.01, max_poll_interval=0.04, max_wait=0.5)
    start = time.monotonic()
    with Client(api.url, client_id="a", client_secret=SECRET, settings=settings) as c:
        with pytest.raises(ApiError, match="asks to wait 30 s, longer than the maximum wait"):
            c.sections()
    assert time.monotonic() - start < 10  # not the 30 s asked for
    assert len(api.calls("POST", "/oauth/token")) == 1


def test_a_long_retry_after_while_polling_stops_at_max_wait(api):
    api.poll_answers.append(Answer(429, headers={"Retry-After": formatdate(time.time() + 3600, usegmt=True)}))
    settings = HttpSettings(poll_interval=0.01, max_poll_interval=0.04, max_wait=0.3)
    start = time.monotonic()
    with Client(api.url, client_id="a", client_secret=SECRET, settings=settings) as c:
        with pytest.raises(WaitTimeoutError, match=r"the API asks to wait 3,[56]\d\d s more"):
            c.wait(api.poll_url)
    assert time.monotonic() - start < 10  # not the hour asked for
    assert len(api.calls("GET", "/exports/e-1/file")) == 1  # nor a poll before the time it asked for


# ---- the secret: file, stdin, provider; never shown -----------------------------------


def test_cli_secret_from_a_file_or_stdin(api, tmp_path):
    (tmp_path / "secret").write_text(SECRET + "\n")
    no_env = {"APSIS_CLIENT_SECRET": None}
    result = cli(
        api,
        "--client-secret-file",
        str(tmp_path / "secret"),
        "--attribute",
        "1",
        "--save",
        str(tmp_path / "a.gz"),
        env=no_env,
    )
    assert result.exit_code == 0, result.output
    result = CliRunner().invoke(
        main,
        [
            "fetch",
            "--base-url",
            api.url,
            *FAST_CLI,
            "--client-secret-file",
            "-",
            "--attribute",
            "1",
            "--save",
            str(tmp_path / "b.gz"),
        ],
        input=SECRET + "\n",
        env={"APSIS_CLIENT_ID": "cid", "APSIS_CLIENT_SECRET": None},
    )
    assert result.exit_code == 0, result.output
    bodies = [orjson.loads(s.body) for s in api.calls("POST", "/oauth/token")]
    assert [b["client_secret"] for b in bodies] == [SECRET, SECRET]
    assert "warning" not in result.stderr


def test_cli_secret_file_from_the_environment_and_an_empty_one(api, tmp_path):
    (tmp_path / "secret").write_text(SECRET)
    (tmp_path / "empty").write_text("\n")
    result = cli(
        api,
        "--attribute",
        "1",
        "--save",
        str(tmp_path / "a.gz"),
        env={"APSIS_CLIENT_SECRET": None, "APSIS_CLIENT_SECRET_FILE": str(tmp_path / "secret")},
    )
    assert result.exit_code == 0, result.output
    result = cli(api, "--client-secret-file", str(tmp_path / "empty"), "--attribute", "1", "--save", "x")
    assert result.exit_code == 2 and "no client secret in" in result.stderr
    assert len(api.seen) == 3  # token, request, poll of the first run only


def test_cli_secret_on_the_command_line_works_with_a_warning(api, tmp_path):
    result = cli(
        api,
        "--client-secret",
        SECRET,
        "--attribute",
        "1",
        "--save",
        str(tmp_path / "a.gz"),
        env={"APSIS_CLIENT_SECRET": None},
    )
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "visible to other users" in warnings[0] and SECRET not in warnings[0]
    assert orjson.loads(api.calls("POST", "/oauth/token")[0].body)["client_secret"] == SECRET


def test_cli_secret_twice_on_the_command_line_is_a_usage_error(api, tmp_path):
    (tmp_path / "secret").write_text(SECRET)
    result = cli(
        api,
        "--client-secret",
        "x",
        "--client-secret-file",
        str(tmp_path / "secret"),
        "--attribute",
        "1",
        "--save",
        "x",
    )
    assert result.exit_code == 2 and "not both" in result.stderr and api.seen == []


def test_a_secret_provider_is_asked_at_each_token_request(api):
    asked = []

    def provider() -> str:
        asked.append(1)
        return SECRET

    with Client(api.url, client_id="cid", client_secret=provider, settings=FAST) as c:
        c.sections()
        api.revoke_tokens()
        c.sections()
        assert SECRET not in repr(c) and SECRET not in repr(vars(c))
    assert len(asked) == 2 == api.tokens_issued
    assert all(orjson.loads(s.body)["client_secret"] == SECRET for s in api.calls("POST", "/oauth/token"))
    with Client(api.url, client_id="cid", client_secret=lambda: "", settings=FAST) as c:
        with pytest.raises(AuthError, match="provider returned no secret"):
            c.sections()


def test_tokens_never_show_in_reprs(api, client):
    client.sections()
    assert api.issued and not any(t in repr(client) or t in repr(vars(client)) for t in api.issued)


def test_an_error_body_echoing_credentials_is_masked(api, client):
    api.echo_credentials = True
    api.token_answers.append(Answer(401))
    with pytest.raises(AuthError, match="echo") as info:
        client.sections()
    assert SECRET not in str(info.value) and "********" in str(info.value)
    api.poll_answers.append(Answer(400))
    with pytest.raises(ApiError, match="echo") as info:
        client.wait(api.poll_url)
    assert (
        api.issued
        and not any(t in str(info.value) for t in api.issued)
        and "Bearer ********" in str(info.value)
    )
    assert not any(t[:40] in str(info.value) for t in api.issued)  # nor a first part cut off by the summary


def _run_debug(api, *args):
    env = {**os.environ, "APSIS_CLIENT_ID": "cid", "APSIS_CLIENT_SECRET": SECRET}
    run = subprocess.run(
        [sys.executable, "-m", "apsis_export", "fetch", "--base-url", api.url, *FAST_CLI, "--debug", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return run.returncode, run.stdout + run.stderr


@pytest.mark.slow
def test_debug_output_of_failing_and_succeeding_runs_holds_no_secret_or_token(api, storage, tmp_path):
    api.echo_credentials = True
    outputs = []
    api.token_answers.append(Answer(401))  # the server echoes the secret it got
    outputs.append(_run_debug(api, "--attribute", "1", "--save", str(tmp_path / "a.gz")))
    api.poll_answers.append(Answer(400))  # the server echoes the token it got
    outputs.append(_run_debug(api, "--attribute", "1", "--out", str(tmp_path / "b")))
    storage.expired = True
    outputs.append(_run_debug(api, "--poll-url", storage.url_for("e-1"), "--save", str(tmp_path / "c.gz")))
    outputs.append(
        _run_debug(
            api, "--attribute", "1", "--names", "--out", str(tmp_path / "d"), "--save", str(tmp_path / "d.gz")
        )
    )
    assert [code for code, _ in outputs] == [3, 4, 3, 0], outputs
    assert all("Traceback" in text for _, text in outputs[:3])  # --debug really showed the tracebacks
    assert len(api.issued) >= 2
    for _, text in outputs:
        assert SECRET not in text
        assert not any(token in text for token in api.issued)
        assert not any(token.split(".")[1] in text for token in api.issued)  # nor its payload alone


# ---- saved exports are private ---------------------------------------------------------


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_saved_export_and_its_part_are_owner_only(api, client, tmp_path):
    part_modes = []

    def progress(_):
        part_modes.extend(mode_of(p) for p in tmp_path.glob("*.part"))

    api.export_answer = Answer(chunk=4096)
    with umask(0o022):  # the usual umask: files world-readable unless created otherwise
        fetch_and_convert(
            client, api.poll_url, tmp_path / "out", save=tmp_path / "e.json.gz", progress=progress
        )
        client.download(api.poll_url, tmp_path / "f.json.gz")
    assert part_modes and set(part_modes) == {0o600}
    assert mode_of(tmp_path / "e.json.gz") == 0o600 and mode_of(tmp_path / "f.json.gz") == 0o600


def test_a_stale_part_file_does_not_lend_its_permissions(api, client, tmp_path):
    (tmp_path / "e.json.gz.part").write_bytes(b"old")
    os.chmod(tmp_path / "e.json.gz.part", 0o666)  # noqa: S103 (the loose mode under test)
    client.download(api.poll_url, tmp_path / "e.json.gz")
    assert mode_of(tmp_path / "e.json.gz") == 0o600 and all_files(tmp_path) == ["e.json.gz"]


def test_save_mode_widens_only_when_asked(api, client, tmp_path):
    with umask(0o077):  # an explicit mode is applied as given
        client.download(api.poll_url, tmp_path / "e.json.gz", mode=0o640)
    assert mode_of(tmp_path / "e.json.gz") == 0o640
    result = cli(api, "--attribute", "1", "--save", str(tmp_path / "c.json.gz"), "--save-mode", "0644")
    assert result.exit_code == 0 and mode_of(tmp_path / "c.json.gz") == 0o644


@pytest.mark.parametrize(
    "args, message",
    [
        (["--save", "x.gz", "--save-mode", "999"], "not octal permission bits"),
        (["--out", "o", "--save-mode", "600"], "--save-mode needs --save"),
    ],
)
def test_cli_save_mode_usage_errors(api, args, message):
    result = cli(api, "--attribute", "1", *args)
    assert result.exit_code == 2 and message in result.stderr and api.seen == []


def test_cli_saved_export_is_owner_only(api, tmp_path):
    with umask(0o022):
        result = cli(
            api, "--attribute", "1", "--save", str(tmp_path / "e.json.gz"), "--out", str(tmp_path / "out")
        )
    assert result.exit_code == 0, result.output
    assert mode_of(tmp_path / "e.json.gz") == 0o600


# ---- over TLS: the default path, with a throwaway CA -----------------------------------


@pytest.fixture(scope="module")
def ca():
    import trustme  # a test dependency ([test] extra): a missing one fails loudly, never skips

    return trustme.CA()


@pytest.fixture
def tls_api(ca):
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with FakeApsis(tls=context) as server:
        yield server


def test_an_https_api_with_a_trusted_certificate(tls_api, ca, storage, expected, tmp_path, monkeypatch):
    with ca.cert_pem.tempfile() as ca_file:
        monkeypatch.setenv("SSL_CERT_FILE", ca_file)  # as a user behind a TLS-inspecting proxy would
        storage.objects["e-1"] = tls_api.export_gzip
        tls_api.poll_answers.append(
            Answer(302, headers={"Location": storage.url_for("e-1")})
        )  # https -> loopback http
        with Client(tls_api.url, client_id="cid", client_secret=SECRET, settings=FAST) as c:
            assert c.base_url.startswith("https://127.0.0.1:")
            fetch_and_convert(c, ExportRequest(attributes=["1"]), tmp_path / "out")
    assert read_tables(tmp_path / "out") == expected
    assert orjson.loads(tls_api.calls("POST", "/oauth/token")[0].body)["client_secret"] == SECRET
    assert tls_api.calls("GET", "/exports/e-1/file")[0].headers["Authorization"].startswith("Bearer ")
    assert ["Authorization" in s.headers for s in storage.seen] == [False]


def test_an_untrusted_certificate_gets_no_credentials(tls_api, tmp_path, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-ca.pem"))
    monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
    with Client(tls_api.url, client_id="cid", client_secret=SECRET, settings=FAST) as c:
        with pytest.raises(ApiError, match=r"the token request failed: .*certificate verify failed") as info:
            c.sections()
    assert SECRET not in str(info.value)
    assert tls_api.seen == []  # the handshake failed: no request, no secret, reached the server
