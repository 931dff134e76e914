"""Index builds and retrieval on a local Ray (2 CPUs) started and shut down by this module."""

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'rag-dialogue[ray]'")

from rag_dialogue.retrieval.build import build_index  # noqa: E402
from rag_dialogue.retrieval.encoder import TextEncoder  # noqa: E402
from rag_dialogue.retrieval.index import DenseIndex  # noqa: E402
from rag_dialogue.retrieval.passages import document_text  # noqa: E402
from rag_dialogue.retrieval.remote import RayRetriever  # noqa: E402
from rag_dialogue.retrieval.retriever import PASSAGES_FILE, Retriever  # noqa: E402

QUERIES = ["a temple in Cambodia", "Tolstoy's novel", "an instrument with bellows",
           "Greek philosophy", "the capital of a country", "a river in Africa"]


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, namespace="rag_dialogue")
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def builds(local_ray, passages_file, tiny_encoder_dir, tmp_path_factory):
    """The same passages built in this process and on Ray with 2 encoder workers."""
    root = tmp_path_factory.mktemp("ray_builds")
    kwargs = dict(encoder_name_or_path=str(tiny_encoder_dir), shard_size=16, batch_size=4,
                  show_progress=False)
    single = build_index(passages_file, root / "single", **kwargs)
    on_ray = build_index(passages_file, root / "ray", ray=True, num_workers=2, **kwargs)
    return single, on_ray


def test_ray_build_equals_the_single_process_build(builds, tiny_encoder_dir):
    single, on_ray = builds
    assert (single / PASSAGES_FILE).read_bytes() == (on_ray / PASSAGES_FILE).read_bytes()
    a, b = DenseIndex.load(single), DenseIndex.load(on_ray)
    rows = np.arange(a.meta["count"])
    assert np.array_equal(a.reconstruct(rows), b.reconstruct(rows))  # bit for bit
    encoder = TextEncoder(str(tiny_encoder_dir))
    queries = encoder.encode(QUERIES, truncate_left=True)
    for x, y in zip(a.search(queries, 5), b.search(queries, 5)):
        assert np.array_equal(x, y)
    # and the vectors are the encoder's, not merely equal to each other
    texts = [document_text(Retriever(single, encoder).store[i]) for i in range(8)]
    np.testing.assert_allclose(a.reconstruct(rows[:8]), encoder.encode(texts, batch_size=4), atol=1e-6)


@pytest.mark.parametrize("kind", ["exact", "ivfpq"])
def test_actors_retrieve_what_the_in_process_retriever_does(builds, tiny_encoder_dir, tmp_path, kind):
    single, _ = builds
    index_dir = single
    if kind != "exact":
        index_dir = build_index(single / PASSAGES_FILE, tmp_path / kind, str(tiny_encoder_dir),
                                index_type=kind, show_progress=False, knobs={"nprobe": 2})
    encoder = TextEncoder(str(tiny_encoder_dir))
    local = Retriever(index_dir, encoder)
    remote = RayRetriever(index_dir, encoder, n_actors=2)
    assert len(remote.actors) == 2 and remote.meta == local.meta
    queries = encoder.encode(QUERIES, truncate_left=True)
    for _ in range(2):  # both actors answer in turn
        (s1, r1), (s2, r2) = local.search_embeddings(queries, 6), remote.search_embeddings(queries, 6)
        assert np.array_equal(r1, r2) and np.array_equal(s1, s2)
        assert np.array_equal(local.index.reconstruct(r1), remote.index.reconstruct(r2))
        assert [local.store[int(r)] for r in r1.reshape(-1)] == [remote.store[int(r)] for r in r2.reshape(-1)]
    assert local.search(QUERIES[0], k=4) == remote.search(QUERIES[0], k=4)
    assert len(remote.store) == len(local.store) and remote.store[3] == local.store[3]  # not cached
    # a second retriever on the same index joins the same actors instead of loading again
    again = RayRetriever(index_dir, encoder, n_actors=2)
    assert [a._actor_id for a in again.actors] == [a._actor_id for a in remote.actors]
    for actor in remote.actors:
        ray.kill(actor)


def test_actors_refuse_a_mismatched_index(builds, tmp_path):
    import shutil

    single, _ = builds
    broken = tmp_path / "broken"
    shutil.copytree(single, broken)
    with open(broken / PASSAGES_FILE, "a") as f:
        f.write('{"id": "x", "title": "X", "text": "added later"}\n')
    with pytest.raises(ValueError, match="could not load .*broken.*passages_sha256"):
        RayRetriever(broken, TextEncoder(None, load_weights=False), n_actors=1)

