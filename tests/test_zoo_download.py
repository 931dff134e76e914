"""Installing from a URL or the Hub, against servers that misbehave: every download is
bounded in size and time, and a failed, stopped or killed one leaves nothing behind.

The servers run on the loopback address in this process. Limits are small (a few MB, a
few seconds) so each test takes seconds; no test asserts how fast anything ran, only
generous upper bounds that show a limit was what stopped it.
"""

import http.server
import signal
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from rag_dialogue import zoo
from rag_dialogue.zoo import DownloadLimits
from test_zoo import assert_installed, fill_hub_cache, make_model

MB = 10**6
FAST = DownloadLimits(max_bytes=1 * MB, timeout=3.0, min_rate=1000, window=1.0)


# ---------------------------------------------------------------- the server


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET /KIND/...: what the reply does wrong is chosen by KIND."""

    protocol_version = "HTTP/1.0"  # the body ends when the connection closes
    archive: bytes = b""

    def log_message(self, *args):
        pass

    def _head(self, length=None, keep_open=False):
        self.send_response(200)
        self.send_header("Content-Type", "application/gzip")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.flush()

    def do_GET(self):
        kind, data = self.path.split("/")[1], self.archive
        try:
            if kind == "good":
                self._head(len(data))
                self.wfile.write(data)
            elif kind == "endless":  # zeros for ever, no length
                self._head()
                while True:
                    self.wfile.write(b"\0" * (1 << 16))
            elif kind == "declares-huge":  # a length over the limit, then zeros for ever
                self._head(40 * 10**9)
                while True:
                    self.wfile.write(b"\0" * (1 << 16))
            elif kind == "longer":  # the archive, then zeros for ever, under the archive's length
                self._head(len(data))
                self.wfile.write(data)
                while True:
                    self.wfile.write(b"\0" * (1 << 16))
            elif kind == "shorter":  # declares more than it sends, then closes
                self._head(len(data) + 1000)
                self.wfile.write(data)
            elif kind == "drop":  # half the archive, then the connection is cut
                self._head(len(data))
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.connection.shutdown(2)
            elif kind == "drop-unknown":  # the same, with no length to notice it by
                self._head()
                self.wfile.write(data[: len(data) // 2])
            elif kind == "trickle":  # a byte every 0.2 s: each read succeeds, for ever
                self._head()
                while True:
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.2)
            elif kind == "slow":  # 100 KB/s for ever: above the minimum rate
                self._head()
                while True:
                    self.wfile.write(b"\0" * 10_000)
                    self.wfile.flush()
                    time.sleep(0.1)
            elif kind == "slow-headers":  # a header line, one byte every 0.2 s, for ever
                self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
                while True:
                    self.wfile.write(b"a")
                    self.wfile.flush()
                    time.sleep(0.2)
            elif kind == "redirect-endless":  # a redirect whose own body never ends
                self.send_response(302)
                self.send_header("Location", "/good/tiny-rag.tar.gz")
                self.end_headers()
                while True:
                    self.wfile.write(b"\0" * (1 << 16))
            elif kind == "redirect-ftp":
                self.send_response(302)
                self.send_header("Location", "ftp://127.0.0.1/tiny-rag.tar.gz")
                self.end_headers()
            elif kind == "keep-open":  # the exact body, then the connection is held open
                self._head(len(data))
                self.wfile.write(data)
                self.wfile.flush()
                time.sleep(8)
            else:
                self.send_error(404)
        except (BrokenPipeError, ConnectionResetError):
            pass


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoo_download")
    mf = make_model(root / "src")
    return SimpleNamespace(path=zoo.pack(mf, root / "tiny-rag.tar.gz"), model=mf)


@pytest.fixture
def server(archive, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    handler = type("Handler", (_Handler,), {"archive": archive.path.read_bytes()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def assert_nothing_left(dest: Path):
    """No partial file, download folder or lock, under the target or beside it."""
    assert not dest.exists() or not list(dest.iterdir()), list(dest.iterdir())
    assert not (dest.parent / f".{dest.name}.lock").exists()


def refused(url, dest, limits=FAST, match=None):
    """Install `url`, expecting a refusal; return the error and the seconds it took."""
    start = time.monotonic()
    with pytest.raises(ValueError, match=match) as err:
        zoo.install(url, dest=dest, limits=limits)
    took = time.monotonic() - start
    assert url in str(err.value)
    assert_nothing_left(dest)
    return str(err.value), took


# ---------------------------------------------------------------- size


def test_good_archive_installs_within_the_limits(archive, server, tmp_path):
    mf = zoo.install(f"{server}/good/tiny-rag.tar.gz", dest=tmp_path / "zoo", limits=FAST)
    assert_installed(mf, archive.model, tmp_path / "zoo")
    assert [p.name for p in (tmp_path / "zoo").iterdir()] == ["tiny-rag"]


def test_endless_body_is_refused_at_the_size_limit(server, tmp_path):
    err, took = refused(f"{server}/endless/x.tar.gz", tmp_path / "zoo",
                        match="over the --max-download limit of 1 MB")
    assert "refused after 1,000,000 bytes" in err
    assert took < 30


def test_declared_length_over_the_limit_is_refused_before_the_body(server, tmp_path):
    err, _ = refused(f"{server}/declares-huge/x.tar.gz", tmp_path / "zoo",
                     match="declares 40,000,000,000 bytes")
    assert "refused before reading it" in err


def test_body_longer_than_its_declared_length_is_refused(server, tmp_path):
    limits = DownloadLimits(max_bytes=50 * MB, timeout=10, min_rate=1000, window=1)
    refused(f"{server}/longer/x.tar.gz", tmp_path / "zoo", limits,
            match="sent more than the .* bytes its Content-Length declares; refused at the "
                  "first byte over")


def test_body_shorter_than_its_declared_length_is_refused(archive, server, tmp_path):
    size = archive.path.stat().st_size
    refused(f"{server}/shorter/x.tar.gz", tmp_path / "zoo",
            match=f"stopped at {size:,} of the {size + 1000:,} bytes")


def test_connection_dropped_half_way_is_refused(archive, server, tmp_path):
    refused(f"{server}/drop/x.tar.gz", tmp_path / "zoo", match="stopped at|download failed")
    # with no length declared, the cut archive itself is refused
    refused(f"{server}/drop-unknown/x.tar.gz", tmp_path / "zoo",
            match="not a readable tar archive")


def test_redirect_is_followed_without_reading_its_body(archive, server, tmp_path):
    mf = zoo.install(f"{server}/redirect-endless/x", dest=tmp_path / "zoo", limits=FAST)
    assert_installed(mf, archive.model, tmp_path / "zoo")
    refused(f"{server}/redirect-ftp/x", tmp_path / "zoo2", match="unknown url type: ftp")


def test_server_keeping_the_connection_open_after_its_body_is_accepted(archive, server, tmp_path):
    mf = zoo.install(f"{server}/keep-open/tiny-rag.tar.gz", dest=tmp_path / "zoo", limits=FAST)
    assert_installed(mf, archive.model, tmp_path / "zoo")


def test_free_disk_space_is_checked_before_writing(server, tmp_path, monkeypatch):
    monkeypatch.setattr(zoo.shutil, "disk_usage", lambda path: SimpleNamespace(free=1000))
    err, _ = refused(f"{server}/good/x.tar.gz", tmp_path / "zoo",
                     match="needs .* of free disk space in")
    assert "which has 1 KB" in err


# ---------------------------------------------------------------- time


def test_trickle_is_refused_by_the_minimum_rate(server, tmp_path):
    limits = DownloadLimits(max_bytes=MB, timeout=60, min_rate=1000, window=1)
    err, took = refused(f"{server}/trickle/x.tar.gz", tmp_path / "zoo", limits,
                        match="under the --min-download-rate of 1 KB/s")
    assert took < 30  # the 60 s deadline was not what stopped it


def test_slow_but_steady_server_is_refused_at_the_deadline(server, tmp_path):
    limits = DownloadLimits(max_bytes=50 * MB, timeout=2, min_rate=1000, window=1)
    err, took = refused(f"{server}/slow/x.tar.gz", tmp_path / "zoo", limits,
                        match="over the --download-timeout of 2 s")
    assert took < 30


def test_headers_sent_a_byte_at_a_time_are_refused_at_the_deadline(server, tmp_path):
    limits = DownloadLimits(max_bytes=MB, timeout=2, min_rate=0, window=1)
    _, took = refused(f"{server}/slow-headers/x.tar.gz", tmp_path / "zoo", limits,
                      match="over the --download-timeout of 2 s")
    assert took < 30


# ---------------------------------------------------------------- stopped and killed


def _cli(*args) -> list:
    return [sys.executable, "-c", "import sys; from rag_dialogue.cli import main; "
            "sys.exit(main(sys.argv[1:]))", *args]


def _start_download(url, dest) -> tuple:
    """An install in a child process, once its partial file has some data in it."""
    proc = subprocess.Popen(_cli("zoo", "install", url, "--dest", str(dest)),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        partial = list(dest.glob(".zoo-download-*/archive"))
        if partial and partial[0].stat().st_size > 100_000:
            return proc, partial[0]
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"the download never started: {proc.communicate()[1].decode()[-2000:]}")


def test_killed_download_is_removed_by_the_next_install(archive, server, tmp_path):
    dest = tmp_path / "zoo"
    proc, partial = _start_download(f"{server}/slow/x.tar.gz", dest)
    assert partial.parent.name.startswith(f".zoo-download-{proc.pid}-")
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert partial.is_file()  # what a kill leaves

    mf = zoo.install(f"{server}/good/tiny-rag.tar.gz", dest=dest, limits=FAST)
    assert not partial.exists() and not partial.parent.exists()
    assert_installed(mf, archive.model, dest)
    assert [p.name for p in dest.iterdir()] == ["tiny-rag"]


def test_sigterm_removes_the_partial_download(server, tmp_path):
    dest = tmp_path / "zoo"
    proc, partial = _start_download(f"{server}/slow/x.tar.gz", dest)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 128 + signal.SIGTERM
    assert_nothing_left(dest)


def test_installs_into_one_destination_take_turns(archive, server, tmp_path):
    from rag_dialogue.retrieval.build import BuildLock

    dest = tmp_path / "zoo"
    done = []
    worker = threading.Thread(target=lambda: done.append(zoo.install(
        f"{server}/good/tiny-rag.tar.gz", dest=dest, limits=FAST)))
    with BuildLock(dest):  # as another install holds it
        worker.start()
        worker.join(timeout=2)
        assert worker.is_alive() and not done
        assert not dest.exists()
    worker.join(timeout=60)
    assert done and done[0] == dest / "tiny-rag" / "model"


# ---------------------------------------------------------------- the Hub


class _FakeHub:
    """HfApi and snapshot_download for one repo: what was listed, and what was asked for."""

    def __init__(self, files: dict, cache: Path, sizes=None):
        self.files, self.cache, self.sizes = files, cache, sizes or {}
        self.fetched = None

    def api(self):
        hub = self

        class Api:
            def model_info(self, repo_id, files_metadata=False):
                assert files_metadata
                return SimpleNamespace(sha="0" * 40, siblings=[
                    SimpleNamespace(rfilename=name, size=hub.sizes.get(name, len(data)))
                    for name, data in hub.files.items()])
        return Api

    def snapshot_download(self, repo_id, revision=None, allow_patterns=None, **kwargs):
        import fnmatch

        self.fetched = dict(revision=revision, allow_patterns=allow_patterns)
        wanted = {name: data for name, data in self.files.items()
                  if any(fnmatch.fnmatch(name, p) for p in allow_patterns)}
        staged = self.cache.parent / "staged"
        for name, data in wanted.items():
            (staged / name).parent.mkdir(parents=True, exist_ok=True)
            (staged / name).write_bytes(data)
        return str(fill_hub_cache(self.cache, repo_id, staged))


@pytest.fixture
def hub(archive, tmp_path, monkeypatch):
    import huggingface_hub
    import huggingface_hub.constants as constants

    with tarfile.open(archive.path) as tar:
        files = {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}
    files["pytorch_model.bin"] = b"pickle" * 1000  # in the repo, but not for a zoo install
    files["index/extra.BIN"] = b"pickle" * 1000
    fake = _FakeHub(files, tmp_path / "hf" / "hub")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(fake.cache))
    monkeypatch.setattr(huggingface_hub, "HfApi", fake.api())
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
    return fake


def test_hub_repo_fetches_only_what_an_archive_may_hold(archive, hub, tmp_path):
    mf = zoo.install("zoo-owner/tiny-rag", dest=tmp_path / "zoo", limits=FAST)
    assert_installed(mf, archive.model, tmp_path / "zoo")
    assert hub.fetched["revision"] == "0" * 40  # the listed revision, not whatever main is now
    patterns = hub.fetched["allow_patterns"]
    assert "card.json" in patterns and "model.safetensors" in patterns
    assert not [p for p in patterns if "bin" in p.lower()]


def test_hub_repo_over_the_limit_is_refused_before_fetching(hub, tmp_path):
    hub.sizes["index/index.faiss"] = 5 * MB
    with pytest.raises(ValueError, match=r"zoo-owner/tiny-rag: its \d+ files come to .* over "
                                         "the --max-download limit of 1 MB; nothing was fetched"):
        zoo.install("zoo-owner/tiny-rag", dest=tmp_path / "zoo", limits=FAST)
    assert hub.fetched is None
    assert_nothing_left(tmp_path / "zoo")


def test_hub_repo_without_sizes_is_refused(hub, tmp_path):
    hub.sizes["model.safetensors"] = None
    with pytest.raises(ValueError, match="the Hub gives no size for model.safetensors"):
        zoo.install("zoo-owner/tiny-rag", dest=tmp_path / "zoo", limits=FAST)
    assert hub.fetched is None


# ---------------------------------------------------------------- options


@pytest.mark.parametrize("text, size", [("50MB", 50 * MB), ("40GB", 40 * 10**9), ("1.5kb", 1500),
                                        ("1GiB", 1 << 30), ("512", 512), ("2 mib", 2 << 20)])
def test_sizes_parse(text, size):
    assert zoo.parse_size(text) == size


@pytest.mark.parametrize("text, seconds", [("90", 90), ("3s", 3), ("30m", 1800), ("6h", 21600)])
def test_durations_parse(text, seconds):
    assert zoo.parse_duration(text) == seconds


def test_bad_option_values_are_usage_errors(capsys):
    from rag_dialogue.cli import main

    with pytest.raises(SystemExit) as exit_:
        main(["zoo", "install", "x", "--max-download", "lots"])
    assert exit_.value.code == 2
    assert "argument --max-download: 'lots': not a size" in capsys.readouterr().err
