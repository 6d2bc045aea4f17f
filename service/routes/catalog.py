"""``GET /v1/catalog``: the default hardware catalog."""

from __future__ import annotations

from fastapi import APIRouter

from service.deps import TenantDep
from service.errors import problems
from service.schemas import CatalogOut
from solver.catalog import load_catalog

router = APIRouter(prefix="/v1", tags=["catalog"])


@router.get(
    "/catalog", summary="The default hardware catalog", response_model=CatalogOut, responses=problems(401)
)
async def catalog(tenant: TenantDep) -> CatalogOut:
    """Entries a request can start from with ``{"catalog": "<id>", ...overrides}``."""
    return CatalogOut(hardware=[dict(e) for e in load_catalog()])
