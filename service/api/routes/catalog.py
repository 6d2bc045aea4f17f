"""``GET /v1/catalog``: the default hardware catalog."""

from __future__ import annotations

from functools import lru_cache

from fastapi import APIRouter

from service.api.deps import TenantDep
from service.api.errors import problems
from service.api.schemas import CatalogOut
from solver.catalog import load_catalog

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get(
    "/catalog", summary="The default hardware catalog", response_model=CatalogOut, responses=problems(401)
)
async def catalog(tenant: TenantDep) -> CatalogOut:
    """Entries a request can start from with ``{"catalog": "<id>", ...overrides}``."""
    return _catalog()


@lru_cache(maxsize=1)
def _catalog() -> CatalogOut:
    return CatalogOut.model_validate({"hardware": load_catalog()})
