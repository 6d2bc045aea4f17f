"""``GET /v1/catalog``: the packaged default catalog, as the library loads it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from solver.catalog import load_catalog
from tests.helpers import service as h


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with h.app_client(tmp_path_factory.mktemp("catalog"), workers=1) as c:
        yield c


class TestCatalog:
    def test_lists_every_entry_of_the_library_catalog(self, client: TestClient) -> None:
        r = client.get("/v1/catalog")
        assert r.status_code == 200
        entries = r.json()["hardware"]
        assert [e["id"] for e in entries] == [e["id"] for e in load_catalog()]
        for sent, packaged in zip(entries, load_catalog(), strict=True):
            assert {k: sent[k] for k in packaged} == packaged
            # the members an entry may leave out are sent as null (the schema requires them)
            assert {k: v for k, v in sent.items() if k not in packaged} == dict.fromkeys(
                set(sent) - set(packaged)
            )
            assert set(sent) - set(packaged) <= {"gpus_per_unit", "cerebras_throughput_derivation"}

    def test_catalog_entries_can_start_a_request(self, client: TestClient) -> None:
        entries = client.get("/v1/catalog").json()["hardware"]
        if not entries:
            pytest.skip("the packaged catalog is empty")
        entry = entries[0]
        model = sorted(entry["performance"])[0]
        speed = entry["performance"][model]["points"][0]["tokens_per_s_per_user"]
        req = h.small_request()
        req["hardware"] = [{"catalog": entry["id"]}]
        req["workloads"][0].update(model=model, min_tokens_per_s_per_user=speed)
        r = client.post("/v1/validate", json=req)
        assert r.status_code == 200, r.text
        [pair] = r.json()["throughput"]
        assert pair["hardware"] == entry["id"]
        assert pair["tokens_per_s_per_unit"] == pytest.approx(
            entry["performance"][model]["points"][0]["tokens_per_s_per_unit"]
        )
