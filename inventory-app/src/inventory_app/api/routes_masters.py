"""Master data endpoints: categories, warehouses, partners, products (same shape for each).

(No `from __future__ import annotations` here: the endpoints are built in a factory and FastAPI
must see the real body types.)
"""

from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel
from starlette.responses import Response

from inventory_app.api.deps import (
    ADMINS,
    ALL_ROLES,
    MASTER_WRITERS,
    get_db,
    refuse_nul_params,
    require,
)
from inventory_app.api.http import (
    PROBLEM_RESPONSES,
    decode_cursor,
    expected_version,
    json_response,
    page_response,
    version_etag,
)
from inventory_app.db import Database
from inventory_app.models import Category, Partner, Product, Warehouse
from inventory_app.schemas import (
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    Page,
    PartnerIn,
    PartnerOut,
    PartnerPatch,
    ProductIn,
    ProductOut,
    ProductPatch,
    WarehouseIn,
    WarehouseOut,
    WarehousePatch,
)
from inventory_app.services import masters
from inventory_app.services.auth import Principal

router = APIRouter(prefix="/api", responses=PROBLEM_RESPONSES,
                   dependencies=[Depends(refuse_nul_params)])

IdPath = Annotated[int, Path(ge=1, le=2_147_483_647)]


def _register(
    collection: str,
    tag: str,
    model: Any,
    in_schema: type[BaseModel],
    patch_schema: type[BaseModel],
    out_schema: type[BaseModel],
    writers: tuple[str, ...],
    create: Any,
) -> None:
    def out(row: Any) -> Response:
        return json_response(out_schema.model_validate(row, from_attributes=True),
                             etag=version_etag(tag, row.id, row.version))

    def list_items(
        request: Request,
        cursor: str | None = Query(default=None, max_length=512),
        limit: int = Query(default=100, ge=1, le=500),
        q: str | None = Query(default=None, max_length=128),
        category_id: int | None = Query(default=None, ge=1, le=2_147_483_647),
        _p: Principal = Depends(require(*ALL_ROLES)),
        db: Database = Depends(get_db),
    ) -> Response:
        key = decode_cursor(cursor, 1)
        with db.read() as session:
            rows = masters.list_rows(session, model, after_id=key[0] if key else None,
                                     limit=limit, q=q, category_id=category_id)
            items = [out_schema.model_validate(r, from_attributes=True) for r in rows]
        return page_response(request, items, limit, lambda item: [item.id])

    def get_item(
        ident: IdPath,
        _p: Principal = Depends(require(*ALL_ROLES)),
        db: Database = Depends(get_db),
    ) -> Response:
        with db.read() as session:
            return out(masters.get(session, model, ident))

    def create_item(
        body: in_schema,  # type: ignore[valid-type]
        _p: Principal = Depends(require(*writers)),
        db: Database = Depends(get_db),
    ) -> Response:
        with db.write() as session:
            row = create(session, body)
            response = out(row)
        response.status_code = 201
        response.headers["Location"] = f"/api/{collection}/{row.id}"
        return response

    def patch_item(
        ident: IdPath,
        request: Request,
        body: patch_schema,  # type: ignore[valid-type]
        _p: Principal = Depends(require(*writers)),
        db: Database = Depends(get_db),
    ) -> Response:
        version = expected_version(request, tag, ident)
        with db.write() as session:
            row = masters.update_master(session, model, ident, version,
                                        cast(BaseModel, body).model_dump(exclude_unset=True))
            return out(row)

    def delete_item(
        ident: IdPath,
        request: Request,
        _p: Principal = Depends(require(*writers)),
        db: Database = Depends(get_db),
    ) -> Response:
        version = expected_version(request, tag, ident)
        with db.write() as session:
            masters.delete_master(session, model, ident, version)
        return Response(status_code=204, headers={"Cache-Control": "no-store"})

    name = collection.replace("-", "_")
    one: dict[int | str, dict[str, Any]] = {200: {"model": out_schema}}
    router.add_api_route(f"/{collection}", list_items, methods=["GET"], name=f"list_{name}",
                         tags=[collection], responses={200: {"model": Page[out_schema]}})  # type: ignore[valid-type]
    router.add_api_route(f"/{collection}", create_item, methods=["POST"], status_code=201,
                         name=f"create_{name}", tags=[collection],
                         responses={201: {"model": out_schema}})
    router.add_api_route(f"/{collection}/{{ident}}", get_item, methods=["GET"],
                         name=f"get_{name}", tags=[collection], responses=one)
    router.add_api_route(f"/{collection}/{{ident}}", patch_item, methods=["PATCH"],
                         name=f"patch_{name}", tags=[collection], responses=one)
    router.add_api_route(f"/{collection}/{{ident}}", delete_item, methods=["DELETE"],
                         status_code=204, name=f"delete_{name}", tags=[collection])


_register("categories", "category", Category, CategoryIn, CategoryPatch, CategoryOut,
          MASTER_WRITERS, lambda s, b: masters.create_category(s, b.name, b.parent_id))
_register("warehouses", "warehouse", Warehouse, WarehouseIn, WarehousePatch, WarehouseOut, ADMINS,
          lambda s, b: masters.create_warehouse(s, b.code, b.name, b.kind, b.active))
_register("partners", "partner", Partner, PartnerIn, PartnerPatch, PartnerOut, MASTER_WRITERS,
          lambda s, b: masters.create_partner(s, b.type, b.name, b.contact, b.phone))
_register("products", "product", Product, ProductIn, ProductPatch, ProductOut, MASTER_WRITERS,
          lambda s, b: masters.create_product(s, **b.model_dump()))

